package graph_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/graph"
)

func roles(spec ...[]string) []rbgsv1.RoleSpec {
	out := make([]rbgsv1.RoleSpec, len(spec))
	for i, s := range spec {
		out[i] = rbgsv1.RoleSpec{Role: s[0], Dependencies: s[1:]}
	}
	return out
}

func r(name string, deps ...string) []string { return append([]string{name}, deps...) }

func TestValidate(t *testing.T) {
	cases := []struct {
		name  string
		roles []rbgsv1.RoleSpec
		want  string
	}{
		{"seed example", roles(r("prefill"), r("decode", "prefill")), ""},
		{"diamond", roles(r("a"), r("b", "a"), r("c", "a"), r("d", "b", "c")), ""},
		{"unknown", roles(r("decode", "prefil")), "roles: role decode depends on unknown role prefil"},
		{"self", roles(r("decode", "decode")), "roles: role decode depends on itself"},
		{"duplicate", roles(r("a"), r("a")), "roles: role a is listed twice"},
		{"two-cycle", roles(r("router", "decode"), r("decode", "router")),
			"roles: dependency cycle router -> decode -> router"},
		{"cycle behind a chain", roles(r("a"), r("b", "a", "d"), r("c", "b"), r("d", "c")),
			"roles: dependency cycle b -> d -> c -> b"},
		{"unknown and self reported together", roles(r("a", "a", "x")),
			"roles: role a depends on itself; role a depends on unknown role x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := graph.Validate(tc.roles)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFindCycleIgnoresSelfAndUnknown(t *testing.T) {
	if c := graph.FindCycle(roles(r("a", "a", "zz"), r("b", "a"))); c != nil {
		t.Errorf("FindCycle = %v, want none", c)
	}
}

func TestBlockers(t *testing.T) {
	ready := map[string]bool{"a": true}
	got := graph.Blockers(rbgsv1.RoleSpec{Role: "d", Dependencies: []string{"c", "a", "b"}},
		func(s string) bool { return ready[s] })
	if diff := cmp.Diff([]string{"c", "b"}, got); diff != "" {
		t.Errorf("Blockers (-want +got):\n%s", diff)
	}
}
