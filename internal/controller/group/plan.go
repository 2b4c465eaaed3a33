package group

import (
	"cmp"
	"slices"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
)

// rolePlan says what to do with one role in this reconcile.
type rolePlan struct {
	role *rbgsv1.RoleSpec
	// blocked: the role's gangs cannot be written; it is not started, and
	// an existing one is left as it runs.
	blocked bool
	// start: apply the role's workload (create it, or keep it as specified).
	start bool
	// waitingFor lists the dependencies that hold back the creation of the
	// role's workload.
	waitingFor []string
}

// planRoles decides which roles' workloads to apply. A role whose gangs
// cannot be written (blocked) is not started: its pods would be placed one
// by one.
//
// A workload that exists is always kept up to date: a dependency that turns
// unready after startup never tears down or freezes its dependants. A
// workload that does not exist yet is created at once under the Parallel
// policy, and under Ordered only when every dependency is ready. Because
// each role only waits for its own dependencies, independent roles start
// together and a chain a <- b <- c starts strictly in order.
func planRoles(g *rbgsv1.RoleBasedGroup, states map[string]roleState, blocked map[string]bool) []rolePlan {
	plans := make([]rolePlan, len(g.Spec.Roles))
	ready := func(role string) bool { return states[role].ready }
	for i := range g.Spec.Roles {
		role := &g.Spec.Roles[i]
		p := rolePlan{role: role, start: true}
		if !states[role.Role].exists && g.Spec.StartupPolicy != rbgsv1.StartupParallel {
			p.waitingFor = graph.Blockers(*role, ready)
			p.start = len(p.waitingFor) == 0
		}
		if blocked[role.Role] {
			p.start, p.blocked = false, true
		}
		plans[i] = p
	}
	return plans
}

// staleObjects lists the children the spec (resolved as t) no longer asks
// for: workloads and Services of removed roles, workloads of the wrong kind
// or shape after a role changed kind or size, instances scaled away, and
// discovery ConfigMaps that hold no file (files, see discovery.Files).
func staleObjects(t *topology.Group, ch *children, files map[string]map[string]string) []objectRef {
	wantSTS := map[string]bool{}
	wantDeploy := map[string]bool{}
	wantSvc := map[string]bool{}
	wantPG := map[string]bool{}
	for _, r := range t.Roles {
		wantSvc[r.Service] = true
		for _, pg := range r.PodGroups {
			wantPG[pg.Name] = true
		}
		switch {
		case r.Kind == rbgsv1.WorkloadDeployment:
			wantDeploy[r.Service] = true
		case r.MultiPod():
			for _, in := range r.Instances {
				wantSTS[in.Workload] = true
			}
		default:
			wantSTS[r.Service] = true
		}
	}
	var out []objectRef
	for name, o := range ch.statefulSets {
		if !wantSTS[name] {
			out = append(out, objectRef{kind: "StatefulSet", obj: o})
		}
	}
	for name, o := range ch.deployments {
		if !wantDeploy[name] {
			out = append(out, objectRef{kind: "Deployment", obj: o})
		}
	}
	for name, o := range ch.services {
		if !wantSvc[name] {
			out = append(out, objectRef{kind: "Service", obj: o})
		}
	}
	for name, o := range ch.podGroups {
		if !wantPG[name] {
			out = append(out, objectRef{kind: "PodGroup", obj: o})
		}
	}
	// Discovery ConfigMaps of instances scaled away, once their pods are
	// gone (until then their files linger among files).
	for name, o := range ch.configMaps {
		if _, ok := files[name]; !ok && name != naming.EnvConfigMap(t.Name) {
			out = append(out, objectRef{kind: "ConfigMap", obj: o})
		}
	}
	slices.SortFunc(out, func(a, b objectRef) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.obj.GetName(), b.obj.GetName()))
	})
	return out
}
