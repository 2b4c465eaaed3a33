package group

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// sim is a group's children as a step-table test drives them: each step
// plans one reconcile from what the sim holds and lands the plan's writes
// in it as the API server would store them (the group's status too);
// settle plays the StatefulSet and Deployment controllers and the kubelet.
// No client and no clock: the plan is a value, and this is its whole
// world.
type sim struct {
	t     *testing.T
	g     *rbgsv1.RoleBasedGroup
	ch    *children
	gangs gangAPI
	// lingering names PodGroups that stay (being deleted) for as many
	// steps after their deletion as it says.
	lingering map[string]int
	// lagging: the cache shows a deleted workload for one more step, and
	// pods take a settle to turn Ready.
	lagging bool
	// graceful: a StatefulSet's pod being replaced or scaled away
	// terminates for one settle before it is gone, and its ordinal is
	// filled again only then.
	graceful bool
	// rolling: a RollingUpdate StatefulSet replaces one outdated pod at a
	// time, the highest ordinal first, and none below its partition, once
	// every other pod is Ready (as the StatefulSet controller does).
	rolling bool
	// eager: the operator reconciles once more before the workload
	// controllers see its last writes (a pod event came first), so the
	// workloads it wrote show a status of their former generation.
	eager bool
	stale []objectRef
	uids  int
	// whole carries the instances seen whole from step to step, as the
	// reconciler does.
	whole wholeInstances
}

func newSim(t *testing.T, g *rbgsv1.RoleBasedGroup) *sim {
	g.UID, g.Generation = "uid-g", max(g.Generation, 1)
	return &sim{t: t, g: g, gangs: gangAPI{served: true, watched: true}, lingering: map[string]int{}, ch: &children{
		statefulSets: map[string]*appsv1.StatefulSet{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, configMaps: map[string]*corev1.ConfigMap{},
		podGroups: map[string]*schedulingv1beta1.PodGroup{},
	}}
}

// edit changes the group's spec, as a user would: a new generation.
func (s *sim) edit(change func(g *rbgsv1.RoleBasedGroup)) {
	change(s.g)
	s.g.Generation++
}

// step plans one reconcile and carries it out in the sim.
func (s *sim) step() *plan {
	s.t.Helper()
	obs := &observation{g: s.g, t: topology.Resolve(s.g), ch: s.ch, gangs: s.gangs, now: t0, whole: s.whole}
	p := planGroup(obs, wrappers.Scheme())
	s.whole = p.whole
	for _, ws := range [][]write{p.discovery, p.gangs, p.workloads} {
		for _, w := range ws {
			s.store(w.build())
		}
	}
	for _, sc := range p.scales {
		s.scale(sc.obj.GetName(), kindOf(sc.obj), sc.replicas)
	}
	for _, pp := range p.patches {
		s.patchPod(pp)
	}
	if rc := p.recreation; rc != nil && rc.now() {
		for _, pod := range rc.pods {
			s.deletePod(pod.Name)
		}
		if rc.instance != nil {
			s.scale(rc.instance.Name, "StatefulSet", 0)
		}
		rc.record(&p.status, t0)
	}
	for _, o := range s.stale {
		s.remove(o)
	}
	s.stale = nil
	for _, o := range p.prune {
		if s.lagging && (o.kind == "StatefulSet" || o.kind == "Deployment") {
			s.stale = append(s.stale, o)
			s.deletePodsOf(o.kind + "/" + o.obj.GetName())
			continue
		}
		s.remove(o)
	}
	s.g.Status = p.status
	return p
}

// patchPod lands an in-place update of a pod, if it is still the pod
// patched: its images, revision label and expected restarts.
func (s *sim) patchPod(pp podPatch) {
	i := slices.IndexFunc(s.ch.pods, func(p corev1.Pod) bool { return p.UID == pp.pod.UID })
	if i < 0 {
		return
	}
	p := &s.ch.pods[i]
	var body struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			Containers []corev1.Container `json:"containers"` // the simulated pods have no init containers
		} `json:"spec"`
	}
	if err := json.Unmarshal(pp.body(), &body); err != nil {
		s.t.Fatal(err)
	}
	maps.Copy(p.Labels, body.Metadata.Labels)
	maps.Copy(p.Annotations, body.Metadata.Annotations)
	for _, c := range body.Spec.Containers {
		j := slices.IndexFunc(p.Spec.Containers, func(l corev1.Container) bool { return l.Name == c.Name })
		p.Spec.Containers[j].Image = c.Image
	}
}

// deletePodsOf deletes the pods of workload owner ("Kind/name").
func (s *sim) deletePodsOf(owner string) {
	s.ch.pods = slices.DeleteFunc(s.ch.pods, func(p corev1.Pod) bool { return p.Annotations["owner"] == owner })
}

// store lands obj as the API server would: a new one gets a UID and
// generation 1, a changed spec a new generation; the status is kept.
func (s *sim) store(obj client.Object) {
	s.uids++
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		keep(o, s.ch.statefulSets[o.Name], s.uids, func(live *appsv1.StatefulSet) bool { return equality.Semantic.DeepEqual(live.Spec, o.Spec) },
			func(live *appsv1.StatefulSet) { o.Status = live.Status })
		s.ch.statefulSets[o.Name] = o
	case *appsv1.Deployment:
		keep(o, s.ch.deployments[o.Name], s.uids, func(live *appsv1.Deployment) bool { return equality.Semantic.DeepEqual(live.Spec, o.Spec) },
			func(live *appsv1.Deployment) { o.Status = live.Status })
		s.ch.deployments[o.Name] = o
	case *corev1.Service:
		keep(o, s.ch.services[o.Name], s.uids, func(*corev1.Service) bool { return true }, func(*corev1.Service) {})
		s.ch.services[o.Name] = o
	case *corev1.ConfigMap:
		keep(o, s.ch.configMaps[o.Name], s.uids, func(*corev1.ConfigMap) bool { return true }, func(*corev1.ConfigMap) {})
		s.ch.configMaps[o.Name] = o
	case *schedulingv1beta1.PodGroup:
		keep(o, s.ch.podGroups[o.Name], s.uids, func(*schedulingv1beta1.PodGroup) bool { return true }, func(*schedulingv1beta1.PodGroup) {})
		s.ch.podGroups[o.Name] = o
	default:
		s.t.Fatalf("the plan wrote a %T", obj)
	}
}

// keep gives obj the identity and generation of live (nil when absent),
// one more when same says the spec changed, and what carry copies.
func keep[P interface {
	*T
	client.Object
}, T any](obj P, live P, uid int, same func(live P) bool, carry func(live P)) {
	if live == nil {
		obj.SetUID(types.UID(strconv.Itoa(uid)))
		obj.SetGeneration(1)
		return
	}
	obj.SetUID(live.GetUID())
	obj.SetGeneration(live.GetGeneration())
	obj.SetDeletionTimestamp(live.GetDeletionTimestamp())
	if !same(live) {
		obj.SetGeneration(live.GetGeneration() + 1)
	}
	carry(live)
}

// scale sets the replicas of a workload of a former layout.
func (s *sim) scale(name, kind string, n int32) {
	if kind == "Deployment" {
		d := s.ch.deployments[name]
		d.Spec.Replicas, d.Generation = &n, d.Generation+1
		return
	}
	sts := s.ch.statefulSets[name]
	sts.Spec.Replicas, sts.Generation = &n, sts.Generation+1
}

// remove deletes a pruned child; a PodGroup named in lingering stays,
// being deleted, for that many more steps.
func (s *sim) remove(o objectRef) {
	name := o.obj.GetName()
	switch o.kind {
	case "StatefulSet":
		delete(s.ch.statefulSets, name)
	case "Deployment":
		delete(s.ch.deployments, name)
	case "Service":
		delete(s.ch.services, name)
	case "ConfigMap":
		delete(s.ch.configMaps, name)
	case "PodGroup":
		if s.lingering[name] > 0 {
			s.ch.podGroups[name].DeletionTimestamp = &metav1.Time{Time: t0.Time}
			return
		}
		delete(s.ch.podGroups, name)
	}
	s.orphans()
}

// orphans deletes the pods no workload owns any more (the garbage
// collector).
func (s *sim) orphans() {
	var kept []corev1.Pod
	for _, p := range s.ch.pods {
		kind, name, _ := strings.Cut(p.Annotations["owner"], "/")
		if _, ok := s.ch.statefulSets[name]; ok && kind == "StatefulSet" {
			kept = append(kept, p)
		} else if _, ok := s.ch.deployments[name]; ok && kind == "Deployment" {
			kept = append(kept, p)
		}
	}
	s.ch.pods = kept
}

func (s *sim) deletePod(name string) {
	for i := range s.ch.pods {
		if s.ch.pods[i].Name == name {
			s.ch.pods = append(s.ch.pods[:i], s.ch.pods[i+1:]...)
			return
		}
	}
}

// settle plays the workload controllers and the kubelet until they rest:
// PodGroups being deleted count down; each StatefulSet runs its replicas
// as pods (a RollingUpdate one replaces outdated pods, an OnDelete one
// keeps them), each Deployment as many, all Ready unless unready names
// the pod; statuses follow.
func (s *sim) settle(unready ...string) {
	for name, n := range s.lingering {
		if pg := s.ch.podGroups[name]; pg != nil && pg.DeletionTimestamp != nil {
			if s.lingering[name] = n - 1; n <= 1 {
				delete(s.ch.podGroups, name)
			}
		}
	}
	s.orphans()
	for _, o := range s.stale {
		s.deletePodsOf(o.kind + "/" + o.obj.GetName())
	}
	// Pods that terminated since the last settle are gone.
	s.ch.pods = slices.DeleteFunc(s.ch.pods, func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		p.Status.Conditions[0].Status = readiness(p.Name, unready)
		// The kubelet restarts a container whose image changed: not Ready
		// for one settle, then running the new image.
		for j, c := range p.Spec.Containers {
			if st := &p.Status.ContainerStatuses[j]; st.Image != c.Image {
				if st.State.Waiting == nil {
					st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
					st.RestartCount++
					p.Status.Conditions[0].Status = corev1.ConditionFalse
					continue
				}
				st.Image, st.State.Waiting = c.Image, nil
			}
		}
	}
	for _, sts := range s.ch.statefulSets {
		if !s.isStale(sts) {
			s.settleStatefulSet(sts, unready)
		}
	}
	for _, d := range s.ch.deployments {
		if !s.isStale(d) {
			s.settleDeployment(d, unready)
		}
	}
}

// isStale reports whether o is deleted, and only the lagging cache shows it
// (as it last saw it).
func (s *sim) isStale(o client.Object) bool {
	return slices.ContainsFunc(s.stale, func(r objectRef) bool { return r.obj.GetName() == o.GetName() && r.kind == kindOf(o) })
}

// readiness is the Ready condition of pod name: False when unready names it.
func readiness(name string, unready []string) corev1.ConditionStatus {
	if slices.Contains(unready, name) {
		return corev1.ConditionFalse
	}
	return corev1.ConditionTrue
}

// nextToRoll is the ordinal of the pod a rolling StatefulSet replaces now:
// the highest outdated one from its partition up, once every other pod is
// Ready and none terminates; -1 when none.
func (s *sim) nextToRoll(sts *appsv1.StatefulSet, rev string) int32 {
	partition := int32(0)
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = *ru.Partition
	}
	next := int32(-1)
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		if p.Annotations["owner"] != "StatefulSet/"+sts.Name {
			continue
		}
		k, _, _ := labelIndex(p, appsv1.PodIndexLabel)
		if k >= replicasOf(sts.Spec.Replicas) {
			continue // scaled away
		}
		if p.DeletionTimestamp != nil || !podReady(p) {
			return -1
		}
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev && k >= partition && k > next {
			next = k
		}
	}
	return next
}

// revisionOf names the template of a workload, as its controller would.
func revisionOf(name string, t *corev1.PodTemplateSpec) string {
	return name + "-" + templateHashOf(t)
}

func templateHashOf(t *corev1.PodTemplateSpec) string {
	return templateHash(&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: *t}})
}

func (s *sim) settleStatefulSet(sts *appsv1.StatefulSet, unready []string) {
	rev := revisionOf(sts.Name, &sts.Spec.Template)
	want := replicasOf(sts.Spec.Replicas)
	var kept []corev1.Pod
	have := map[int32]bool{}
	for _, p := range s.ch.pods {
		if p.Annotations["owner"] != "StatefulSet/"+sts.Name {
			kept = append(kept, p)
			continue
		}
		k, _, _ := labelIndex(&p, appsv1.PodIndexLabel)
		outdated := p.Labels[appsv1.ControllerRevisionHashLabelKey] != rev && sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType
		if s.rolling && outdated && k != s.nextToRoll(sts, rev) {
			outdated = false // its turn has not come
		}
		switch {
		case k < want && !outdated && p.DeletionTimestamp == nil:
			kept, have[k] = append(kept, p), true
		case s.graceful && p.DeletionTimestamp == nil:
			// Terminating until the next settle; its ordinal stays taken.
			p.DeletionTimestamp = &metav1.Time{Time: t0.Time}
			p.Status.Conditions[0].Status = corev1.ConditionFalse
			kept, have[k] = append(kept, p), true
		}
	}
	for k := range want {
		if !have[k] {
			kept = append(kept, s.pod(fmt.Sprintf("%s-%d", sts.Name, k), "StatefulSet/"+sts.Name, k, rev, &sts.Spec.Template, unready))
		}
	}
	s.ch.pods = kept
	st := appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, UpdateRevision: rev, CurrentRevision: rev}
	for _, p := range s.ch.pods {
		if p.Annotations["owner"] != "StatefulSet/"+sts.Name || p.DeletionTimestamp != nil {
			continue
		}
		st.Replicas++
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == rev {
			st.UpdatedReplicas++
		} else {
			st.CurrentRevision = "older"
		}
		if podReady(&p) {
			st.ReadyReplicas++
			st.AvailableReplicas++
		}
	}
	sts.Status = st
}

func (s *sim) settleDeployment(d *appsv1.Deployment, unready []string) {
	owner, rev := "Deployment/"+d.Name, revisionOf(d.Name, &d.Spec.Template)
	n := replicasOf(d.Spec.Replicas)
	name := func(k int32) string { return fmt.Sprintf("%s-%s-%d", d.Name, templateHashOf(&d.Spec.Template)[:5], k) }
	var kept []corev1.Pod
	have := map[string]bool{}
	for _, p := range s.ch.pods {
		if p.Annotations["owner"] != owner {
			kept = append(kept, p)
			continue
		}
		// A pod of another template, or beyond the count, goes.
		for k := range n {
			if p.Name == name(k) {
				kept, have[p.Name] = append(kept, p), true
			}
		}
	}
	for k := range n {
		if !have[name(k)] {
			kept = append(kept, s.pod(name(k), owner, -1, rev, &d.Spec.Template, unready))
		}
	}
	s.ch.pods = kept
	ready := int32(0)
	for i := range s.ch.pods {
		if s.ch.pods[i].Annotations["owner"] == owner && podReady(&s.ch.pods[i]) {
			ready++
		}
	}
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: ready, AvailableReplicas: ready}
}

// pod is pod name of workload owner ("Kind/name"), ordinal k (-1: a Deployment's), at
// revision rev from template t: Ready and placed unless unready names it.
func (s *sim) pod(name, owner string, k int32, rev string, t *corev1.PodTemplateSpec, unready []string) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.g.Namespace, UID: types.UID(name + "-" + rev),
		Labels: map[string]string{}, Annotations: map[string]string{"owner": owner}}}
	for k, v := range t.Labels {
		p.Labels[k] = v
	}
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
	if k >= 0 {
		p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(int(k))
	}
	p.Spec.SchedulingGroup = t.Spec.SchedulingGroup
	for _, c := range t.Spec.Containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image})
	}
	ready := readiness(name, unready)
	if s.lagging {
		ready = corev1.ConditionFalse // Ready at the next settle
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	return p
}

// run steps and settles until a step writes nothing new and the group is
// Running, at most n times, calling check after every settle.
func (s *sim) run(n int, check func(i int)) {
	s.t.Helper()
	for i := range n {
		s.step()
		if s.eager {
			s.step()
		}
		s.settle()
		if check != nil {
			check(i)
		}
		if s.g.Status.Phase == rbgsv1.PhaseRunning && s.converged() {
			return
		}
	}
	s.t.Fatalf("not Running after %d steps: %+v", n, s.g.Status)
}

// converged reports whether one more step would change no workload.
func (s *sim) converged() bool {
	before := s.snapshot()
	s.step()
	s.settle()
	return before == s.snapshot()
}

// snapshot is what the workloads ask for and run, as a string.
func (s *sim) snapshot() string {
	var b strings.Builder
	for _, name := range sortedKeys(s.ch.statefulSets) {
		sts := s.ch.statefulSets[name]
		fmt.Fprintf(&b, "sts %s %d %d %s;", name, replicasOf(sts.Spec.Replicas), sts.Generation, sts.Status.UpdateRevision)
	}
	for _, name := range sortedKeys(s.ch.deployments) {
		d := s.ch.deployments[name]
		fmt.Fprintf(&b, "deploy %s %d %d;", name, replicasOf(d.Spec.Replicas), d.Generation)
	}
	for _, name := range sortedKeys(s.ch.podGroups) {
		fmt.Fprintf(&b, "pg %s;", name)
	}
	fmt.Fprintf(&b, "pods %d", len(s.ch.pods))
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// readyPods counts the Ready pods of role whose template joins gang ("*"
// for any, "" for none).
func (s *sim) readyPods(role, gang string) int {
	n := 0
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		joins := ""
		if p.Spec.SchedulingGroup != nil {
			joins = *p.Spec.SchedulingGroup.PodGroupName
		}
		if p.Labels[rbgsv1.LabelRole] == role && podReady(p) && (gang == "*" || joins == gang) {
			n++
		}
	}
	return n
}
