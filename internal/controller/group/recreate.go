package group

import (
	"slices"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
)

// Under updatePolicy Recreate a group never runs pods of two templates at
// once. A role whose template changed is emptied: its workloads get the
// new template with no pods. Once no pod of any such role is left, they
// start again in dependency order, each when the roles it depends on are
// Ready, as at the group's first start. Where a recreation stands is read
// from the workloads and pods alone: a role is recreating while its
// workloads run another template, or ask for no pods while it wants some.
// A change of replicas alone recreates nothing, and neither does a set's
// rollout that leaves a role's template as it was but for the set's
// revision label: the role's pods are relabelled (see inplace.go), and the
// recreated roles start once they are.

// recreatingRole reports whether role v, which the cache shows in ch, is
// recreating.
func recreatingRole(v *roleView, ch *children) bool {
	want := v.spec.ReplicasOrDefault()
	switch {
	case v.topo.Kind == rbgsv1.WorkloadDeployment:
		d := ch.deployments[v.topo.Service]
		return d != nil && (d.Annotations[rbgsv1.AnnotationTemplateInputs] != v.inputs || (replicasOf(d.Spec.Replicas) == 0 && want > 0))
	case v.topo.MultiPod():
		for _, in := range v.instances {
			if in.exists && ((!in.current && !in.inPlace.relabel) || (in.emptied && want > 0)) {
				return true
			}
		}
		return false
	}
	s := ch.statefulSets[v.topo.Service]
	return s != nil && ((s.Annotations[rbgsv1.AnnotationTemplateInputs] != v.inputs && !v.inPlace.relabel) || (replicasOf(s.Spec.Replicas) == 0 && want > 0))
}

// oldPodsLeft reports whether a pod of a recreating role of views is left
// (terminating ones included), or a pod of a role being relabelled is
// not yet: the recreated roles start with every pod of the group at the
// new revision.
func oldPodsLeft(views []roleView, ch *children) bool {
	for _, v := range views {
		if (v.recreating && len(roleScope(v.spec.Role).of(ch.pods)) > 0) || v.relabelling() {
			return true
		}
	}
	return false
}

// relabelling reports whether role v's pods are being relabelled with a
// set's revision, or are about to be (see inPlaceVerdict.relabel).
func (v *roleView) relabelling() bool {
	if v.inPlace.relabel {
		return true
	}
	// Under Recreate a role updates in place only to be relabelled: any
	// other change recreates it.
	return slices.ContainsFunc(v.instances, func(in instanceState) bool { return in.inPlace.relabel || (in.current && in.patching) })
}

// holdRecreating marks, in roles, the recreating roles that stay empty:
// all of them while a pod of one is left, then each until the roles it
// depends on are Ready (under startupPolicy Ordered).
func holdRecreating(g *rbgsv1.RoleBasedGroup, roles []rolePlan, oldLeft bool) {
	ready := func(role string) bool {
		for i := range roles {
			if roles[i].spec.Role == role {
				return roles[i].state.ready
			}
		}
		return false
	}
	for i := range roles {
		p := &roles[i]
		if !p.recreating || !p.write {
			continue
		}
		if g.Spec.StartupPolicy != rbgsv1.StartupParallel {
			p.waitingFor = graph.Blockers(*p.spec, ready)
		}
		p.emptied = oldLeft || len(p.waitingFor) > 0
	}
}
