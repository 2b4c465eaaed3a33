package graph_test

import (
	"regexp"
	"slices"
	"strconv"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
)

// FuzzValidate builds groups from bytes: the first byte is the number of
// roles (1 to 8), the next ones their names, drawn from r0..r6 and
// "cluster" (so names may repeat), and each following pair an edge from a
// role to a name of the same alphabet or to "zz", which is never a role
// (so dependencies may be unknown or on the role itself). Validate must
// accept exactly the groups with unique names, known dependencies and an
// order in which every role starts after its dependencies; each error must
// sit at the role name or dependency entry holding its value; every cycle
// FindCycle reports must be a real cycle of the graph.
func FuzzValidate(f *testing.F) {
	f.Add([]byte{3, 0, 1, 2, 1, 0, 2, 1})
	f.Add([]byte{2, 0, 1, 0, 1, 1, 0})
	f.Add([]byte{4, 3, 3, 7, 1, 0, 8})
	f.Add([]byte{5, 0, 1, 2, 3, 4, 0, 1, 1, 2, 2, 3, 3, 1, 4, 0})
	f.Add([]byte{2, 7, 0, 1, 7, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		alphabet := []string{"r0", "r1", "r2", "r3", "r4", "r5", "r6", "cluster"}
		n := 1 + int(data[0])%8
		data = data[1:]
		roles := make([]rbgsv1.RoleSpec, n)
		unique := true
		seen := map[string]bool{}
		for i := range roles {
			roles[i].Role = alphabet[i]
			if i < len(data) {
				roles[i].Role = alphabet[data[i]%8]
			}
			unique = unique && !seen[roles[i].Role]
			seen[roles[i].Role] = true
		}
		data = data[min(n, len(data)):]
		deps := map[string]map[string]bool{}
		wellFormed := unique
		for i := 0; i+1 < len(data); i += 2 {
			r := &roles[int(data[i])%n]
			to := "zz"
			if k := int(data[i+1]) % 9; k < 8 {
				to = alphabet[k]
			}
			if deps[r.Role] == nil {
				deps[r.Role] = map[string]bool{}
			}
			if !slices.Contains(r.Dependencies, to) {
				r.Dependencies = append(r.Dependencies, to)
				deps[r.Role][to] = true
				wellFormed = wellFormed && to != r.Role && seen[to]
			}
		}
		errs := graph.Validate(roles, field.NewPath("spec", "roles"))
		valid := wellFormed && canStartAll(roles, deps)
		if (len(errs) == 0) != valid {
			t.Fatalf("Validate = %v, but unique names and known dependencies = %v, startable = %v (roles %+v)",
				errs, wellFormed, valid, roles)
		}
		for _, e := range errs {
			if got, ok := valueAt(roles, e.Field); !ok || got != e.BadValue {
				t.Fatalf("error %q: the field holds %q (exists: %v)", e, got, ok)
			}
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

var fieldPattern = regexp.MustCompile(`^spec\.roles\[(\d+)\]\.(?:role|dependencies\[(\d+)\])$`)

// valueAt reads the role name or dependency a field path names.
func valueAt(roles []rbgsv1.RoleSpec, path string) (string, bool) {
	m := fieldPattern.FindStringSubmatch(path)
	if m == nil {
		return "", false
	}
	i, _ := strconv.Atoi(m[1])
	if i >= len(roles) {
		return "", false
	}
	if m[2] == "" {
		return roles[i].Role, true
	}
	j, _ := strconv.Atoi(m[2])
	if j >= len(roles[i].Dependencies) {
		return "", false
	}
	return roles[i].Dependencies[j], true
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
