package integration

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// What CEL cannot see, the webhook refuses, naming the field and the fix.
func TestWebhookRejections(t *testing.T) {
	ns := namespace(t)
	labelled := func(k, v string) *rbgsv1.RoleBasedGroup {
		g := wrappers.MakeGroup("g", ns).Role("prefill", 1).Obj()
		g.Spec.Roles[0].Template.Labels = map[string]string{k: v}
		return g
	}
	cases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroup
		want []string
	}{
		{"two-role cycle", wrappers.MakeGroup("g", ns).Role("router", 1, "decode").Role("decode", 1, "router").Obj(),
			[]string{"spec.roles", "dependency cycle router -> decode -> router"}},
		{"three-role cycle", wrappers.MakeGroup("g", ns).Role("a", 1, "c").Role("b", 1, "a").Role("c", 1, "b").Obj(),
			[]string{"dependency cycle a -> c -> b -> a"}},
		{"template relabels the role", labelled(rbgsv1.LabelRole, "decode"),
			[]string{"spec.roles[0].template.metadata.labels[patio.io/rbgs-role]", "remove it from the template"}},
		{"template relabels the group", labelled(rbgsv1.LabelGroupName, "other"),
			[]string{"spec.roles[0].template.metadata.labels[patio.io/rbgs-group]"}},
		{"template claims a set", labelled(rbgsv1.LabelSetName, "fleet"),
			[]string{"labels[patio.io/rbgs-name]"}},
		{"discovery too large", wrappers.MakeGroup("g", ns).Role("decode", 300).Obj(),
			[]string{"discovery files would take", "use fewer pods per group"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil {
				t.Fatalf("created, want a rejection mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("rejection %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("the role's own labels are allowed", func(t *testing.T) {
		create(t, labelled(rbgsv1.LabelRole, "prefill"))
	})
	t.Run("podManagementPolicy is immutable", func(t *testing.T) {
		g := wrappers.MakeGroup("pmp", ns).Role("prefill", 1).Obj()
		create(t, g)
		g.Spec.Roles[0].PodManagementPolicy = appsv1.OrderedReadyPodManagement
		err := k8s.Update(context.Background(), g)
		if err == nil || !strings.Contains(err.Error(), "role prefill: podManagementPolicy is immutable") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a cycle introduced by an update", func(t *testing.T) {
		g := wrappers.MakeGroup("upd", ns).Role("router", 1).Role("decode", 1, "router").Obj()
		create(t, g)
		g.Spec.Roles[0].Dependencies = []string{"decode"}
		err := k8s.Update(context.Background(), g)
		if err == nil || !strings.Contains(err.Error(), "dependency cycle router -> decode -> router") {
			t.Errorf("got %v", err)
		}
	})

	setCases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroupSet
		want string
	}{
		{"set with a cycle", wrappers.MakeSet("s", ns).Role("router", 1, "decode").Role("decode", 1, "router").Obj(),
			"spec.groupTemplate.roles: Invalid value: \"router,decode\": dependency cycle router -> decode -> router"},
		{"set template names a group", func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet("s", ns).Role("prefill", 1).Obj()
			s.Spec.GroupTemplate.Roles[0].Template.Labels = map[string]string{rbgsv1.LabelGroupIndex: "0"}
			return s
		}(), "spec.groupTemplate.roles[0].template.metadata.labels[patio.io/rbgs-group-index]"},
	}
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want a rejection mentioning %q", err, tc.want)
			}
		})
	}
}
