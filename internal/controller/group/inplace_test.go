package group

import (
	stdcmp "cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// inPlaceGroup is a group of one role of 2 pods that updates in place,
// with a sidecar init container and a regular one.
func inPlaceGroup() *rbgsv1.RoleBasedGroup {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 2).Obj()
	r := &g.Spec.Roles[0]
	r.RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
	r.Template.Spec.InitContainers = []corev1.Container{
		{Name: "fetch", Image: "fetch:v1"},
		{Name: "proxy", Image: "proxy:v1", RestartPolicy: new(corev1.ContainerRestartPolicyAlways)},
	}
	return g
}

// Which template changes reach the pods in place: images of containers
// and init containers alone, from a StatefulSet that records its fields
// and whose pods run one revision.
func TestJudgeInPlace(t *testing.T) {
	cases := []struct {
		name     string
		change   func(r *rbgsv1.RoleSpec)
		live     func(s *appsv1.StatefulSet)
		unsteady bool
		ok       bool
		// fallback is part of the reason a change falls back; "" when none
		// does.
		fallback string
	}{
		{name: "nothing changed", change: func(*rbgsv1.RoleSpec) {}},
		{name: "a container image", ok: true,
			change: func(r *rbgsv1.RoleSpec) { r.Template.Spec.Containers[0].Image = "llm:v2" }},
		{name: "an init container image", ok: true,
			change: func(r *rbgsv1.RoleSpec) { r.Template.Spec.InitContainers[0].Image = "fetch:v2" }},
		{name: "a sidecar image and a container image", ok: true,
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.InitContainers[1].Image = "proxy:v2"
				r.Template.Spec.Containers[0].Image = "llm:v2"
			}},
		{name: "an image and an env variable", fallback: "not only of images: spec.containers[main].env",
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.Containers[0].Image = "llm:v2"
				r.Template.Spec.Containers[0].Env = append(r.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "MODEL", Value: "x"})
			}},
		{name: "an env variable of an init container", fallback: "spec.initContainers[fetch].env",
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.InitContainers[0].Env = []corev1.EnvVar{{Name: "A", Value: "b"}}
			}},
		{name: "resources", fallback: "spec.containers[main].resources",
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
			}},
		{name: "a label of the template", fallback: "metadata.labels",
			change: func(r *rbgsv1.RoleSpec) { r.Template.Labels = map[string]string{"tier": "gold"} }},
		{name: "a volume", fallback: "spec.volumes",
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.Volumes = append(r.Template.Spec.Volumes, corev1.Volume{Name: "models"})
			}},
		{name: "a container added", fallback: "spec.containers",
			change: func(r *rbgsv1.RoleSpec) {
				r.Template.Spec.Containers = append(r.Template.Spec.Containers, corev1.Container{Name: "log", Image: "log:v1"})
			}},
		{name: "containers reordered", fallback: "spec.initContainers",
			change: func(r *rbgsv1.RoleSpec) { slices.Reverse(r.Template.Spec.InitContainers) }},
		{name: "a change back to the images the pods run", ok: true,
			live: func(s *appsv1.StatefulSet) {
				// The StatefulSet was written at v2 and its pods patched
				// back; the spec asks for v1 again.
				s.Spec.Template.Spec.Containers[0].Image = "llm:v2"
			},
			change: func(*rbgsv1.RoleSpec) {}},
		{name: "an image change while a replacement is under way", unsteady: true, fallback: "a replacement of its pods is under way",
			change: func(r *rbgsv1.RoleSpec) { r.Template.Spec.Containers[0].Image = "llm:v2" }},
		{name: "a StatefulSet an older operator wrote", fallback: "does not record the fields of its template",
			live:   func(s *appsv1.StatefulSet) { delete(s.Annotations, rbgsv1.AnnotationTemplateFields) },
			change: func(r *rbgsv1.RoleSpec) { r.Template.Spec.Containers[0].Image = "llm:v2" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := inPlaceGroup()
			g.Spec.Roles[0].Template.Spec.Containers[0].Image = "llm:v1"
			live := desiredStatefulSet(g, &g.Spec.Roles[0])
			if tc.live != nil {
				tc.live(live)
			}
			tc.change(&g.Spec.Roles[0])
			v := judgeInPlace(live, desiredStatefulSet(g, &g.Spec.Roles[0]), !tc.unsteady)
			if v.ok != tc.ok || (tc.fallback == "") != (v.fallback == "") || !strings.Contains(v.fallback, tc.fallback) {
				t.Errorf("got ok %v, fallback %q; want ok %v, fallback with %q", v.ok, v.fallback, tc.ok, tc.fallback)
			}
		})
	}
}

// A set's rollout changes the revision label of every role's template: a
// change of it alone, or with images, is made in place; with anything
// else it falls back.
func TestJudgeInPlaceOfASetsRevision(t *testing.T) {
	g := inPlaceGroup()
	g.Labels = map[string]string{rbgsv1.LabelSetName: "set", rbgsv1.LabelGroupRevision: "set-r1"}
	live := desiredStatefulSet(g, &g.Spec.Roles[0])
	g.Labels[rbgsv1.LabelGroupRevision] = "set-r2"
	if v := judgeInPlace(live, desiredStatefulSet(g, &g.Spec.Roles[0]), true); !v.ok {
		t.Errorf("the set's revision alone: %+v, want in place", v)
	}
	g.Spec.Roles[0].Template.Spec.Containers[0].Image = "llm:v9"
	if v := judgeInPlace(live, desiredStatefulSet(g, &g.Spec.Roles[0]), true); !v.ok {
		t.Errorf("the set's revision and an image: %+v, want in place", v)
	}
	g.Spec.Roles[0].Template.Labels = map[string]string{"tier": "gold"}
	if v := judgeInPlace(live, desiredStatefulSet(g, &g.Spec.Roles[0]), true); v.ok || !strings.Contains(v.fallback, "metadata.labels") {
		t.Errorf("the set's revision and another label: %+v, want a fallback naming metadata.labels", v)
	}
}

// A fallback names a few fields and counts the rest.
func TestListPaths(t *testing.T) {
	if got := listPaths([]string{"a", "b", "c", "d", "e"}); got != "a, b, c and 2 more" {
		t.Errorf("got %q", got)
	}
	if got := listPaths([]string{"a"}); got != "a" {
		t.Errorf("got %q", got)
	}
}

// ipPod is pod ordinal i of the StatefulSet of inPlaceGroup at revision
// rev, with the images of t, Ready and running them when ready.
func ipPod(i int, rev string, t *corev1.PodTemplateSpec, ready bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: fmt.Sprintf("g-decode-%d", i), UID: types.UID(fmt.Sprintf("uid-%d", i)),
		Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: rev, appsv1.PodIndexLabel: fmt.Sprint(i)},
	}, Spec: *t.Spec.DeepCopy()}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	if ready {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: "docker.io/library/" + c.Image, Ready: ready})
	}
	for _, c := range p.Spec.InitContainers {
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image})
	}
	return p
}

// The pods of a role of size 1 are patched maxUnavailable at a time,
// highest ordinal first, a pod restarting for its image counting as
// unavailable; the in-place update is over when every pod reports the
// new images at the update revision.
func TestInPlacePods(t *testing.T) {
	g := inPlaceGroup()
	old := desiredStatefulSet(g, &g.Spec.Roles[0]).Spec.Template
	g.Spec.Roles[0].Template.Spec.Containers[0].Image = "llm:v2"
	s := desiredStatefulSet(g, &g.Spec.Roles[0])
	s.Generation = 2
	s.Status = appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, CurrentRevision: "r1", UpdateRevision: "r2"}
	pods := []corev1.Pod{ipPod(0, "r1", &old, true), ipPod(1, "r1", &old, true), ipPod(2, "r1", &old, true)}
	names := func(ps []podPatch) (out []string) {
		for _, p := range ps {
			out = append(out, p.pod.Name)
		}
		return out
	}
	if got := names(inPlacePods(s, pods, 3, 1, 0)); !cmp.Equal(got, []string{"g-decode-2"}) {
		t.Errorf("first batch %v, want the highest ordinal", got)
	}
	if got := names(inPlacePods(s, pods, 3, 2, 0)); !cmp.Equal(got, []string{"g-decode-2", "g-decode-1"}) {
		t.Errorf("maxUnavailable 2: %v", got)
	}
	if got := names(inPlacePods(s, pods, 3, 1, 2)); !cmp.Equal(got, []string{"g-decode-2"}) {
		t.Errorf("partition 2: %v", got)
	}
	// Pod 2 patched, restarting for its image: Ready but not running it.
	pods[2] = ipPod(2, "r2", &s.Spec.Template, true)
	pods[2].Status.ContainerStatuses[0].Image = "llm:v1"
	if got := inPlacePods(s, pods, 3, 1, 0); len(got) != 0 || inPlaceDone(s, pods) {
		t.Errorf("patched %v while a pod restarts for its image; done %v", names(got), inPlaceDone(s, pods))
	}
	// A pod not Ready costs nothing to patch.
	pods[0] = ipPod(0, "r1", &old, false)
	if got := names(inPlacePods(s, pods, 3, 1, 0)); !cmp.Equal(got, []string{"g-decode-0"}) {
		t.Errorf("with pod 2 restarting, an unready outdated pod: %v", got)
	}
	// Pod 2 runs v2 (reported with the default registry): the next goes.
	pods[2] = ipPod(2, "r2", &s.Spec.Template, true)
	pods[0] = ipPod(0, "r1", &old, true)
	if got := names(inPlacePods(s, pods, 3, 1, 0)); !cmp.Equal(got, []string{"g-decode-1"}) {
		t.Errorf("pod 2 done: %v", got)
	}
	// Every pod at r2, running v2; done once the controller makes r2 current.
	for i := range pods {
		pods[i] = ipPod(i, "r2", &s.Spec.Template, true)
	}
	if inPlaceDone(s, pods) {
		t.Error("done before the StatefulSet controller made the update revision current")
	}
	s.Status.CurrentRevision = "r2"
	if !inPlaceDone(s, pods) || len(inPlacePods(s, pods, 3, 1, 0)) != 0 {
		t.Error("not done with every pod at the update revision, running its images")
	}
	// Nothing is patched before the controller has seen the new template.
	s.Status = appsv1.StatefulSetStatus{ObservedGeneration: 1, CurrentRevision: "r1", UpdateRevision: "r1"}
	pods[0].Labels[appsv1.ControllerRevisionHashLabelKey] = "r1"
	if got := inPlacePods(s, pods, 3, 1, 0); len(got) != 0 {
		t.Errorf("patched %v before the StatefulSet controller saw the template", names(got))
	}
}

// The patch of a pod carries its UID, the update revision's label, the
// changed images (a regular init container's too: the pod's spec must
// match its template) and the restarts it causes: one per changed
// container or sidecar, none for a regular init container, which has run.
func TestPodPatchBody(t *testing.T) {
	g := inPlaceGroup()
	old := desiredStatefulSet(g, &g.Spec.Roles[0]).Spec.Template
	p := ipPod(0, "r1", &old, true)
	p.Status.ContainerStatuses[0].RestartCount = 3
	p.Annotations = map[string]string{rbgsv1.AnnotationExpectedRestarts: "main=3,proxy=1"}
	for i := range g.Spec.Roles[0].Template.Spec.InitContainers {
		g.Spec.Roles[0].Template.Spec.InitContainers[i].Image += "-new"
	}
	g.Spec.Roles[0].Template.Spec.Containers[0].Image = "llm:v2"
	t2 := desiredStatefulSet(g, &g.Spec.Roles[0]).Spec.Template
	var got map[string]any
	if err := json.Unmarshal(podPatch{pod: &p, rev: "r2", t: &t2}.body(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"metadata": map[string]any{
			"uid":         "uid-0",
			"labels":      map[string]any{appsv1.ControllerRevisionHashLabelKey: "r2"},
			"annotations": map[string]any{rbgsv1.AnnotationExpectedRestarts: "main=4,proxy=2"},
		},
		"spec": map[string]any{
			"containers":     []any{map[string]any{"name": "main", "image": "llm:v2"}},
			"initContainers": []any{map[string]any{"name": "fetch", "image": "fetch:v1-new"}, map[string]any{"name": "proxy", "image": "proxy:v1-new"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	// In a set, the set's revision label goes with the update.
	g.Labels = map[string]string{rbgsv1.LabelSetName: "set", rbgsv1.LabelGroupRevision: "set-r2"}
	t3 := desiredStatefulSet(g, &g.Spec.Roles[0]).Spec.Template
	if err := json.Unmarshal(podPatch{pod: &p, rev: "r3", t: &t3}.body(), &got); err != nil {
		t.Fatal(err)
	}
	if labels := got["metadata"].(map[string]any)["labels"]; !cmp.Equal(labels, map[string]any{
		appsv1.ControllerRevisionHashLabelKey: "r3", rbgsv1.LabelGroupRevision: "set-r2"}) {
		t.Errorf("labels patched %v, want the update revision and the set's revision", labels)
	}
	// The restarts it causes are no failure, one more is.
	p.Status.ContainerStatuses[0].RestartCount = 4
	p.Annotations[rbgsv1.AnnotationExpectedRestarts] = "main=4,proxy=2"
	if why := podFailure(&p); why != "" {
		t.Errorf("an expected restart taken for a failure: %s", why)
	}
	p.Status.ContainerStatuses[0].RestartCount = 5
	if why := podFailure(&p); why == "" {
		t.Error("a restart beyond the expected ones is no failure")
	}
}

// Images are compared as the kubelet reports them: the default registry
// added, or pinned by digest.
func TestRunsImage(t *testing.T) {
	cases := []struct {
		status corev1.ContainerStatus
		image  string
		want   bool
	}{
		{corev1.ContainerStatus{Image: "docker.io/library/nginx:1.27"}, "nginx:1.27", true},
		{corev1.ContainerStatus{Image: "docker.io/org/app:1"}, "org/app:1", true},
		{corev1.ContainerStatus{Image: "registry.example.com/app:1"}, "registry.example.com/app:1", true},
		{corev1.ContainerStatus{Image: "registry.example.com/app:1"}, "registry.example.com/app:2", false},
		{corev1.ContainerStatus{Image: "app:1", ImageID: "app@sha256:abc"}, "app@sha256:abc", true},
		{corev1.ContainerStatus{Image: "app:1", ImageID: "app@sha256:abc"}, "app@sha256:def", false},
	}
	for _, tc := range cases {
		if got := runsImage(&tc.status, tc.image); got != tc.want {
			t.Errorf("runsImage(%+v, %q) = %v, want %v", tc.status, tc.image, got, tc.want)
		}
	}
}

// An outdated instance that qualifies is updated in place when its turn
// comes, within the same budget; one being updated keeps its step.
func TestPlanInstancesInPlace(t *testing.T) {
	inPlace := func(s *instanceState) { s.current, s.inPlace = false, inPlaceVerdict{ok: true} }
	patching := func(s *instanceState) { s.patching, s.ready, s.readyPods = true, false, 2 }
	three := []instanceState{inst(0, inPlace), inst(1, inPlace), inst(2, inPlace)}
	if got := planInstances(three, 3, 1, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceInPlace}) {
		t.Errorf("first turn: %v", got)
	}
	three[2] = inst(2, patching)
	if got := planInstances(three, 3, 1, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceInPlace}) {
		t.Errorf("instance 2 restarting: %v", got)
	}
	three[2] = inst(2)
	if got := planInstances(three, 3, 1, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceInPlace, instanceApply}) {
		t.Errorf("instance 2 done: %v", got)
	}
	// An instance whose change does not qualify is replaced.
	three[1] = inst(1, outdated)
	if got := planInstances(three, 3, 1, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceEmpty, instanceApply}) {
		t.Errorf("a fallback: %v", got)
	}
}

// unservedBy counts, among the pods of role in the sim, the instances with
// a pod not Ready (a pod of size 1 is an instance).
func unservedBy(s *sim, role string) int {
	down := map[string]bool{}
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		if p.Labels[rbgsv1.LabelRole] != role {
			continue
		}
		key := p.Name
		if in, ok := p.Labels[rbgsv1.LabelInstance]; ok {
			key = in
		}
		down[key] = down[key] || !podReady(p) || p.DeletionTimestamp != nil
	}
	n := 0
	for _, d := range down {
		if d {
			n++
		}
	}
	return n
}

// podUIDs are the UIDs of the pods of the sim, by name.
func podUIDs(s *sim) map[string]types.UID {
	out := map[string]types.UID{}
	for _, p := range s.ch.pods {
		out[p.Name] = p.UID
	}
	return out
}

// Step by step against a StatefulSet controller and a kubelet played by
// the sim: an image edit reaches every pod in place, maxUnavailable
// instances at a time, with the edits users make with it: replicas in the
// same edit, and another image while the first is under way; an image
// edit with an env edit replaces the pods and says why.
func TestStepsInPlace(t *testing.T) {
	image := func(v string) func(g *rbgsv1.RoleBasedGroup) {
		return func(g *rbgsv1.RoleBasedGroup) {
			for i := range g.Spec.Roles {
				g.Spec.Roles[i].Template.Spec.Containers[0].Image = v
			}
		}
	}
	for _, tc := range []struct {
		name  string
		edits []func(g *rbgsv1.RoleBasedGroup)
		// between is the steps run between edits.
		between int
		// image is what every pod runs in the end.
		image    string
		replaced bool
		pods     int
		// revision is the set's revision every pod is labelled with in
		// the end ("set-r1" unless an edit changes it).
		revision string
	}{
		{name: "an image edit", edits: []func(*rbgsv1.RoleBasedGroup){image("v2")}, image: "v2", pods: 3 + 3*2},
		{name: "an image edit and a scale-up in one", image: "v2", pods: 4 + 4*2,
			edits: []func(*rbgsv1.RoleBasedGroup){func(g *rbgsv1.RoleBasedGroup) {
				image("v2")(g)
				for i := range g.Spec.Roles {
					g.Spec.Roles[i].Replicas = new(int32(4))
				}
			}}},
		{name: "another image during the update", edits: []func(*rbgsv1.RoleBasedGroup){image("v2"), image("v3")}, between: 3,
			image: "v3", pods: 3 + 3*2},
		{name: "a set's rollout: an image and the set's revision", image: "v2", revision: "set-r2", pods: 3 + 3*2,
			edits: []func(*rbgsv1.RoleBasedGroup){func(g *rbgsv1.RoleBasedGroup) {
				image("v2")(g)
				g.Labels[rbgsv1.LabelGroupRevision] = "set-r2"
			}}},
		{name: "a set's rollout that leaves the role's template as it was", image: "v1", revision: "set-r2", pods: 3 + 3*2,
			edits: []func(*rbgsv1.RoleBasedGroup){func(g *rbgsv1.RoleBasedGroup) { g.Labels[rbgsv1.LabelGroupRevision] = "set-r2" }}},
		{name: "an image and an env edit", replaced: true, image: "v2", pods: 3 + 3*2,
			edits: []func(*rbgsv1.RoleBasedGroup){func(g *rbgsv1.RoleBasedGroup) {
				image("v2")(g)
				for i := range g.Spec.Roles {
					g.Spec.Roles[i].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODEL", Value: "x"}}
				}
			}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := wrappers.MakeGroup("g", "ns").Role("decode", 3).Role("worker", 3).Size(2).Obj()
			for i := range g.Spec.Roles {
				g.Spec.Roles[i].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
				g.Spec.Roles[i].Template.Spec.Containers[0].Image = "v1"
			}
			// A group of a set, at the set's first revision.
			g.Labels = map[string]string{rbgsv1.LabelSetName: "set", rbgsv1.LabelGroupRevision: "set-r1"}
			s := newSim(t, g)
			s.rolling = true
			running(t, s)
			before := podUIDs(s)
			worst := map[string]int{}
			check := func(int) {
				for _, role := range []string{"decode", "worker"} {
					worst[role] = max(worst[role], unservedBy(s, role))
				}
				if tc.replaced {
					return
				}
				for name, uid := range podUIDs(s) {
					if was, ok := before[name]; ok && was != uid {
						t.Fatalf("pod %s replaced", name)
					}
				}
			}
			var fallbacks map[string]string
			for i, edit := range tc.edits {
				s.edit(edit)
				if i == len(tc.edits)-1 {
					break
				}
				for range tc.between {
					s.step()
					s.settle()
					check(0)
				}
			}
			fallbacks = s.step().fallbacks
			s.settle()
			check(0)
			s.run(60, check)
			for role, n := range worst {
				if n > 1 {
					t.Errorf("role %s: %d instances down at once, want at most maxUnavailable 1", role, n)
				}
			}
			if len(s.ch.pods) != tc.pods {
				t.Errorf("%d pods, want %d", len(s.ch.pods), tc.pods)
			}
			for _, p := range s.ch.pods {
				if p.Spec.Containers[0].Image != tc.image || p.Status.ContainerStatuses[0].Image != tc.image {
					t.Errorf("pod %s asks for %s, runs %s; want %s", p.Name, p.Spec.Containers[0].Image, p.Status.ContainerStatuses[0].Image, tc.image)
				}
				if _, was := before[p.Name]; was && !tc.replaced && tc.image != "v1" && p.Status.ContainerStatuses[0].RestartCount == 0 {
					t.Errorf("pod %s never restarted its container", p.Name)
				}
				if want := stdcmp.Or(tc.revision, "set-r1"); p.Labels[rbgsv1.LabelGroupRevision] != want {
					t.Errorf("pod %s labelled with the set's revision %q, want %q", p.Name, p.Labels[rbgsv1.LabelGroupRevision], want)
				}
				if tc.image == "v1" && p.Status.ContainerStatuses[0].RestartCount != 0 {
					t.Errorf("pod %s restarted for a change of its labels alone", p.Name)
				}
			}
			// Instances always run OnDelete (they are replaced whole).
			if sts := s.ch.statefulSets["g-decode"]; sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
				t.Error("the decode StatefulSet left OnDelete after the update")
			}
			for name, sts := range s.ch.statefulSets {
				if name == "g-decode" && sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
					t.Errorf("StatefulSet %s left OnDelete after the update", name)
				}
			}
			if s.g.Status.Restarts != 0 {
				t.Errorf("the restarts for the new image recreated pods: %+v", s.g.Status.LastRestart)
			}
			if tc.replaced != (len(fallbacks) == 2) {
				t.Errorf("fallbacks %v", fallbacks)
			}
			if tc.replaced && !strings.Contains(fallbacks["worker"], "spec.containers[main].env") {
				t.Errorf("worker fallback %q does not name the field", fallbacks["worker"])
			}
		})
	}
}

// A set's rollout that changes one role (decode's image) changes every
// role's template by the set's revision label alone: the other role
// (prefill, of either size, with the default podUpdatePolicy) is only
// relabelled, every pod at once and none of them restarted or stopped,
// whatever the group's updatePolicy and coordination, and with a scale of
// prefill in the same edit, while decode's pods are replaced (under
// Recreate, once every prefill pod is relabelled).
func TestStepsRelabelOnly(t *testing.T) {
	for _, size := range []int32{1, 2} {
		for _, tc := range []struct {
			policy string
			// scale: the same edit scales prefill from 4 to 5.
			scale bool
		}{{"RollingUpdate", false}, {"Recreate", false}, {"coordinated", false}, {"RollingUpdate", true}, {"Recreate", true}} {
			policy, want := tc.policy, int32(4)
			if tc.scale {
				want = 5
			}
			t.Run(fmt.Sprintf("size %d, %s, prefill to %d", size, policy, want), func(t *testing.T) {
				w := wrappers.MakeGroup("g", "ns").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupRevision, "r1").
					Role("prefill", 4)
				if size > 1 {
					w = w.Size(size)
				}
				s := newSim(t, w.Role("decode", 2).Obj())
				switch policy {
				case "Recreate":
					s.g.Spec.UpdatePolicy = rbgsv1.UpdateRecreate
				case "coordinated":
					s.g.Spec.Coordination = &rbgsv1.Coordination{MaxSkew: intstr.FromString("25%")}
				}
				s.graceful, s.rolling = true, true
				running(t, s)
				prefill := map[string]types.UID{}
				for _, p := range s.ch.pods {
					if p.Labels[rbgsv1.LabelRole] == "prefill" {
						prefill[p.Name] = p.UID
					}
				}
				s.edit(func(g *rbgsv1.RoleBasedGroup) {
					g.Labels[rbgsv1.LabelGroupRevision] = "r2"
					g.Spec.Roles[1].Template.Spec.Containers[0].Image = "v2"
					g.Spec.Roles[0].Replicas = &want
				})
				relabelled := -1
				s.run(60, func(i int) {
					if n := unservedBy(s, "prefill"); n > 0 {
						t.Fatalf("step %d: %d prefill instances not serving", i, n)
					}
					left := 0
					for _, p := range s.ch.pods {
						if p.Labels[rbgsv1.LabelRole] == "prefill" && p.Labels[rbgsv1.LabelGroupRevision] != "r2" {
							left++
						}
					}
					if left == 0 && relabelled < 0 {
						relabelled = i
					}
					if policy != "Recreate" {
						return
					}
					// No moment has live pods of two templates: decode
					// starts again at r2 only once no pod is left at r1.
					// (A prefill pod the scale-up adds comes at r2 from
					// the start, next to prefill pods of the same template
					// whose relabel is under way.)
					old, decode := false, false
					for _, p := range s.ch.pods {
						if p.DeletionTimestamp == nil {
							old = old || p.Labels[rbgsv1.LabelGroupRevision] == "r1"
							decode = decode || (p.Labels[rbgsv1.LabelRole] == "decode" && p.Labels[rbgsv1.LabelGroupRevision] == "r2")
						}
					}
					if old && decode {
						t.Fatalf("step %d: decode pods at r2 while pods at r1 live", i)
					}
				})
				// Written at the first step, seen by the StatefulSet
				// controller at its settle, patched at the second.
				if relabelled != 1 {
					t.Errorf("every prefill pod relabelled after %d steps, want 1: all at once", relabelled)
				}
				for _, p := range s.ch.pods {
					switch p.Labels[rbgsv1.LabelRole] {
					case "prefill":
						if was, ok := prefill[p.Name]; (ok && was != p.UID) || p.Status.ContainerStatuses[0].RestartCount != 0 {
							t.Errorf("prefill pod %s replaced or restarted (restarts %d)", p.Name, p.Status.ContainerStatuses[0].RestartCount)
						}
						if _, ok := p.Annotations[rbgsv1.AnnotationExpectedRestarts]; ok {
							t.Errorf("prefill pod %s relabelled with expected restarts", p.Name)
						}
					case "decode":
						if p.Spec.Containers[0].Image != "v2" || p.Labels[rbgsv1.LabelGroupRevision] != "r2" || p.Status.ContainerStatuses[0].RestartCount != 0 {
							t.Errorf("decode pod %s: %s, revision %s, restarts %d; want replaced at v2, r2",
								p.Name, p.Spec.Containers[0].Image, p.Labels[rbgsv1.LabelGroupRevision], p.Status.ContainerStatuses[0].RestartCount)
						}
					}
				}
				if len(prefill) != int(4*size) || s.readyPods("prefill", "*") != int(want*size) || s.readyPods("decode", "*") != 2 {
					t.Errorf("%d prefill pods, %d Ready; %d decode pods Ready", len(prefill), s.readyPods("prefill", "*"), s.readyPods("decode", "*"))
				}
				for name, sts := range s.ch.statefulSets {
					if strings.HasPrefix(name, "g-decode") && sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
						t.Errorf("StatefulSet %s left OnDelete", name)
					}
					if name == "g-prefill" && sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
						t.Errorf("StatefulSet %s left OnDelete after the relabel", name)
					}
				}
			})
		}
	}
}

// Under Recreate the recreated roles wait for the roles being relabelled,
// as for the old pods of a recreated role: a role of size 1 whose relabel
// is pending, or an instance outdated by its label alone or being
// relabelled, holds them.
func TestRelabellingHoldsRecreatedRoles(t *testing.T) {
	ch := &children{}
	for _, tc := range []struct {
		name string
		view roleView
		want bool
	}{
		{"nothing to relabel", roleView{instances: []instanceState{inst(0), inst(1)}}, false},
		{"a role of size 1 to relabel", roleView{inPlace: inPlaceVerdict{ok: true, relabel: true}}, true},
		{"an instance to relabel", roleView{instances: []instanceState{inst(0), inst(1, func(s *instanceState) {
			s.current, s.inPlace = false, inPlaceVerdict{ok: true, relabel: true}
		})}}, true},
		{"an instance being relabelled", roleView{instances: []instanceState{inst(0, func(s *instanceState) { s.patching = true })}}, true},
	} {
		tc.view.spec = &rbgsv1.RoleSpec{Role: "prefill"}
		if got := oldPodsLeft([]roleView{tc.view}, ch); got != tc.want {
			t.Errorf("%s: held %v, want %v", tc.name, got, tc.want)
		}
	}
}
