package group

import (
	"cmp"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// A role's layout is the shape of its workloads: one StatefulSet of its
// pods (size 1), one StatefulSet per instance (size > 1), or a
// Deployment. A change of size between 1 and more, or of workload kind,
// changes the layout: the workloads of the former layout keep serving
// while those of the new one come up, and go a few instances at a time,
// within the role's maxUnavailable (rolloutStrategy), as a rolling update
// with no surge would: each step takes maxUnavailable instances of the
// old layout away (highest ordinals first) and starts as many of the new
// one, and the next step waits until those are Ready. The new layout's
// instances take the indices the old ones left: for instances of size >
// 1 the highest first, for a StatefulSet of size 1 the first ordinals
// (their names never meet the old ones'). A role placed as one gang
// cannot be moved a few instances at a time (its pods are placed
// together): it moves at once. How far a move went is read from the
// workloads alone, so a restarted operator carries on where it stopped.

// oldUnit is one workload of a role's former layout.
type oldUnit struct {
	obj  client.Object
	kind string
	// replicas is the instances it runs, ready those Ready.
	replicas, ready int32
	// whole: the StatefulSet of one instance of size > 1, which goes whole.
	whole bool
}

// oldLayout lists the workloads of a role's former layouts, in the order
// they are kept: instances from the lowest index, then a StatefulSet of
// size 1, then a Deployment.
type oldLayout []oldUnit

// findOldLayout lists the workloads of ch that run role in another layout
// than the one its spec asks for.
func findOldLayout(role *topology.Role, ch *children) oldLayout {
	var out oldLayout
	if !role.MultiPod() {
		var instances []*appsv1.StatefulSet
		for _, s := range ch.statefulSets {
			if s.Labels[rbgsv1.LabelRole] == role.Name && s.Labels[rbgsv1.LabelInstance] != "" {
				instances = append(instances, s)
			}
		}
		slices.SortFunc(instances, func(a, b *appsv1.StatefulSet) int { return cmp.Compare(instanceIndex(a), instanceIndex(b)) })
		for _, s := range instances {
			u := oldUnit{obj: s, kind: "StatefulSet", whole: true}
			if replicasOf(s.Spec.Replicas) > 0 {
				u.replicas = 1
				if statefulSetState(s, nil).ready {
					u.ready = 1
				}
			}
			out = append(out, u)
		}
	}
	if s := ch.statefulSets[role.Service]; s != nil && (role.MultiPod() || role.Kind == rbgsv1.WorkloadDeployment) && s.Labels[rbgsv1.LabelInstance] == "" {
		n := replicasOf(s.Spec.Replicas)
		out = append(out, oldUnit{obj: s, kind: "StatefulSet", replicas: n, ready: min(n, s.Status.ReadyReplicas)})
	}
	if d := ch.deployments[role.Service]; d != nil && role.Kind != rbgsv1.WorkloadDeployment {
		n := replicasOf(d.Spec.Replicas)
		out = append(out, oldUnit{obj: d, kind: "Deployment", replicas: n, ready: min(n, d.Status.ReadyReplicas)})
	}
	return out
}

func instanceIndex(s *appsv1.StatefulSet) int {
	i, _ := strconv.Atoi(s.Labels[rbgsv1.LabelInstance])
	return i
}

// count and ready are the instances the old layout runs, and of those
// Ready.
func (o oldLayout) count() (n, ready int32) {
	for _, u := range o {
		n += u.replicas
		ready += u.ready
	}
	return n, ready
}

// mixedInto is st, the state of the role's new layout, with the old
// layout's Ready instances: a role that moves is neither ready nor
// merely scaling.
func (o oldLayout) mixedInto(st roleState) roleState {
	if len(o) == 0 {
		return st
	}
	_, ready := o.count()
	st.exists, st.ready, st.serving = true, false, false
	st.readyReplicas += ready
	return st
}

// keep is how many of the old layout's instances still stand in for the
// role's want instances, given the new layout's running instances (of
// which ready are Ready) and maxUnavailable: a step takes away as many
// as the budget leaves once every unavailable instance, old or new, is
// counted. Old instances beyond want go at once (a scale down), and all
// go at once when allAtOnce. It is never more than the new layout leaves
// (want - running): the new layout's count is read as this operator last
// wrote it, while the old workloads come from a cache that may still show
// one a step deleted, which must not bring the new layout back down.
func (o oldLayout) keep(want, running, ready, maxUnavailable int32, allAtOnce bool) int32 {
	n, oldReady := o.count()
	n = min(n, want)
	if allAtOnce || n == 0 {
		return 0
	}
	unavailable := (n - min(oldReady, n)) + (running - ready)
	return min(max(n-max(maxUnavailable-unavailable, 0), 0), max(want-running, 0))
}

// scaleWrite sets the replicas of a workload of a former layout.
type scaleWrite struct {
	obj      client.Object
	replicas int32
}

// shrink is how the old layout gets down to keep instances: workloads
// scaled down, and those left with none deleted.
func (o oldLayout) shrink(keep int32) ([]scaleWrite, []objectRef) {
	var scales []scaleWrite
	var gone []objectRef
	for _, u := range o {
		n := min(u.replicas, keep)
		keep -= n
		switch {
		case n == 0:
			gone = append(gone, objectRef{kind: u.kind, obj: u.obj, why: "replaced by the role's new layout"})
		case n < u.replicas && !u.whole:
			scales = append(scales, scaleWrite{obj: u.obj, replicas: n})
		}
	}
	return scales, gone
}

// owns reports whether obj, from the cache, is a workload of the old
// layout.
func (o oldLayout) owns(obj client.Object) bool {
	return slices.ContainsFunc(o, func(u oldUnit) bool { return u.obj == obj })
}

func kindOf(obj client.Object) string {
	if _, ok := obj.(*appsv1.Deployment); ok {
		return "Deployment"
	}
	return "StatefulSet"
}
