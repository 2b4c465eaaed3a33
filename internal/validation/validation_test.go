package validation_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

func TestGroup(t *testing.T) {
	path := field.NewPath("spec", "roles")
	cases := []struct {
		name  string
		group string
		roles []rbgsv1.RoleSpec
		want  []string // substrings, one per expected error
	}{
		{"seed example", "demo-group-0", wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 2, "prefill").Obj().Spec.Roles, nil},
		{"cycle", "g", wrappers.MakeGroup("g", "ns").Role("decode", 1, "router").Role("router", 1, "decode").Obj().Spec.Roles,
			[]string{"spec.roles: Invalid value: \"decode,router\": dependency cycle decode -> router -> decode"}},
		{"no roles", "g", nil, []string{"spec.roles: Required value"}},
		{"too many roles", "g", make([]rbgsv1.RoleSpec, 17), []string{"spec.roles: Too many"}},
		{"name too long", strings.Repeat("g", 45), wrappers.MakeGroup("g", "ns").Role("prefill", 1).Obj().Spec.Roles,
			[]string{`spec.roles[0].role: Invalid value: "prefill": "ggggggggggggggggggggggggggggggggggggggggggggg-prefill" names the role's StatefulSet and must be at most 52 characters`}},
		{"no containers", "g", []rbgsv1.RoleSpec{{Role: "a"}}, []string{"spec.roles[0].template.spec.containers: Required value"}},
		{"discovery too large", "g", wrappers.MakeGroup("g", "ns").Role("decode", 200).Obj().Spec.Roles,
			[]string{"the group's discovery files would take"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := validation.Group(tc.group, tc.roles, path)
			if len(tc.want) == 0 && len(errs) > 0 {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if len(tc.want) > 0 && len(errs) == 0 {
				t.Fatalf("no error, want %v", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs.ToAggregate().Error(), w) {
					t.Errorf("errors %q lack %q", errs.ToAggregate(), w)
				}
			}
		})
	}
}

// About 100 pods fit in a group's discovery ConfigMap.
func TestGroupPodLimit(t *testing.T) {
	ok := wrappers.MakeGroup("g", "ns").Role("prefill", 40).Role("decode", 60, "prefill").Obj()
	if errs := validation.Group("demo-group-0", ok.Spec.Roles, field.NewPath("spec", "roles")); len(errs) > 0 {
		t.Errorf("100 pods refused: %v", errs)
	}
}
