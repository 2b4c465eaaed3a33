package group

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// roleWrites is what a reconcile writes of one role: its Service and
// workloads, and how the workloads of its former layout go.
type roleWrites struct {
	writes []write
	scales []scaleWrite
	gone   []objectRef
	// patches are the pods updated in place now (see inplace.go).
	patches []podPatch
	// fallback says why a change the role would update in place replaces
	// its pods; "" when none does.
	fallback string
}

// planRoleWrites plans the writes of role p of obs: none when it is not
// written (blocked, or waiting for its dependencies).
func planRoleWrites(obs *observation, scheme *runtime.Scheme, p *rolePlan, gangs *gangPlan, coord coordination) roleWrites {
	if !p.write {
		return roleWrites{}
	}
	g, r, role, ch := obs.g, p.spec, p.topo, obs.ch
	out := roleWrites{writes: []write{{live: ch.services[role.Service], build: func() client.Object { return desiredService(g, r) }}}}
	want := r.ReplicasOrDefault()
	if p.emptied {
		want = 0
	}
	running, ready := newLayoutRunning(p, ch)
	// A role placed as one gang, or recreated, leaves its former layout at
	// once.
	atOnce := role.Gang == rbgsv1.GangRole || g.Spec.UpdatePolicyOrDefault() == rbgsv1.UpdateRecreate
	keep := p.old.keep(want, running, ready, r.InstancesMaxUnavailable(), atOnce)
	out.scales, out.gone = p.old.shrink(keep)
	pods := len(roleScope(r.Role).of(ch.pods))
	switch {
	case role.Kind == rbgsv1.WorkloadDeployment:
		if w, ok := singleWrite(obs, scheme, p, gangs, ch.deployments[role.Service], want-keep, pods, func(n int32) client.Object {
			d := desiredDeployment(g, r)
			d.Spec.Replicas = &n
			return d
		}, ""); ok {
			out.writes = append(out.writes, w)
		}
	case role.MultiPod():
		out.writes, out.patches, out.fallback = instanceWrites(obs, scheme, p, gangs, keep, running-ready, coord, out.writes)
	default:
		out.fallback = p.inPlace.fallback
		out.writes, out.patches = statefulSetWrites(obs, scheme, p, gangs, coord, want, keep, pods, out.writes)
	}
	return out
}

// statefulSetWrites appends to out the write of the StatefulSet of role p
// of size 1, of which want run and keep stay in the former layout
// (pods: the role's pods of both), and returns the pods it updates in
// place now.
func statefulSetWrites(obs *observation, scheme *runtime.Scheme, p *rolePlan, gangs *gangPlan, coord coordination,
	want, keep int32, pods int, out []write) ([]write, []podPatch) {
	g, r, role, ch := obs.g, p.spec, p.topo, obs.ch
	live := ch.statefulSets[role.Service]
	inPlace := p.inPlace
	surge := role.Surge
	if p.emptied || inPlace.ok {
		surge = 0
	}
	coordinated := coord.partition(r.Role, live, want-keep)
	partition := max(surgePartition(live, p.inputs, roleScope(r.Role).of(ch.pods), want-keep, surge), coordinated)
	mode := fmt.Sprint(partition)
	var patches []podPatch
	if inPlace.ok {
		mode = "in place"
		if live.Annotations[rbgsv1.AnnotationTemplateInputs] == p.inputs {
			patches = inPlacePods(live, ownPods(roleScope(r.Role).of(ch.pods)), want, r.InstancesMaxUnavailable(), coordinated)
		}
	}
	if w, ok := singleWrite(obs, scheme, p, gangs, live, want-keep+surge, pods, func(n int32) client.Object {
		s := desiredStatefulSet(g, r)
		s.Spec.Replicas = &n
		switch {
		case inPlace.ok:
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		case partition > 0:
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}
		}
		return s
	}, mode); ok {
		out = append(out, w)
	}
	return out, patches
}

// ownPods are the pods of a role of size 1 but those of instances of a
// former layout.
func ownPods(pods []corev1.Pod) []corev1.Pod {
	return slices.DeleteFunc(slices.Clone(pods), func(p corev1.Pod) bool { return p.Labels[rbgsv1.LabelInstance] != "" })
}

// liveReplicas is the replicas a workload from the cache asks for, nil
// when it is absent.
func liveReplicas(o client.Object) *int32 {
	switch w := o.(type) {
	case *appsv1.StatefulSet:
		if w != nil {
			return new(replicasOf(w.Spec.Replicas))
		}
	case *appsv1.Deployment:
		if w != nil {
			return new(replicasOf(w.Spec.Replicas))
		}
	}
	return nil
}

// newLayoutRunning counts the instances of role p's own layout that run,
// and of those the Ready ones: what a move from a former layout has
// brought up so far.
func newLayoutRunning(p *rolePlan, ch *children) (running, ready int32) {
	if len(p.old) == 0 {
		return 0, 0
	}
	role := p.topo
	switch {
	case role.Kind == rbgsv1.WorkloadDeployment:
		if d := ch.deployments[role.Service]; d != nil {
			return replicasOf(d.Spec.Replicas), min(d.Status.ReadyReplicas, replicasOf(d.Spec.Replicas))
		}
	case role.MultiPod():
		for _, s := range p.instances {
			if s.exists && !s.emptied {
				running++
				if s.serving() {
					ready++
				}
			}
		}
	default:
		if s := ch.statefulSets[role.Service]; s != nil {
			return replicasOf(s.Spec.Replicas), min(s.Status.ReadyReplicas, replicasOf(s.Spec.Replicas))
		}
	}
	return running, ready
}

// singleWrite is the write of the one workload of a role of size 1 (a
// StatefulSet or a Deployment): live from the cache, want replicas, build
// the desired workload for a count, with partition as its rolling
// update's (see surgePartition) or an in-place update, as mode says. A
// role placed as one gang moves to a new gang all at once (see
// gangCount).
func singleWrite(obs *observation, scheme *runtime.Scheme, p *rolePlan, gangs *gangPlan, live client.Object,
	want int32, pods int, build func(int32) client.Object, mode string) (write, bool) {
	n, ok, liveCount := want, true, liveReplicas(live)
	if pg := p.topo.PodGroup(); pg != "" {
		moving := liveCount != nil && (templateGang(live) != pg || gangs.stale(pg))
		n, ok = gangCount(liveCount, want, pods, moving, gangs.ready(pg))
	}
	if !ok {
		return write{}, false
	}
	return write{intent: fmt.Sprintf("%s/%d/%s", intent(obs.g), n, mode), live: live, build: func() client.Object {
		return keepRendering(build(n), live, scheme)
	}}, true
}

// templateGang is the gang the pods of workload w join, "" when none.
func templateGang(w client.Object) string {
	if t := podTemplateOf(w); t != nil && t.Spec.SchedulingGroup != nil && t.Spec.SchedulingGroup.PodGroupName != nil {
		return *t.Spec.SchedulingGroup.PodGroupName
	}
	return ""
}

// gangCount is how many replicas the workload of a role placed as one
// gang gets (want, as the role asks), and whether it is written at all.
// Its pods move to a new gang all at once (moving: none is left), and
// come back together: an emptied workload stays empty while a pod of the
// role is left or its gang is not in place. A missing workload is not
// created before its gang is in place. liveCount is nil when the workload
// is absent.
func gangCount(liveCount *int32, want int32, pods int, moving, gangReady bool) (int32, bool) {
	switch {
	case liveCount == nil:
		return want, gangReady
	case moving:
		return 0, true
	case *liveCount == 0 && want > 0 && (pods > 0 || !gangReady):
		return 0, true
	}
	return want, true
}

// instanceWrites appends to out the writes of the instances of role p (of
// size > 1): each as planInstances says, the first keep left to the
// role's former layout, with the budget the move of its layout left
// (unavailable: the new instances that are not Ready yet). It returns
// them, the pods updated in place now (every outdated pod of an instance
// in an in-place update, at once), and why an instance that the role
// would update in place is replaced ("" when none is).
func instanceWrites(obs *observation, scheme *runtime.Scheme, p *rolePlan, gangs *gangPlan, keep, unavailable int32,
	coord coordination, out []write) ([]write, []podPatch, string) {
	g, r, role := obs.g, p.spec, p.topo
	states := p.instances
	for i := range states {
		states[i].deferred = states[i].index < keep
	}
	budget := r.InstancesMaxUnavailable()
	if keep > 0 {
		budget -= unavailable
	}
	regular := role.Replicas - keep
	if p.emptied {
		// Recreating: every instance goes, and none starts yet.
		for i := range states {
			states[i].current = false
			states[i].gangReady = false
		}
		return append(out, instanceEmptyWrites(g, r, role, states, obs.ch, scheme)...), nil, ""
	}
	together := movesTogether(role, obs.ch, gangs)
	steps := planInstances(states, regular, budget, together, coord.limit(r.Role, moving(states, regular)))
	var (
		patches  []podPatch
		fallback string
	)
	for j := range role.Instances {
		in, step, live := &role.Instances[j], steps[j], obs.ch.statefulSets[role.Instances[j].Workload]
		if step == instanceSkip {
			continue
		}
		if step == instanceEmpty && fallback == "" && !together {
			fallback = states[j].inPlace.fallback
		}
		if step == instanceInPlace && states[j].current {
			for _, pod := range instanceBehind(live, instanceScope(r.Role, in.Index).of(obs.ch.pods)) {
				patches = append(patches, podPatch{pod: pod, rev: live.Status.UpdateRevision, t: &live.Spec.Template})
			}
		}
		out = append(out, write{
			// The step depends on the instance's pods, which the memo does
			// not see: it is part of the intent.
			intent: fmt.Sprintf("%s/%d", intent(g), step),
			live:   live,
			build:  func() client.Object { return instanceObject(g, r, role, in, step, live, scheme) },
		})
	}
	return out, patches, fallback
}

// movesTogether reports whether the instances of role move as one: their
// gang's PodGroup is to be replaced, or an instance runs another gang's
// template.
func movesTogether(role *topology.Role, ch *children, gangs *gangPlan) bool {
	pg := role.PodGroup()
	if pg == "" {
		return false
	}
	if gangs.stale(pg) {
		return true
	}
	return slices.ContainsFunc(role.Instances, func(in topology.Instance) bool {
		live := ch.statefulSets[in.Workload]
		return live != nil && templateGang(live) != pg
	})
}

// moving counts the instances below regular that exist and run the
// current template, or are emptied for a recreation.
func moving(states []instanceState, regular int32) int32 {
	n := int32(0)
	for _, st := range states {
		if st.index < regular && st.exists && (st.current || st.emptied) {
			n++
		}
	}
	return n
}

// instanceObject is the StatefulSet of instance in of role r for step
// (see planInstances); live is the instance's StatefulSet from the cache.
func instanceObject(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, role *topology.Role, in *topology.Instance,
	step instanceStep, live *appsv1.StatefulSet, scheme *runtime.Scheme) client.Object {
	switch step {
	case instanceAsItRuns:
		return asItRuns(desiredInstance(g, r, role, in, role.Size), live)
	case instanceEmpty:
		return keepRendering(desiredInstance(g, r, role, in, 0), live, scheme)
	case instanceInPlace:
		s := desiredInstance(g, r, role, in, role.Size)
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		return keepRendering(s, live, scheme)
	}
	return keepRendering(desiredInstance(g, r, role, in, role.Size), live, scheme)
}

// instanceEmptyWrites empties every instance of role r that exists.
func instanceEmptyWrites(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, role *topology.Role, states []instanceState,
	ch *children, scheme *runtime.Scheme) []write {
	var out []write
	for j := range role.Instances {
		in, live := &role.Instances[j], ch.statefulSets[role.Instances[j].Workload]
		if !states[j].exists {
			continue
		}
		out = append(out, write{
			intent: fmt.Sprintf("%s/%d", intent(g), instanceEmpty),
			live:   live,
			build:  func() client.Object { return instanceObject(g, r, role, in, instanceEmpty, live, scheme) },
		})
	}
	return out
}
