package validation_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// lines renders errors as the user reads them, one per error.
func lines(errs field.ErrorList) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

func TestGroup(t *testing.T) {
	path := field.NewPath("spec", "roles")
	long := strings.Repeat("g", 45)
	_, bigBytes, _ := discovery.Largest(topology.Resolve(wrappers.MakeGroup("g", "").Role("router", 2).Role("decode", 200).Obj()))
	multi := func(replicas, size int32) []rbgsv1.RoleSpec {
		return wrappers.MakeGroup("g", "ns").Role("router", 1).Role("decode", replicas, "router").Size(size).Obj().Spec.Roles
	}
	_, hugeInstances, _ := discovery.Largest(topology.Resolve(wrappers.MakeGroup("g", "").Role("decode", 2).Size(64).Role("moe", 8).Size(64).Obj()))
	cases := []struct {
		name  string
		group string
		roles []rbgsv1.RoleSpec
		want  []string
	}{
		{"seed example", "demo-group-0", wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 2, "prefill").Obj().Spec.Roles, nil},
		{"cycle", "g", wrappers.MakeGroup("g", "ns").Role("decode", 1, "router").Role("router", 1, "decode").Obj().Spec.Roles, []string{
			`spec.roles[0].dependencies[0]: Invalid value: "router": dependency cycle decode -> router -> decode: none of these roles can start first; remove one of these dependencies`,
		}},
		{"unknown dependency", "g", wrappers.MakeGroup("g", "ns").Role("prefill", 1).Role("decode", 1, "nope").Obj().Spec.Roles, []string{
			`spec.roles[1].dependencies[0]: Invalid value: "nope": not a role of this group (roles: prefill, decode): add the role or remove it from dependencies`,
		}},
		{"no roles", "g", nil, []string{"spec.roles: Required value: a group needs at least one role: add one"}},
		{"too many roles", "g", func() []rbgsv1.RoleSpec {
			w := wrappers.MakeGroup("g", "ns")
			for i := range 17 {
				w.Role(string(rune('a'+i)), 1)
			}
			return w.Obj().Spec.Roles
		}(), []string{"spec.roles: Too many: 17: must have at most 16 items"}},
		{"name too long", long, wrappers.MakeGroup("g", "ns").Role("a", 1).Role("prefill", 1).Obj().Spec.Roles, []string{
			`spec.roles[1].role: Invalid value: "prefill": the role's StatefulSet would be named "` + long + `-prefill", 53 characters, over the 52 allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the group's`,
		}},
		{"no containers", "g", []rbgsv1.RoleSpec{{Role: "a"}}, []string{
			"spec.roles[0].template.spec.containers: Required value: role a has no container: add at least one",
		}},
		{"discovery too large", "g", wrappers.MakeGroup("g", "ns").Role("router", 2).Role("decode", 200).Obj().Spec.Roles, []string{
			`spec.roles[1].replicas: Invalid value: 200: the group's 202 pods need ` + strconv.Itoa(bigBytes) + ` bytes of discovery files in ConfigMap g-rbgs-cluster (203 files, each listing every pod of the group), over the 1000000 a ConfigMap holds: lower replicas or size, or spread the pods over more groups`,
		}},
		{"4 roles x 8 instances x 8 pods fit", "deepseek-v3-serving-0", func() []rbgsv1.RoleSpec {
			w := wrappers.MakeGroup("g", "ns")
			for _, r := range []string{"prefill", "decode", "kv-router", "encoder"} {
				w.Role(r, 8).Size(8)
			}
			return w.Obj().Spec.Roles
		}(), nil},
		{"instances too large for their ConfigMaps", "g", wrappers.MakeGroup("g", "ns").Role("decode", 2).Size(64).Role("moe", 8).Size(64).Obj().Spec.Roles, []string{
			`spec.roles[0].size: Invalid value: 64: the group's 640 pods need ` + strconv.Itoa(hugeInstances) + ` bytes of discovery files in ConfigMap g-rbgs-cluster-decode-0 (65 files, each listing every pod of the group), over the 1000000 a ConfigMap holds: lower replicas or size, or spread the pods over more groups`,
		}},
		{"a million pods refused without resolving them", "g", multi(1_000_000, 1), []string{
			`spec.roles[1].replicas: Invalid value: 1000000: the group's 1000001 pods need more than 30000030 bytes for each pod's cluster.yaml, which lists every pod of the group; a ConfigMap holds 1000000: lower replicas or size, or spread the pods over more groups`,
		}},
		{"size with a Deployment", "g", func() []rbgsv1.RoleSpec {
			roles := multi(1, 4)
			roles[1].Workload.Kind = rbgsv1.WorkloadDeployment
			return roles
		}(), []string{
			`spec.roles[1].size: Invalid value: 4: role decode: size 4 needs a StatefulSet workload (its pods need stable names): remove workload.kind Deployment, or set size to 1`,
		}},
		{"a role named like another role's instance", "g", append(multi(2, 4), wrappers.RoleSpec("decode-7", 1)), []string{
			`spec.roles[2].role: Invalid value: "decode-7": role decode has size 4, so its instances' StatefulSets are named "g-decode-0", "g-decode-1", ...: a role named "decode-7" would take one of those names; rename it`,
		}},
		{"instance StatefulSet name too long", strings.Repeat("g", 43), multi(100, 2), []string{
			`spec.roles[1].role: Invalid value: "decode": the StatefulSet of the role's last instance would be named "` + strings.Repeat("g", 43) + `-decode-99", 53 characters, over the 52 allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the group's, or lower replicas`,
		}},
		{"gang packed by a rack", "g", wrappers.MakeGroup("g", "ns").Role("decode", 2).Size(4).Gang(rbgsv1.GangInstance, "topology.kubernetes.io/rack").Obj().Spec.Roles, nil},
		{"topology key not a label key", "g", wrappers.MakeGroup("g", "ns").Role("decode", 2).Size(4).Gang(rbgsv1.GangInstance, "rack zone").Obj().Spec.Roles, []string{
			`spec.roles[0].scheduling.topologyKey: Invalid value: "rack zone": role decode: topologyKey must be a node label key, e.g. topology.kubernetes.io/rack: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
		}},
		{"in place on a Deployment", "g", func() []rbgsv1.RoleSpec {
			roles := wrappers.MakeGroup("g", "ns").Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Obj().Spec.Roles
			roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
			return roles
		}(), []string{
			`spec.roles[0].rolloutStrategy.podUpdatePolicy: Invalid value: "InPlaceIfPossible": role router runs as a Deployment, whose ReplicaSets replace pods of a new template on their own: use Recreate, or run the role as a StatefulSet (remove workload.kind)`,
		}},
		{"unknown pod update policy", "g", func() []rbgsv1.RoleSpec {
			roles := multi(1, 2)
			roles[1].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: "Patch"}
			return roles
		}(), []string{
			`spec.roles[1].rolloutStrategy.podUpdatePolicy: Unsupported value: "Patch": supported values: "Recreate", "InPlaceIfPossible"`,
		}},
		{"a disruption budget of more than every instance", "g", func() []rbgsv1.RoleSpec {
			roles := multi(2, 2)
			roles[1].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromString("150%")}
			return roles
		}(), []string{
			`spec.roles[1].disruptionBudget.maxUnavailable: Invalid value: "150%": must be a number of instances of at least 0, or a percentage from 0% to 100%: e.g. 1 to let a drain take one instance at a time`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, lines(validation.Group(tc.group, tc.roles, path))); diff != "" {
				t.Errorf("Group (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoleBasedGroupLabels(t *testing.T) {
	labelled := func(k, v string, setLabels ...string) *rbgsv1.RoleBasedGroup {
		w := wrappers.MakeGroup("g", "ns").Role("prefill", 1)
		for i := 0; i+1 < len(setLabels); i += 2 {
			w.Label(setLabels[i], setLabels[i+1])
		}
		g := w.Obj()
		g.Spec.Roles[0].Template.Labels = map[string]string{k: v}
		return g
	}
	cases := []struct {
		name string
		g    *rbgsv1.RoleBasedGroup
		want []string
	}{
		{"the role's own value", labelled(rbgsv1.LabelRole, "prefill"), nil},
		{"a label of the user's", labelled("app", "llm"), nil},
		{"another role", labelled(rbgsv1.LabelRole, "decode"), []string{
			`spec.roles[0].template.metadata.labels[patio.io/rbgs-role]: Invalid value: "decode": the operator sets this label to "prefill" on every pod of this role and selects the pods by it: remove it from the template`,
		}},
		{"another group", labelled(rbgsv1.LabelGroupName, "other"), []string{
			`spec.roles[0].template.metadata.labels[patio.io/rbgs-group]: Invalid value: "other": the operator sets this label to "g" on every pod of this role and selects the pods by it: remove it from the template`,
		}},
		{"a set, on a group of none", labelled(rbgsv1.LabelSetName, "fleet"), []string{
			`spec.roles[0].template.metadata.labels[patio.io/rbgs-name]: Invalid value: "fleet": the operator sets this label only on the pods of a set's groups, and this group is not one: remove it from the template`,
		}},
		{"the group's own set", labelled(rbgsv1.LabelSetName, "fleet", rbgsv1.LabelSetName, "fleet"), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, lines(validation.RoleBasedGroup(tc.g))); diff != "" {
				t.Errorf("RoleBasedGroup (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRoleBasedGroupSet(t *testing.T) {
	cases := []struct {
		name string
		s    *rbgsv1.RoleBasedGroupSet
		want []string
	}{
		{"seed example", wrappers.MakeSet("demo", "ns").Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj(), nil},
		{"cycle", wrappers.MakeSet("s", "ns").Role("router", 1, "decode").Role("decode", 1, "router").Obj(), []string{
			`spec.groupTemplate.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle router -> decode -> router: none of these roles can start first; remove one of these dependencies`,
		}},
		// The highest index, 100, makes "sss...-100-rrrrrrrrrr" 53 characters.
		{"name too long in the last group", wrappers.MakeSet(strings.Repeat("s", 38), "ns").Replicas(101).Role(strings.Repeat("r", 10), 1).Obj(), []string{
			`spec.groupTemplate.roles[0].role: Invalid value: "rrrrrrrrrr": the role's StatefulSet would be named "ssssssssssssssssssssssssssssssssssssss-100-rrrrrrrrrr", 53 characters, over the 52 allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set's, or lower replicas ("ssssssssssssssssssssssssssssssssssssss-100" is the set's last group)`,
		}},
		{"100 groups fit the same names", wrappers.MakeSet(strings.Repeat("s", 38), "ns").Replicas(100).Role(strings.Repeat("r", 10), 1).Obj(), nil},
		{"template names a group", func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet("s", "ns").Role("prefill", 1).Obj()
			s.Spec.GroupTemplate.Roles[0].Template.Labels = map[string]string{rbgsv1.LabelGroupIndex: "0", rbgsv1.LabelSetName: "s"}
			return s
		}(), []string{
			`spec.groupTemplate.roles[0].template.metadata.labels[patio.io/rbgs-group-index]: Invalid value: "0": the operator sets this label on every pod, to a value that differs from group to group, and selects the pods by it: remove it from the template`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, lines(validation.RoleBasedGroupSet(tc.s))); diff != "" {
				t.Errorf("RoleBasedGroupSet (-want +got):\n%s", diff)
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

func TestNames(t *testing.T) {
	if diff := cmp.Diff([]string{
		`metadata.name: Invalid value: "0group": a group name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of the group's Services, which are DNS-1035 labels): rename the group`,
	}, lines(validation.RoleBasedGroup(wrappers.MakeGroup("0group", "ns").Role("a", 1).Obj()))); diff != "" {
		t.Errorf("group (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{
		`metadata.name: Invalid value: "fleet.a": a set name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of its groups' Services, which are DNS-1035 labels): rename the set`,
	}, lines(validation.RoleBasedGroupSet(wrappers.MakeSet("fleet.a", "ns").Role("a", 1).Obj()))); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
}

// Gangs that would deadlock, and a recreation policy with nothing to
// recreate, are refused, naming the field and the fix.
func TestGangAndRestartPolicies(t *testing.T) {
	ordered := wrappers.MakeGroup("g", "ns").Role("router", 2).Gang(rbgsv1.GangRole, "").Obj()
	ordered.Spec.Roles[0].PodManagementPolicy = "OrderedReady"
	deployment := wrappers.MakeGroup("g", "ns").Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Obj()
	deployment.Spec.Roles[0].RestartPolicy = rbgsv1.RestartRecreateInstance
	groupWide := wrappers.MakeGroup("g", "ns").Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Role("decode", 1).Obj()
	groupWide.Spec.RestartPolicy = rbgsv1.RestartRecreateInstance
	ownPolicy := groupWide.DeepCopy()
	ownPolicy.Spec.Roles[0].RestartPolicy = rbgsv1.RestartNone
	cases := []struct {
		name string
		g    *rbgsv1.RoleBasedGroup
		want []string
	}{
		{"a gang with OrderedReady", ordered, []string{`spec.roles[0].podManagementPolicy: Invalid value: "OrderedReady": role router: a gang places all its pods together, ` +
			`and OrderedReady creates each pod only once the previous one is Ready, so the gang would wait forever: use podManagementPolicy Parallel ` +
			`(it cannot change on a role: remove the role and add it again under another name), or remove scheduling.gang`}},
		{"RecreateInstance on a Deployment role", deployment, []string{`spec.roles[0].restartPolicy: Invalid value: "RecreateInstance": role router runs as a Deployment, ` +
			`whose pods are no instances of their own to recreate: use None (the Deployment replaces a failed pod) or RecreateGroup`}},
		{"the group's RecreateInstance over a Deployment role", groupWide, []string{`spec.restartPolicy: Invalid value: "RecreateInstance": role router runs as a Deployment, ` +
			`whose pods are no instances of their own to recreate: give that role a restartPolicy of its own (None or RecreateGroup), or use another policy here`}},
		{"a Deployment role with a policy of its own", ownPolicy, nil},
	}
	for _, tc := range cases {
		if diff := cmp.Diff(tc.want, lines(validation.RoleBasedGroup(tc.g))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

// A running role placed as one gang cannot change layout in one edit;
// from 0 replicas, or without a gang of the whole role, it can.
func TestGangLayouts(t *testing.T) {
	path := field.NewPath("spec", "roles")
	role := func(size, replicas int32, gang rbgsv1.GangPolicy) []rbgsv1.RoleSpec {
		return wrappers.MakeGroup("g", "ns").Role("decode", replicas).Size(size).Gang(gang, "").Obj().Spec.Roles
	}
	want := `spec.roles[0]: Forbidden: role decode is placed as one gang (scheduling.gang Role), so it cannot change between size 1 and size over 1, ` +
		`or its workload kind, a few instances at a time: its pods are only placed together. Do it in two steps: set replicas to 0, then change size (or workload.kind) and replicas`
	if diff := cmp.Diff([]string{want}, lines(validation.GangLayouts(role(2, 2, rbgsv1.GangRole), role(1, 2, rbgsv1.GangRole), path))); diff != "" {
		t.Errorf("size 1 to 2 of a running role gang (-want +got):\n%s", diff)
	}
	for name, c := range map[string][2][]rbgsv1.RoleSpec{
		"from 0 replicas":        {role(2, 2, rbgsv1.GangRole), role(1, 0, rbgsv1.GangRole)},
		"to 0 replicas":          {role(2, 0, rbgsv1.GangRole), role(1, 2, rbgsv1.GangRole)},
		"a size within the same": {role(4, 2, rbgsv1.GangRole), role(2, 2, rbgsv1.GangRole)},
		"no gang of the role":    {role(2, 2, rbgsv1.GangInstance), role(1, 2, rbgsv1.GangNone)},
	} {
		if errs := validation.GangLayouts(c[0], c[1], path); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
	}
}

// A disruption budget that lets no instance go is admitted with a
// warning; one that lets one go, or a role of none, is not warned of.
func TestDisruptionWarnings(t *testing.T) {
	roles := wrappers.MakeGroup("g", "ns").Role("router", 1).Role("decode", 4).Role("idle", 0).Obj().Spec.Roles
	roles[0].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(0)}
	roles[1].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromString("25%")}
	roles[2].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(0)}
	want := []string{"spec.roles[0].disruptionBudget.maxUnavailable: role router lets no instance of its 1 be evicted, so a drain of a node that runs one of its pods waits until this changes: " +
		"set maxUnavailable to 1 (or more) if drains should proceed"}
	if diff := cmp.Diff(want, validation.DisruptionWarnings(roles, field.NewPath("spec", "roles"))); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	roles[1].DisruptionBudget.MaxUnavailable = intstr.FromString("20%") // 0.8 of 4 instances: none
	if got := validation.DisruptionWarnings(roles, field.NewPath("spec", "roles")); len(got) != 2 || !strings.Contains(got[1], "role decode lets no instance of its 4") {
		t.Errorf("a percentage that rounds down to none: %v", got)
	}
}
