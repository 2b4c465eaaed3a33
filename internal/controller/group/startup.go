package group

import (
	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
)

// rolePlan is what a reconcile does with one role.
type rolePlan struct {
	roleView
	// write: the role's workloads are written (created, or kept as
	// specified).
	write bool
	// blocked: the role's gangs cannot be written (see planGangs): it is
	// not started, an existing one is left as it runs, and it is not
	// ready at its spec.
	blocked bool
	// waitingFor lists the dependencies that hold back the creation of
	// the role's workload (or its start again, when it is recreating).
	waitingFor []string
	// emptied: the role is recreating (see recreate.go), and its workloads
	// stay without pods for now.
	emptied bool
	// waitsFor is the role whose update this role's waits for (see
	// coordination.go).
	waitsFor string
}

// planRoles decides which roles' workloads to write. A role whose gangs
// cannot be written (blocked) is not: its pods would be placed one by one.
//
// A workload that exists is always kept up to date: a dependency that turns
// unready after startup never tears down or freezes its dependants. A
// workload that does not exist yet is created at once under the Parallel
// policy, and under Ordered only when every dependency is ready. Because
// each role only waits for its own dependencies, independent roles start
// together and a chain a <- b <- c starts strictly in order.
func planRoles(g *rbgsv1.RoleBasedGroup, views []roleView, blocked map[string]bool) []rolePlan {
	byName := make(map[string]*roleView, len(views))
	for i := range views {
		byName[views[i].spec.Role] = &views[i]
	}
	ready := func(role string) bool { v := byName[role]; return v != nil && v.state.ready }
	plans := make([]rolePlan, len(views))
	for i, v := range views {
		p := rolePlan{roleView: v, write: true}
		if !v.state.exists && g.Spec.StartupPolicy != rbgsv1.StartupParallel {
			p.waitingFor = graph.Blockers(*v.spec, ready)
			p.write = len(p.waitingFor) == 0
		}
		if blocked[v.spec.Role] {
			p.write, p.blocked = false, true
			p.state.ready, p.state.serving = false, false
		}
		plans[i] = p
	}
	return plans
}
