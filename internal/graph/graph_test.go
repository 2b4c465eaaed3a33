package graph_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

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
		want  []string // each error as the user reads it
	}{
		{"seed example", roles(r("prefill"), r("decode", "prefill")), nil},
		{"diamond", roles(r("a"), r("b", "a"), r("c", "a"), r("d", "b", "c")), nil},
		{"unknown", roles(r("prefill"), r("decode", "prefill", "prefil")), []string{
			`spec.roles[1].dependencies[1]: Invalid value: "prefil": not a role of this group (roles: prefill, decode): add the role or remove it from dependencies`,
		}},
		{"self", roles(r("decode", "decode")), []string{
			`spec.roles[0].dependencies[0]: Invalid value: "decode": a role cannot depend on itself: remove it from dependencies`,
		}},
		{"duplicate", roles(r("a"), r("b"), r("a")), []string{
			`spec.roles[2].role: Invalid value: "a": spec.roles[0] has the same name: role names are unique in a group; rename or remove one of them`,
		}},
		{"two-cycle", roles(r("router", "decode"), r("decode", "router")), []string{
			`spec.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle router -> decode -> router: none of these roles can start first; remove one of these dependencies`,
		}},
		{"cycle behind a chain", roles(r("a"), r("b", "a", "d"), r("c", "b"), r("d", "c")), []string{
			`spec.roles[1].dependencies[1]: Invalid value: "d": dependency cycle b -> d -> c -> b: none of these roles can start first; remove one of these dependencies`,
		}},
		{"unknown and self reported together", roles(r("a", "a", "x")), []string{
			`spec.roles[0].dependencies[0]: Invalid value: "a": a role cannot depend on itself: remove it from dependencies`,
			`spec.roles[0].dependencies[1]: Invalid value: "x": not a role of this group (roles: a): add the role or remove it from dependencies`,
		}},
		{"a cycle is looked for only in an otherwise valid graph", roles(r("a", "b"), r("b", "a", "zz")), []string{
			`spec.roles[1].dependencies[1]: Invalid value: "zz": not a role of this group (roles: a, b): add the role or remove it from dependencies`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range graph.Validate(tc.roles, field.NewPath("spec", "roles")) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateSetPath(t *testing.T) {
	errs := graph.Validate(roles(r("a", "nope")), field.NewPath("spec", "groupTemplate", "roles"))
	if len(errs) != 1 || errs[0].Field != "spec.groupTemplate.roles[0].dependencies[0]" || errs[0].BadValue != "nope" {
		t.Errorf("Validate = %v, want one error at spec.groupTemplate.roles[0].dependencies[0]", errs)
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
