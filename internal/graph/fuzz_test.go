package graph_test

import (
	"testing"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
)

// FuzzValidate builds dependency graphs from bytes (each pair of bytes is an
// edge between roles r0..r7): Validate must accept exactly the graphs where
// every role can be started after its dependencies, and every cycle it
// reports must be a real cycle of the graph.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{1, 0, 2, 1})
	f.Add([]byte{0, 1, 1, 0})
	f.Add([]byte{3, 3})
	f.Add([]byte{0, 1, 1, 2, 2, 3, 3, 1, 4, 0})
	f.Fuzz(func(t *testing.T, edges []byte) {
		names := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7"}
		roles := make([]rbgsv1.RoleSpec, len(names))
		deps := map[string]map[string]bool{}
		for i, n := range names {
			roles[i].Role = n
			deps[n] = map[string]bool{}
		}
		for i := 0; i+1 < len(edges); i += 2 {
			from, to := names[edges[i]%8], names[edges[i+1]%8]
			if !deps[from][to] {
				deps[from][to] = true
				r := &roles[edges[i]%8]
				r.Dependencies = append(r.Dependencies, to)
			}
		}
		err := graph.Validate(roles)
		startable := canStartAll(roles, deps)
		if (err == nil) != startable {
			t.Fatalf("Validate = %v, but every role startable = %v (edges %v)", err, startable, edges)
		}
		if c := graph.FindCycle(roles); c != nil {
			for i := 0; i+1 < len(c); i++ {
				if !deps[c[i]][c[i+1]] {
					t.Fatalf("reported cycle %v has no edge %s -> %s", c, c[i], c[i+1])
				}
			}
			if c[0] != c[len(c)-1] {
				t.Fatalf("reported cycle %v does not close", c)
			}
		}
	})
}

// canStartAll starts roles whose dependencies have started, until nothing
// more can start.
func canStartAll(roles []rbgsv1.RoleSpec, deps map[string]map[string]bool) bool {
	started := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, r := range roles {
			if started[r.Role] {
				continue
			}
			ok := true
			for d := range deps[r.Role] {
				ok = ok && started[d] && d != r.Role
			}
			if ok {
				started[r.Role], progress = true, true
			}
		}
	}
	return len(started) == len(roles)
}
