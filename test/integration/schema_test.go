package integration

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// The API server adds this error, with no field, after a type, enum,
// required or size error.
const notChecked = `<nil>: Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation`

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

// Every spec the CRD schema and its CEL rules refuse is refused at
// admission; each case is the whole line the user reads, naming the field,
// the offending value and the fix.
func TestSchemaRejections(t *testing.T) {
	ns := namespace(t)
	seed := func() *wrappers.GroupWrapper {
		return wrappers.MakeGroup("g", ns).Role("prefill", 2).Role("decode", 2, "prefill")
	}
	tooMany := wrappers.MakeGroup("g", ns)
	for i := range rbgsv1.MaxRoles + 1 {
		tooMany.Role(string(rune('a'+i)), 1)
	}
	const invalid = `RoleBasedGroup.openpatio.io "g" is invalid: `
	cases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroup
		want string
	}{
		{"size 0", seed().Size(0).Obj(),
			invalid + `spec.roles[1].size: Invalid value: 0: must be from 1 to 64 pods per instance: e.g. 8 for an engine spread over 8 nodes, or 1 for an instance of one pod`},
		{"size over 64", seed().Size(65).Obj(),
			invalid + `spec.roles[1].size: Invalid value: 65: must be from 1 to 64 pods per instance: e.g. 8 for an engine spread over 8 nodes, or 1 for an instance of one pod`},
		{"size with a Deployment", seed().Workload(rbgsv1.WorkloadDeployment).Size(4).Obj(),
			invalid + `spec.roles[1].size: Invalid value: role decode: a size over 1 needs a StatefulSet workload (its pods need stable names): remove workload.kind Deployment, or set size to 1`},
		{"self dependency", wrappers.MakeGroup("g", ns).Role("prefill", 1).Role("decode", 1, "prefill", "decode").Obj(),
			invalid + `spec.roles[1].dependencies: Invalid value: "decode": a role cannot depend on itself: remove it from dependencies`},
		{"duplicate role", wrappers.MakeGroup("g", ns).Role("a", 1).Role("b", 1).Role("a", 1).Obj(),
			invalid + `[spec.roles[2]: Duplicate value: {"role":"a"}, spec.roles: Invalid value: "a" names more than one role: role names are unique in a group; rename or remove all but one]`},
		{"role not a DNS label", wrappers.MakeGroup("g", ns).Role("Pre_fill", 1).Obj(),
			invalid + `spec.roles[0].role: Invalid value: "Pre_fill": a role name must be a DNS label, lowercase letters, digits and hyphens starting and ending with a letter or digit (it names the role's StatefulSet, Service and pods): rename the role`},
		{"no roles", wrappers.MakeGroup("g", ns).Obj(), invalid + `[spec.roles: Required value, ` + notChecked + `]`},
		{"too many roles", tooMany.Obj(), invalid + `[spec.roles: Too many: 17: must have at most 16 items, ` + notChecked + `]`},
		{"negative replicas", wrappers.MakeGroup("g", ns).Role("a", -1).Obj(),
			invalid + `spec.roles[0].replicas: Invalid value: -1: spec.roles[0].replicas in body should be greater than or equal to 0`},
		{"unknown startup policy", seed().StartupPolicy("Sometimes").Obj(),
			invalid + `[` + `spec.startupPolicy: Unsupported value: "Sometimes": supported values: "Ordered", "Parallel", ` + notChecked + `]`},
		{"unknown workload", seed().Workload("ReplicaSet").Obj(),
			invalid + `[` + `spec.roles[1].workload.kind: Unsupported value: "ReplicaSet": supported values: "StatefulSet", "Deployment", ` + notChecked + `]`},
		{"no containers", func() *rbgsv1.RoleBasedGroup {
			g := seed().Obj()
			g.Spec.Roles[0].Template.Spec.Containers = []corev1.Container{}
			return g
		}(), invalid + `spec.roles[0].template.spec.containers: Required value: role prefill has no container: add at least one`},
		{"unknown restart policy", seed().RestartPolicy("Always", 3).Obj(),
			invalid + `[` + `spec.restartPolicy: Unsupported value: "Always": supported values: "None", "RecreateGroup", "RecreateInstance", ` + notChecked + `]`},
		{"negative maxRestarts", seed().RestartPolicy(rbgsv1.RestartRecreateGroup, -1).Obj(),
			invalid + `spec.maxRestarts: Invalid value: -1: spec.maxRestarts in body should be greater than or equal to 0`},
		{"instance gang of one pod", seed().Gang(rbgsv1.GangInstance, "").Obj(),
			invalid + `spec.roles[1].scheduling.gang: Invalid value: role decode: gang Instance places the pods of each instance together, and an instance of one pod has nothing to place together: set size over 1, or use gang Role to place the whole role together`},
		{"topology key without a gang", seed().Size(2).Gang(rbgsv1.GangNone, rack).Obj(),
			invalid + `spec.roles[1].scheduling.topologyKey: Invalid value: role decode: topologyKey places each gang in one domain, and the role has no gang: set scheduling.gang to Instance or Role, or remove topologyKey`},
		// A gang of the whole group would deadlock with ordered startup
		// (dependants' pods do not exist until their dependencies are
		// Ready): there is none.
		{"group gang", seed().Size(2).Gang("Group", "").Obj(),
			invalid + `[spec.roles[1].scheduling.gang: Unsupported value: "Group": supported values: "None", "Instance", "Role", ` + notChecked + `]`},
		{"unknown role restart policy", func() *rbgsv1.RoleBasedGroup {
			g := seed().Obj()
			g.Spec.Roles[1].RestartPolicy = "OnFailure"
			return g
		}(), invalid + `[` + `spec.roles[1].restartPolicy: Unsupported value: "OnFailure": supported values: "None", "RecreateGroup", "RecreateInstance", ` + notChecked + `]`},
		{"in place on a Deployment", func() *rbgsv1.RoleBasedGroup {
			g := seed().Workload(rbgsv1.WorkloadDeployment).Obj()
			g.Spec.Roles[1].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
			return g
		}(), invalid + `spec.roles[1].rolloutStrategy.podUpdatePolicy: Invalid value: role decode runs as a Deployment, whose ReplicaSets replace pods of a new template on their own: use Recreate, or run the role as a StatefulSet (remove workload.kind)`},
		{"unknown pod update policy", func() *rbgsv1.RoleBasedGroup {
			g := seed().Obj()
			g.Spec.Roles[1].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: "Patch"}
			return g
		}(), invalid + `[` + `spec.roles[1].rolloutStrategy.podUpdatePolicy: Unsupported value: "Patch": supported values: "Recreate", "InPlaceIfPossible", ` + notChecked + `]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}

	t.Run("podManagementPolicy is immutable", func(t *testing.T) {
		g := wrappers.MakeGroup("pmp", ns).Role("prefill", 1).Obj()
		create(t, g)
		g.Spec.Roles[0].PodManagementPolicy = appsv1.OrderedReadyPodManagement
		err := k8s.Update(context.Background(), g)
		want := `RoleBasedGroup.openpatio.io "pmp" is invalid: spec.roles[0].podManagementPolicy: Invalid value: "OrderedReady": immutable, the StatefulSet of role prefill runs with "Parallel" and cannot change it: set it back, or remove the role and add it again under a new name`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})

	setCases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroupSet
		want string
	}{
		// The last group, index 100, makes "<38 s>-100-rrrrrrrrrr" 53
		// characters long; with 100 groups the names fit (next case).
		{"set name too long for its last group", wrappers.MakeSet(strings.Repeat("s", 38), ns).Replicas(101).Role("a", 1).Role(strings.Repeat("r", 10), 1).Obj(),
			`RoleBasedGroupSet.openpatio.io "` + strings.Repeat("s", 38) + `" is invalid: spec.groupTemplate.roles: Invalid value: role "rrrrrrrrrr": its StatefulSet, "` + strings.Repeat("s", 38) + `-<index>-rrrrrrrrrr", is over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas`},
		{"a role after eleven others", func() *rbgsv1.RoleBasedGroupSet {
			w := wrappers.MakeSet(strings.Repeat("s", 38), ns).Replicas(101)
			for i := range 11 {
				w.Role(string(rune('a'+i)), 1)
			}
			return w.Role(strings.Repeat("r", 10), 1).Obj()
		}(), `RoleBasedGroupSet.openpatio.io "` + strings.Repeat("s", 38) + `" is invalid: spec.groupTemplate.roles: Invalid value: role "rrrrrrrrrr": its StatefulSet, "` + strings.Repeat("s", 38) + `-<index>-rrrrrrrrrr", is over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas`},
		{"a set name far too long", wrappers.MakeSet(strings.Repeat("s", 90), ns).Replicas(12).Role("a", 1).Role("router", 1).Obj(),
			`RoleBasedGroupSet.openpatio.io "` + strings.Repeat("s", 90) + `" is invalid: spec.groupTemplate.roles: Invalid value: role "a": its StatefulSet, "` + strings.Repeat("s", 90) + `-<index>-a", is over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas`},
		{"instance names too long for the set's last group", func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet(strings.Repeat("s", 41), ns).Replicas(100).Role("decode", 10).Obj()
			s.Spec.GroupTemplate.Roles[0].Size = new(int32(2))
			return s
		}(), `RoleBasedGroupSet.openpatio.io "` + strings.Repeat("s", 41) + `" is invalid: spec.groupTemplate.roles: Invalid value: the StatefulSet of the last instance of a role of size over 1, "<set>-<index>-<role>-<instance>", would be over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas`},
		{"maxUnavailable zero without a surge", wrappers.MakeSet("s", ns).Role("a", 1).MaxUnavailable(intstr.FromInt32(0)).Obj(),
			`RoleBasedGroupSet.openpatio.io "s" is invalid: spec.rolloutStrategy.maxSurge: Invalid value: maxUnavailable and maxSurge are both 0, so no group could ever move: set maxSurge to 1 (or more) to start a group at the new revision before an old one goes, or maxUnavailable to 1`},
		{"maxUnavailable 0% and maxSurge 0", wrappers.MakeSet("s", ns).Role("a", 1).MaxUnavailable(intstr.FromString("0%")).MaxSurge(intstr.FromInt32(0)).Obj(),
			`RoleBasedGroupSet.openpatio.io "s" is invalid: spec.rolloutStrategy.maxSurge: Invalid value: maxUnavailable and maxSurge are both 0, so no group could ever move: set maxSurge to 1 (or more) to start a group at the new revision before an old one goes, or maxUnavailable to 1`},
		{"maxUnavailable negative", wrappers.MakeSet("s", ns).Role("a", 1).MaxUnavailable(intstr.FromInt32(-1)).Obj(),
			`RoleBasedGroupSet.openpatio.io "s" is invalid: spec.rolloutStrategy.maxUnavailable: Invalid value: -1: must be a number of groups of at least 0, or a percentage from 0% to 100%: e.g. 1 to update one group at a time, 25%, or 0 with maxSurge 1 to add a group before one goes`},
		{"maxSurge over 100%", wrappers.MakeSet("s", ns).Role("a", 1).MaxSurge(intstr.FromString("150%")).Obj(),
			`RoleBasedGroupSet.openpatio.io "s" is invalid: spec.rolloutStrategy.maxSurge: Invalid value: "150%": must be a number of groups of at least 0, or a percentage from 0% to 100%: e.g. 1 to start one group at the new revision before an old one goes, or 10%`},
		{"set template self dependency", wrappers.MakeSet("s", ns).Role("a", 1, "a").Obj(),
			`RoleBasedGroupSet.openpatio.io "s" is invalid: spec.groupTemplate.roles[0].dependencies: Invalid value: "a": a role cannot depend on itself: remove it from dependencies`},
	}
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
	t.Run("maxUnavailable 0 with a surge", func(t *testing.T) {
		s := wrappers.MakeSet("surge", ns).Replicas(3).Role("a", 1).MaxUnavailable(intstr.FromInt32(0)).MaxSurge(intstr.FromString("10%")).Obj()
		if err := k8s.Create(context.Background(), s, client.DryRunAll); err != nil {
			t.Error(err)
		}
	})
	t.Run("100 groups fit the names 101 do not", func(t *testing.T) {
		s := wrappers.MakeSet(strings.Repeat("s", 38), ns).Replicas(100).Role(strings.Repeat("r", 10), 1).Obj()
		if err := k8s.Create(context.Background(), s, client.DryRunAll); err != nil {
			t.Error(err)
		}
	})

	// kubectl scale goes through the scale subresource, which the webhook
	// does not see: the rule on the set's names refuses it.
	t.Run("scaling past the names' limit", func(t *testing.T) {
		s := wrappers.MakeSet("scale-"+strings.Repeat("s", 32), ns).Replicas(2).Role(strings.Repeat("r", 10), 0).Obj()
		create(t, s)
		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 101}}
		err := k8s.SubResource("scale").Update(context.Background(), s, client.WithSubResourceBody(scale))
		want := `RoleBasedGroupSet.openpatio.io "` + s.Name + `" is invalid: spec.groupTemplate.roles: Invalid value: role "rrrrrrrrrr": its StatefulSet, "` + s.Name + `-<index>-rrrrrrrrrr", is over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
}
