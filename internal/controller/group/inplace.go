package group

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/revision"
)

// In-place updates (rolloutStrategy.podUpdatePolicy InPlaceIfPossible,
// and for every role the relabel a set's rollout makes, see
// inPlaceVerdict.relabel).
// Kubernetes lets the images of a running pod's containers change: the
// kubelet restarts the changed containers, and the pod keeps its node, IP,
// volumes and devices. A role's change qualifies when its pod template
// differs from the one its pods run in images alone: every workload
// records a fingerprint of the rest of its template, field by field
// (AnnotationTemplateFields), which names the fields that forced a
// replacement when a change does not qualify.
//
// A StatefulSet counts its pods as updated by their controller-revision-hash
// label, and with the OnDelete strategy never deletes a pod for being
// outdated. So an in-place update writes the new template with OnDelete,
// and once the StatefulSet controller has seen it, patches the outdated
// pods itself, each with the new images and the update revision's label,
// maxUnavailable instances at a time (an instance's pods together). The
// StatefulSet then reports them updated, creates any new pod from the new
// template, and, when every pod is, makes the update revision current;
// the operator puts RollingUpdate back. A pod is updated when the kubelet
// reports the new image in every container and the pod is Ready again
// (podImagesPending), never when the patch is sent. Each patched pod
// records the restarts the update causes (AnnotationExpectedRestarts), so
// the restart policies do not take them for crashes.

// ReasonInPlaceFallback is the reason of the event that tells a change a
// role would update in place replaces its pods, and why.
const ReasonInPlaceFallback = "InPlaceFallback"

// templateFields fingerprints pod template t field by field, images left
// out: the path of each field (a container's by the container's name) to
// a hash of its value.
func templateFields(t *corev1.PodTemplateSpec) map[string]string {
	out := map[string]string{}
	add := func(path string, v any) {
		h, _ := revision.Hash(v, 4)
		out[path] = h
	}
	// A set's revision label changes with every rollout of the set, and
	// a pod's labels can be patched: the in-place update carries it (see
	// podPatch).
	labels := maps.Clone(t.Labels)
	delete(labels, rbgsv1.LabelGroupRevision)
	add("metadata.labels", labels)
	add("metadata.annotations", t.Annotations)
	spec := t.Spec.DeepCopy()
	for _, list := range []struct {
		path       string
		containers []corev1.Container
	}{{"spec.initContainers", spec.InitContainers}, {"spec.containers", spec.Containers}} {
		names := make([]string, len(list.containers))
		for i := range list.containers {
			c := list.containers[i]
			names[i], c.Image = c.Name, ""
			for k, v := range jsonFields(c) {
				out[fmt.Sprintf("%s[%s].%s", list.path, c.Name, k)] = v
			}
		}
		add(list.path, names)
	}
	spec.InitContainers, spec.Containers = nil, nil
	for k, v := range jsonFields(spec) {
		out["spec."+k] = v
	}
	return out
}

// jsonFields hashes each field v has in JSON.
func jsonFields(v any) map[string]string {
	raw, _ := json.Marshal(v)
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields)
	out := make(map[string]string, len(fields))
	for k, f := range fields {
		h, _ := revision.Hash(f, 4)
		out[k] = h
	}
	return out
}

// encodeFields is the AnnotationTemplateFields of a fingerprint.
func encodeFields(f map[string]string) string {
	raw, _ := json.Marshal(f)
	return string(raw)
}

// decodeFields reads AnnotationTemplateFields; false when absent or not
// the operator's.
func decodeFields(s string) (map[string]string, bool) {
	var f map[string]string
	if s == "" || json.Unmarshal([]byte(s), &f) != nil {
		return nil, false
	}
	return f, true
}

// fieldsChanged lists, sorted, the paths whose values differ between two
// fingerprints.
func fieldsChanged(a, b map[string]string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if b[k] != a[k] {
			out = append(out, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b)) {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// templateImages are the images of the containers of t, by path.
func templateImages(t *corev1.PodTemplateSpec) map[string]string {
	out := map[string]string{}
	for _, c := range t.Spec.InitContainers {
		out["spec.initContainers["+c.Name+"]"] = c.Image
	}
	for _, c := range t.Spec.Containers {
		out["spec.containers["+c.Name+"]"] = c.Image
	}
	return out
}

// podImages are the images of the containers of p, by path (see
// templateImages).
func podImages(p *corev1.Pod) map[string]string {
	return templateImages(&corev1.PodTemplateSpec{Spec: p.Spec})
}

// instanceBehind are the pods of the StatefulSet s of an instance (pods)
// that do not ask for the images of its template, which an in-place
// update patches; a pod outdated by a change that left the images as they
// were (a new rendering of the operator's alone) keeps running as it is,
// as any instance does.
func instanceBehind(s *appsv1.StatefulSet, pods []corev1.Pod) []*corev1.Pod {
	return slices.DeleteFunc(outdatedPods(s, pods), func(p *corev1.Pod) bool { return !behindTemplate(p, &s.Spec.Template) })
}

// behindTemplate reports whether pod p does not ask for the images of
// template t, or lacks its set's revision label.
func behindTemplate(p *corev1.Pod, t *corev1.PodTemplateSpec) bool {
	return imagesChange(p, t) || p.Labels[rbgsv1.LabelGroupRevision] != revisionLabel(t)
}

// imagesChange reports whether pod p does not ask for the images of
// template t: bringing it to t restarts a container.
func imagesChange(p *corev1.Pod, t *corev1.PodTemplateSpec) bool {
	return !maps.Equal(podImages(p), templateImages(t))
}

// revisionLabel is the set's revision label of template t, "" when it has
// none (a group of no set).
func revisionLabel(t *corev1.PodTemplateSpec) string {
	return t.Labels[rbgsv1.LabelGroupRevision]
}

// instancePatching reports whether the in-place update of the StatefulSet
// s of an instance (pods) is under way: a pod does not ask for the images
// of its template yet, or does not run them yet.
func instancePatching(s *appsv1.StatefulSet, pods []corev1.Pod) bool {
	return slices.ContainsFunc(pods, func(p corev1.Pod) bool {
		return p.DeletionTimestamp == nil && (podImagesPending(&p) || behindTemplate(&p, &s.Spec.Template))
	})
}

// withFields records on workload w the fingerprint of its pod template.
func withFields(w *appsv1.StatefulSet) *appsv1.StatefulSet {
	w.Annotations[rbgsv1.AnnotationTemplateFields] = encodeFields(templateFields(&w.Spec.Template))
	return w
}

// inPlaceVerdict is whether a change of a workload's template reaches its
// pods in place, and when not, why.
type inPlaceVerdict struct {
	ok bool
	// relabel: the change is of the set's revision label alone (a set's
	// rollout that leaves the role as it was). Every role, whatever its
	// podUpdatePolicy, takes it in place: its pods are only relabelled,
	// all at once, as no container restarts and no pod stops serving.
	relabel bool
	// fallback says why a change the role would update in place replaces
	// the pods; "" when nothing falls back.
	fallback string
}

// forRole is v for role r: a role that updates in place takes it as it
// is; any other takes a relabel alone, and replaces its pods on any other
// change without saying why (that is what it asked for).
func (v inPlaceVerdict) forRole(r *rbgsv1.RoleSpec) inPlaceVerdict {
	if r.InPlace() || v.relabel {
		return v
	}
	return inPlaceVerdict{}
}

// judgeInPlace decides whether the change from live to desired, the
// workloads of a role that updates in place, qualifies: live records the
// fingerprint of its template, desired's differs from it in images
// alone, and live's pods run one template (steady: no replacement is
// under way that left pods of another). An unchanged template is no
// in-place update.
func judgeInPlace(live, desired *appsv1.StatefulSet, steady bool) inPlaceVerdict {
	if maps.Equal(templateImages(&live.Spec.Template), templateImages(&desired.Spec.Template)) &&
		live.Annotations[rbgsv1.AnnotationTemplateFields] == desired.Annotations[rbgsv1.AnnotationTemplateFields] &&
		revisionLabel(&live.Spec.Template) == revisionLabel(&desired.Spec.Template) {
		return inPlaceVerdict{}
	}
	was, ok := decodeFields(live.Annotations[rbgsv1.AnnotationTemplateFields])
	now, _ := decodeFields(desired.Annotations[rbgsv1.AnnotationTemplateFields])
	switch changed := fieldsChanged(was, now); {
	case !ok:
		return inPlaceVerdict{fallback: "its StatefulSet " + live.Name + " does not record the fields of its template (an older operator wrote it)"}
	case len(changed) > 0:
		return inPlaceVerdict{fallback: "the change is not only of images: " + listPaths(changed)}
	case !steady:
		return inPlaceVerdict{fallback: "a replacement of its pods is under way"}
	}
	return inPlaceVerdict{ok: true, relabel: maps.Equal(templateImages(&live.Spec.Template), templateImages(&desired.Spec.Template))}
}

// listPaths names at most three paths, and how many more.
func listPaths(paths []string) string {
	if len(paths) <= 3 {
		return strings.Join(paths, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(paths[:3], ", "), len(paths)-3)
}

// normalImage is image as a kubelet reports it, without the default
// registry and repository prefixes it may add.
func normalImage(image string) string {
	for _, prefix := range []string{"docker.io/library/", "docker.io/", "index.docker.io/library/", "index.docker.io/"} {
		if s, ok := strings.CutPrefix(image, prefix); ok {
			return s
		}
	}
	return image
}

// runsImage reports whether the container whose status is st runs image.
func runsImage(st *corev1.ContainerStatus, image string) bool {
	if normalImage(st.Image) == normalImage(image) {
		return true
	}
	// A pinned digest is reported in the image ID.
	_, digest, pinned := strings.Cut(image, "@")
	return pinned && strings.HasSuffix(st.ImageID, digest)
}

// podImagesPending reports whether a container of p (or a sidecar init
// container: those restart too) does not run the image its spec asks for
// yet, as the kubelet reports it: an in-place update is under way.
// Regular init containers have run to completion, and never restart for
// a new image.
func podImagesPending(p *corev1.Pod) bool {
	check := func(specs []corev1.Container, statuses []corev1.ContainerStatus, sidecarsOnly bool) bool {
		for _, c := range specs {
			if sidecarsOnly && !sidecar(c) {
				continue
			}
			i := slices.IndexFunc(statuses, func(s corev1.ContainerStatus) bool { return s.Name == c.Name })
			if i < 0 || !runsImage(&statuses[i], c.Image) {
				return true
			}
		}
		return false
	}
	return check(p.Spec.Containers, p.Status.ContainerStatuses, false) ||
		check(p.Spec.InitContainers, p.Status.InitContainerStatuses, true)
}

// servesPod reports whether p is Ready, not being deleted, and runs the
// images of its spec.
func servesPod(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && podReady(p) && !podImagesPending(p)
}

// expectedRestarts reads AnnotationExpectedRestarts of p: the restart
// count of each container an in-place update leaves it at.
func expectedRestarts(p *corev1.Pod) map[string]int32 {
	s := p.Annotations[rbgsv1.AnnotationExpectedRestarts]
	if s == "" {
		return nil
	}
	out := map[string]int32{}
	for kv := range strings.SplitSeq(s, ",") {
		name, n, _ := strings.Cut(kv, "=")
		if v, err := strconv.ParseInt(n, 10, 32); err == nil {
			out[name] = int32(v)
		}
	}
	return out
}

// podPatch is an in-place update of one pod: the images of template t,
// and the label of revision rev.
type podPatch struct {
	pod *corev1.Pod
	rev string
	t   *corev1.PodTemplateSpec
}

// body is the strategic merge patch of pp: the containers whose image
// changes, the revision labels, the restarts it causes (one per changed
// container that restarts, see expectedRestarts), and the pod's UID, so a
// pod replaced meanwhile is not patched.
func (pp podPatch) body() []byte {
	p := pp.pod
	restarts := expectedRestarts(p)
	if restarts == nil {
		restarts = map[string]int32{}
	}
	spec := map[string]any{}
	if cs := changedImages(pp.t.Spec.Containers, p.Spec.Containers, p.Status.ContainerStatuses, restarts, nil); len(cs) > 0 {
		spec["containers"] = cs
	}
	if cs := changedImages(pp.t.Spec.InitContainers, p.Spec.InitContainers, p.Status.InitContainerStatuses, restarts, sidecar); len(cs) > 0 {
		spec["initContainers"] = cs
	}
	var counts []string
	for _, name := range slices.Sorted(maps.Keys(restarts)) {
		counts = append(counts, fmt.Sprintf("%s=%d", name, restarts[name]))
	}
	labels := map[string]string{appsv1.ControllerRevisionHashLabelKey: pp.rev}
	if rev := revisionLabel(pp.t); rev != "" {
		labels[rbgsv1.LabelGroupRevision] = rev
	}
	meta := map[string]any{"uid": p.UID, "labels": labels}
	if len(counts) > 0 {
		meta["annotations"] = map[string]string{rbgsv1.AnnotationExpectedRestarts: strings.Join(counts, ",")}
	}
	patch := map[string]any{"metadata": meta}
	if len(spec) > 0 {
		patch["spec"] = spec
	}
	raw, _ := json.Marshal(patch)
	return raw
}

// imagePatch is a container of a pod patch: its name and new image.
type imagePatch struct {
	Name  string `json:"name"`
	Image string `json:"image"`
}

// changedImages are the containers of specs whose image differs from the
// live container of their name, and counts in restarts, for each such
// container that restarts (every one when restartsFor is nil, else those
// it accepts), one restart more than it had (statuses).
func changedImages(specs, live []corev1.Container, statuses []corev1.ContainerStatus, restarts map[string]int32,
	restartsFor func(corev1.Container) bool) []imagePatch {
	var out []imagePatch
	for _, c := range specs {
		i := slices.IndexFunc(live, func(l corev1.Container) bool { return l.Name == c.Name })
		if i < 0 || live[i].Image == c.Image {
			continue
		}
		out = append(out, imagePatch{c.Name, c.Image})
		if restartsFor != nil && !restartsFor(live[i]) {
			continue
		}
		n := int32(0)
		if j := slices.IndexFunc(statuses, func(s corev1.ContainerStatus) bool { return s.Name == c.Name }); j >= 0 {
			n = statuses[j].RestartCount
		}
		restarts[c.Name] = max(restarts[c.Name], n) + 1
	}
	return out
}

// sidecar reports whether init container c is a sidecar (restartPolicy
// Always): it runs beside the containers, and restarts for a new image.
func sidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// inPlaceRunning reports whether StatefulSet s, of a role of size 1, is
// in an in-place update: OnDelete, which the operator writes on such a
// StatefulSet only then.
func inPlaceRunning(s *appsv1.StatefulSet) bool {
	return s != nil && s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType
}

// inPlaceDone reports whether the in-place update of StatefulSet s, whose
// pods are pods, is over: the StatefulSet controller has seen its spec
// and counts every pod at its update revision, and every pod runs its
// images.
func inPlaceDone(s *appsv1.StatefulSet, pods []corev1.Pod) bool {
	st := s.Status
	if st.ObservedGeneration < s.Generation || st.UpdateRevision == "" || st.CurrentRevision != st.UpdateRevision {
		return false
	}
	return !slices.ContainsFunc(pods, func(p corev1.Pod) bool {
		return p.DeletionTimestamp == nil && (p.Labels[appsv1.ControllerRevisionHashLabelKey] != st.UpdateRevision || podImagesPending(&p))
	})
}

// outdatedPods are the pods of s (pods) the StatefulSet controller has
// seen at another revision than its update revision, none while it has
// not seen its spec.
func outdatedPods(s *appsv1.StatefulSet, pods []corev1.Pod) []*corev1.Pod {
	st := s.Status
	if st.ObservedGeneration < s.Generation || st.UpdateRevision == "" {
		return nil
	}
	var out []*corev1.Pod
	for i := range pods {
		if p := &pods[i]; p.DeletionTimestamp == nil && p.Labels[appsv1.ControllerRevisionHashLabelKey] != st.UpdateRevision {
			out = append(out, p)
		}
	}
	return out
}

// inPlacePods plans the in-place update of the pods of StatefulSet s of a
// role of size 1 (pods): the outdated pods at ordinals from partition
// up, highest first, as many as maxUnavailable leaves: a pod not Ready,
// or restarting for its new image, is unavailable, and so is one of the
// want the StatefulSet does not run.
func inPlacePods(s *appsv1.StatefulSet, pods []corev1.Pod, want, maxUnavailable, partition int32) []podPatch {
	outdated := outdatedPods(s, pods)
	if len(outdated) == 0 {
		return nil
	}
	serving := int32(0)
	for i := range pods {
		if servesPod(&pods[i]) {
			serving++
		}
	}
	budget := max(maxUnavailable-(want-serving), 0)
	slices.SortFunc(outdated, func(a, b *corev1.Pod) int { return ordinalOf(b) - ordinalOf(a) })
	var out []podPatch
	for _, p := range outdated {
		if ordinalOf(p) < int(partition) {
			continue
		}
		// A pod only relabelled keeps serving.
		if servesPod(p) && imagesChange(p, &s.Spec.Template) {
			if budget == 0 {
				continue
			}
			budget--
		}
		out = append(out, podPatch{pod: p, rev: s.Status.UpdateRevision, t: &s.Spec.Template})
	}
	return out
}

// ordinalOf is the StatefulSet ordinal of p, -1 when it has none.
func ordinalOf(p *corev1.Pod) int {
	k, ok, err := labelIndex(p, appsv1.PodIndexLabel)
	if !ok || err != nil {
		return -1
	}
	return int(k)
}

// roleInPlace judges whether role r of g, of size 1, rendered from inputs
// (templateInputs), whose StatefulSet live (nil when absent) runs pods, is
// updated in place: either its template changed in a way the role takes
// in place (see judgeInPlace and forRole) from a StatefulSet whose pods
// run one revision, or an in-place update of the unchanged template is
// not over yet (a relabel when no pod asks for other images than the
// template's).
func roleInPlace(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, inputs string, live *appsv1.StatefulSet, pods []corev1.Pod) inPlaceVerdict {
	if live == nil {
		return inPlaceVerdict{}
	}
	if live.Annotations[rbgsv1.AnnotationTemplateInputs] == inputs {
		if !inPlaceRunning(live) || inPlaceDone(live, pods) {
			return inPlaceVerdict{}
		}
		return inPlaceVerdict{ok: true, relabel: !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return imagesChange(&p, &live.Spec.Template) })}
	}
	steady := inPlaceRunning(live) ||
		(live.Status.ObservedGeneration >= live.Generation && live.Status.CurrentRevision == live.Status.UpdateRevision)
	return judgeInPlace(live, desiredStatefulSet(g, r), steady).forRole(r)
}
