package group

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

const rackKey = "topology.kubernetes.io/rack"

// gangGroup has a gang per instance packed by rack (decode), a gang of a
// whole role of size 1 (router), a gang of a whole role of size 2
// (prefill) and a role with no gang (cache).
func gangGroup() *rbgsv1.RoleBasedGroup {
	return wrappers.MakeGroup("g", "ns").UID("uid-g").
		Role("decode", 2).Size(4).Gang(rbgsv1.GangInstance, rackKey).
		Role("router", 3).Gang(rbgsv1.GangRole, "").
		Role("prefill", 3).Size(2).Gang(rbgsv1.GangRole, "").
		Role("cache", 1).Obj()
}

// podGroupsOf renders every PodGroup of g, by name.
func podGroupsOf(g *rbgsv1.RoleBasedGroup) map[string]*schedulingv1beta1.PodGroup {
	t := topology.Resolve(g)
	out := map[string]*schedulingv1beta1.PodGroup{}
	for i := range t.Roles {
		for _, pg := range t.Roles[i].PodGroups {
			out[pg.Name] = desiredPodGroup(g, &t.Roles[i], pg)
		}
	}
	return out
}

// One PodGroup per gang, named after the instance's StatefulSet or the
// role's, with the gang's pod count; a role without a gang has none, and
// the pod templates name the gang their pods join.
func TestDesiredPodGroups(t *testing.T) {
	g := gangGroup()
	pgs := podGroupsOf(g)
	want := map[string]int32{"g-decode-0": 4, "g-decode-1": 4, "g-router": 3, "g-prefill": 6}
	if len(pgs) != len(want) {
		t.Fatalf("PodGroups %v, want those of %v", keys(pgs), want)
	}
	for name, minCount := range want {
		pg := pgs[name]
		if pg == nil {
			t.Fatalf("no PodGroup %s among %v", name, keys(pgs))
		}
		if got := pg.Spec.SchedulingPolicy.Gang; got == nil || got.MinCount != minCount {
			t.Errorf("%s: gang %+v, want minCount %d", name, got, minCount)
		}
		if ref := metav1.GetControllerOf(pg); ref == nil || ref.UID != g.UID {
			t.Errorf("%s: controller %+v, want the group", name, ref)
		}
	}
	decode := pgs["g-decode-1"]
	if decode.Labels[rbgsv1.LabelRole] != "decode" || decode.Labels[rbgsv1.LabelInstance] != "1" || decode.Labels[rbgsv1.LabelGroupName] != "g" {
		t.Errorf("labels of an instance's gang: %v", decode.Labels)
	}
	if c := decode.Spec.SchedulingConstraints; c == nil || len(c.Topology) != 1 || c.Topology[0].Key != rackKey {
		t.Errorf("instance gang constraints %+v, want one domain of %s", c, rackKey)
	}
	if decode.Spec.DisruptionMode == nil || decode.Spec.DisruptionMode.All == nil {
		t.Errorf("an instance is disrupted as a whole, got %+v", decode.Spec.DisruptionMode)
	}
	router := pgs["g-router"]
	if router.Spec.SchedulingConstraints != nil || router.Spec.DisruptionMode == nil || router.Spec.DisruptionMode.Single == nil {
		t.Errorf("role gang without a topology key: %+v", router.Spec)
	}
	if _, ok := router.Labels[rbgsv1.LabelInstance]; ok {
		t.Errorf("a role's gang has an instance label: %v", router.Labels)
	}

	// Scaling a role gang moves its minCount.
	g.Spec.Roles[1].Replicas, g.Spec.Roles[2].Replicas = new(int32(5)), new(int32(1))
	pgs = podGroupsOf(g)
	if got := pgs["g-router"].Spec.SchedulingPolicy.Gang.MinCount; got != 5 {
		t.Errorf("router scaled to 5: minCount %d", got)
	}
	if got := pgs["g-prefill"].Spec.SchedulingPolicy.Gang.MinCount; got != 2 {
		t.Errorf("prefill scaled to 1 instance of 2 pods: minCount %d", got)
	}
	// A role gang scaled to nothing has no PodGroup.
	g.Spec.Roles[1].Replicas = new(int32(0))
	if _, ok := podGroupsOf(g)["g-router"]; ok {
		t.Error("a role of no pods keeps a gang")
	}
}

func TestPodTemplatesJoinTheirGang(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	decode, router, prefill, cache := &g.Spec.Roles[0], &g.Spec.Roles[1], &g.Spec.Roles[2], &g.Spec.Roles[3]
	cases := []struct {
		name string
		sts  *appsv1.StatefulSet
		want string
	}{
		{"instance gang", desiredInstance(g, decode, tp.Role("decode"), &tp.Role("decode").Instances[1], 4), "g-decode-1"},
		{"role gang of size 1", desiredStatefulSet(g, router), "g-router"},
		{"role gang of size 2", desiredInstance(g, prefill, tp.Role("prefill"), &tp.Role("prefill").Instances[2], 2), "g-prefill"},
		{"no gang", desiredStatefulSet(g, cache), ""},
	}
	for _, c := range cases {
		got := ""
		if sg := c.sts.Spec.Template.Spec.SchedulingGroup; sg != nil && sg.PodGroupName != nil {
			got = *sg.PodGroupName
		}
		if got != c.want {
			t.Errorf("%s: pods join %q, want %q", c.name, got, c.want)
		}
	}
}

// A PodGroup is stale when it is going or was created with other fixed
// fields; keepFixed then applies what may change and keeps the rest.
func TestGangStale(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	decode := tp.Role("decode")
	pg, _ := decode.InstanceGang(0)
	live := desiredPodGroup(g, decode, pg)
	if gangStale(g, decode, pg, nil) || gangStale(g, decode, pg, live) {
		t.Fatal("an absent or current PodGroup is stale")
	}
	// The API server dropped the constraint (gate off): not stale, the
	// role asked for this key when it was created.
	dropped := live.DeepCopy()
	dropped.Spec.SchedulingConstraints = nil
	if gangStale(g, decode, pg, dropped) {
		t.Error("a PodGroup created with the role's key is stale")
	}
	deleting := live.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	if !gangStale(g, decode, pg, deleting) {
		t.Error("a PodGroup being deleted is not stale")
	}

	// The user moves the role to another topology key and scales nothing.
	g.Spec.Roles[0].Scheduling.TopologyKey = "example.com/nvlink-domain"
	tp = topology.Resolve(g)
	decode = tp.Role("decode")
	if !gangStale(g, decode, pg, live) {
		t.Fatal("a PodGroup packed by the old key is not stale")
	}
	kept := keepFixed(desiredPodGroup(g, decode, pg), live)
	if kept.Spec.SchedulingConstraints.Topology[0].Key != rackKey || kept.Annotations[rbgsv1.AnnotationTopologyKey] != rackKey {
		t.Errorf("keepFixed changed the fixed fields: %+v %v", kept.Spec.SchedulingConstraints, kept.Annotations)
	}
	if kept.Spec.SchedulingPolicy.Gang.MinCount != 4 {
		t.Errorf("keepFixed lost minCount: %+v", kept.Spec.SchedulingPolicy)
	}
}

// An instance whose gang is stale is outdated, and an emptied one is not
// filled again before its PodGroup is replaced.
func TestInstanceWaitsForItsGang(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	r, role, in := &g.Spec.Roles[0], tp.Role("decode"), &tp.Role("decode").Instances[0]
	pg, _ := role.InstanceGang(0)
	stale := desiredPodGroup(g, role, pg)
	stale.Annotations[rbgsv1.AnnotationTopologyKey] = "example.com/old"
	sts := desiredInstance(g, r, role, in, role.Size)
	current := observeInstance(g, r, role, in, sts, map[string]*schedulingv1beta1.PodGroup{pg.Name: desiredPodGroup(g, role, pg)}, nil)
	if !current.current {
		t.Fatalf("instance with its gang as asked is outdated: %+v", current)
	}
	s := observeInstance(g, r, role, in, sts, map[string]*schedulingv1beta1.PodGroup{pg.Name: stale}, nil)
	if s.current {
		t.Fatalf("instance with a stale gang is current: %+v", s)
	}
	sts.Spec.Replicas = new(int32(0))
	s = observeInstance(g, r, role, in, sts, map[string]*schedulingv1beta1.PodGroup{pg.Name: stale}, nil)
	if steps := planInstances([]instanceState{s}, 1); steps[0] != emptyInstance {
		t.Errorf("emptied instance whose gang is stale: step %v, want it kept empty", steps[0])
	}
	s = observeInstance(g, r, role, in, sts, nil, nil)
	if steps := planInstances([]instanceState{s}, 1); steps[0] != applyInstance {
		t.Errorf("emptied instance whose gang is gone (created again first): step %v, want it filled", steps[0])
	}
}

func TestGangPods(t *testing.T) {
	tp := topology.Resolve(gangGroup())
	pod := func(role, instance string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{rbgsv1.LabelRole: role, rbgsv1.LabelInstance: instance}}}
	}
	pods := []corev1.Pod{pod("decode", "0"), pod("decode", "0"), pod("decode", "1"), pod("router", "0"), pod("prefill", "2")}
	decode0, _ := tp.Role("decode").InstanceGang(0)
	decode1, _ := tp.Role("decode").InstanceGang(1)
	if n := gangPods(pods, tp.Role("decode"), decode0); n != 2 {
		t.Errorf("instance 0: %d pods, want 2", n)
	}
	if n := gangPods(pods, tp.Role("decode"), decode1); n != 1 {
		t.Errorf("instance 1: %d pods, want 1", n)
	}
	if n := gangPods(pods, tp.Role("router"), tp.Role("router").PodGroups[0]); n != 1 {
		t.Errorf("router: %d pods, want 1", n)
	}
}

func TestGangsCondition(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	scheduled := func(name string, status metav1.ConditionStatus, reason, message string) *schedulingv1beta1.PodGroup {
		pg := &schedulingv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Name: name}}
		pg.Status.Conditions = []metav1.Condition{{Type: schedulingv1beta1.PodGroupInitiallyScheduled, Status: status, Reason: reason, Message: message}}
		return pg
	}
	all := func() map[string]*schedulingv1beta1.PodGroup {
		out := map[string]*schedulingv1beta1.PodGroup{}
		for _, n := range []string{"g-decode-0", "g-decode-1", "g-router", "g-prefill"} {
			out[n] = scheduled(n, metav1.ConditionTrue, "Scheduled", "")
		}
		return out
	}
	unschedulable := all()
	unschedulable["g-decode-1"] = scheduled("g-decode-1", metav1.ConditionFalse, schedulingv1beta1.PodGroupReasonUnschedulable,
		"0/2 nodes are available: 2 Insufficient nvidia.com/gpu")
	pending := all()
	delete(pending, "g-router")
	pending["g-prefill"].Status.Conditions = nil

	cases := []struct {
		name    string
		pgs     map[string]*schedulingv1beta1.PodGroup
		blocker gangBlocker
		status  metav1.ConditionStatus
		reason  string
		message []string
	}{
		{"every gang placed", all(), gangBlocker{}, metav1.ConditionTrue, ReasonGangsScheduled, []string{"every gang is placed"}},
		{"one instance cannot be placed", unschedulable, gangBlocker{}, metav1.ConditionFalse, ReasonGangUnschedulable,
			[]string{"instance 1 of role decode", "PodGroup g-decode-1", "Insufficient nvidia.com/gpu"}},
		{"gangs not placed yet", pending, gangBlocker{}, metav1.ConditionFalse, ReasonGangsPending,
			[]string{"role router", "role prefill"}},
		{"API missing", nil, gangBlocker{ReasonGangSchedulingUnavailable, gangsUnavailable}, metav1.ConditionFalse,
			ReasonGangSchedulingUnavailable, []string{"GenericWorkload", "--runtime-config=scheduling.k8s.io/v1beta1=true"}},
	}
	for _, c := range cases {
		got := gangsCondition(g, tp, c.pgs, c.blocker, t0)
		if got == nil || got.Type != rbgsv1.ConditionGangsScheduled || got.Status != c.status || got.Reason != c.reason {
			t.Errorf("%s: condition %+v, want %s %s", c.name, got, c.status, c.reason)
			continue
		}
		for _, m := range c.message {
			if !strings.Contains(got.Message, m) {
				t.Errorf("%s: message %q does not say %q", c.name, got.Message, m)
			}
		}
	}
	noGang := wrappers.MakeGroup("g", "ns").Role("a", 1).Obj()
	if c := gangsCondition(noGang, topology.Resolve(noGang), nil, gangBlocker{}, t0); c != nil {
		t.Errorf("group without gangs has condition %+v", c)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
