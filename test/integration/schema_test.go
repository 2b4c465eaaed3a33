package integration

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

func TestSchemaDefaults(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("defaults", ns).Role("prefill", 2).Obj()
	g.Spec.StartupPolicy = ""
	g.Spec.Roles[0].Replicas = nil
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	r := g.Spec.Roles[0]
	if g.Spec.StartupPolicy != rbgsv1.StartupOrdered || *r.Replicas != 1 || r.Workload.Kind != rbgsv1.WorkloadStatefulSet ||
		r.Workload.APIVersion != "apps/v1" || r.PodManagementPolicy != "Parallel" {
		t.Errorf("defaults not applied: %+v", g.Spec)
	}

	s := wrappers.MakeSet("defaults", ns).Role("prefill", 1).Obj()
	s.Spec.Replicas = nil
	s.Spec.StartupPolicy = ""
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if *s.Spec.Replicas != 1 || s.Spec.StartupPolicy != rbgsv1.StartupOrdered ||
		*s.Spec.RolloutStrategy.MaxUnavailable != intstr.FromInt32(1) {
		t.Errorf("set defaults not applied: %+v", s.Spec)
	}
}

// Every spec CEL and the schema can refuse is refused at admission with a
// message that names the problem.
func TestSchemaRejections(t *testing.T) {
	ns := namespace(t)
	seed := func() *wrappers.GroupWrapper {
		return wrappers.MakeGroup("g", ns).Role("prefill", 2).Role("decode", 2, "prefill")
	}
	tooMany := wrappers.MakeGroup("g", ns)
	for i := range rbgsv1.MaxRoles + 1 {
		tooMany.Role(string(rune('a'+i)), 1)
	}
	cases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroup
		want string
	}{
		{"unknown dependency", wrappers.MakeGroup("g", ns).Role("decode", 1, "prefil").Obj(),
			"every dependency must name a role of the same group"},
		{"self dependency", wrappers.MakeGroup("g", ns).Role("decode", 1, "decode").Obj(),
			"role decode depends on itself"},
		{"duplicate role", wrappers.MakeGroup("g", ns).Role("a", 1).Role("a", 1).Obj(), "Duplicate value"},
		{"role not a DNS label", wrappers.MakeGroup("g", ns).Role("Pre_fill", 1).Obj(), "spec.roles[0].role"},
		{"no roles", wrappers.MakeGroup("g", ns).Obj(), "spec.roles"},
		{"too many roles", tooMany.Obj(), "must have at most 16 items"},
		{"negative replicas", wrappers.MakeGroup("g", ns).Role("a", -1).Obj(), "spec.roles[0].replicas"},
		{"unknown startup policy", seed().StartupPolicy("Sometimes").Obj(), `Unsupported value: "Sometimes"`},
		{"unknown workload", seed().Workload("ReplicaSet").Obj(), `Unsupported value: "ReplicaSet"`},
		{"no containers", func() *rbgsv1.RoleBasedGroup {
			g := seed().Obj()
			g.Spec.Roles[0].Template.Spec.Containers = []corev1.Container{}
			return g
		}(), "role prefill: template.spec.containers must list at least one container"},
		{"name too long", wrappers.MakeGroup(strings.Repeat("g", 40), ns).Role("prefill", 1).Role(strings.Repeat("r", 12), 1).Obj(),
			"must be at most 52 characters"},
		{"group name not a DNS-1035 label", wrappers.MakeGroup("0group", ns).Role("a", 1).Obj(),
			"metadata.name must start with a lowercase letter"},
		{"unknown restart policy", seed().RestartPolicy("Always", 3).Obj(), `spec.restartPolicy: Unsupported value: "Always"`},
		{"negative maxRestarts", seed().RestartPolicy(rbgsv1.RestartRecreateGroup, -1).Obj(), "spec.maxRestarts"},
		{"unknown role restart policy", func() *rbgsv1.RoleBasedGroup {
			g := seed().Obj()
			g.Spec.Roles[1].RestartPolicy = "OnFailure"
			return g
		}(), `spec.roles[1].restartPolicy: Unsupported value: "OnFailure"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil {
				t.Fatalf("created, want rejection mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rejection %q does not mention %q", err, tc.want)
			}
		})
	}

	t.Run("set name too long for its group indices", func(t *testing.T) {
		s := wrappers.MakeSet(strings.Repeat("s", 38), ns).Replicas(100).Role(strings.Repeat("r", 10), 1).Obj()
		err := k8s.Create(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "must be at most 52 characters") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("maxUnavailable zero", func(t *testing.T) {
		s := wrappers.MakeSet("s", ns).Role("a", 1).MaxUnavailable(intstr.FromInt32(0)).Obj()
		err := k8s.Create(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "maxUnavailable must be") {
			t.Errorf("got %v", err)
		}
	})
}
