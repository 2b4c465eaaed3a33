package group

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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

// A PodGroup is stale when it was created with other fixed fields;
// keepFixed then applies what may change and keeps the rest.
func TestGangStale(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	decode := tp.Role("decode")
	pg, _ := decode.InstanceGang(0)
	live := desiredPodGroup(g, decode, pg)
	if gangStale(g, decode, pg, live) {
		t.Fatal("a current PodGroup is stale")
	}
	// The API server dropped the constraint (gate off): not stale, the
	// role asked for this key when it was created.
	dropped := live.DeepCopy()
	dropped.Spec.SchedulingConstraints = nil
	if gangStale(g, decode, pg, dropped) {
		t.Error("a PodGroup created with the role's key is stale")
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

// gangObservation is g observed with PodGroups pgs and pods, on a cluster
// that serves and watches PodGroups.
func gangObservation(g *rbgsv1.RoleBasedGroup, pgs map[string]*schedulingv1beta1.PodGroup, pods []corev1.Pod) *observation {
	if pgs == nil {
		pgs = map[string]*schedulingv1beta1.PodGroup{}
	}
	return &observation{g: g, t: topology.Resolve(g), ch: &children{podGroups: pgs, pods: pods}, gangs: gangAPI{served: true, watched: true}, now: t0}
}

// gangPod is pod j of instance i of role (size > 1), or pod j of the role
// when i < 0, with a PodScheduled condition when status is set.
func gangPod(role string, i, j int, status corev1.ConditionStatus, reason, message string) corev1.Pod {
	name := fmt.Sprintf("g-%s-%d", role, j)
	labels := map[string]string{rbgsv1.LabelRole: role, appsv1.PodIndexLabel: strconv.Itoa(j)}
	if i >= 0 {
		name = fmt.Sprintf("g-%s-%d-%d", role, i, j)
		labels[rbgsv1.LabelInstance] = strconv.Itoa(i)
	}
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if status != "" {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: status, Reason: reason, Message: message}}
	}
	return p
}

// Where each PodGroup stands: one absent is created, and its pods wait;
// one being deleted is left to go; a stale one no pod uses is replaced,
// one pods use is kept while they go; one whose constraint the API server
// dropped blocks its role.
func TestPlanGangs(t *testing.T) {
	g := gangGroup()
	tp := topology.Resolve(g)
	decode0, _ := tp.Role("decode").InstanceGang(0)
	decode1, _ := tp.Role("decode").InstanceGang(1)
	pgs := podGroupsOf(g)
	staleOf := func(name string) *schedulingv1beta1.PodGroup {
		pg := pgs[name].DeepCopy()
		pg.Annotations[rbgsv1.AnnotationTopologyKey] = "example.com/old"
		return pg
	}
	deleting := pgs["g-router"].DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{}
	dropped := pgs["g-prefill"].DeepCopy()
	dropped.Spec.SchedulingConstraints = nil
	g.Spec.Roles[2].Scheduling.TopologyKey = rackKey
	live := map[string]*schedulingv1beta1.PodGroup{
		decode0.Name: staleOf(decode0.Name), decode1.Name: staleOf(decode1.Name), "g-router": deleting, "g-prefill": dropped,
	}
	dropped.Annotations[rbgsv1.AnnotationTopologyKey] = rackKey
	// Instance 1 still has a pod; instance 0 has none.
	p := planGangs(gangObservation(g, live, []corev1.Pod{gangPod("decode", 1, 0, corev1.ConditionTrue, "", "")}))
	want := map[string]gangState{decode0.Name: gangComing, decode1.Name: gangStaleInUse, "g-router": gangComing, "g-prefill": gangInPlace}
	if diff := cmp.Diff(want, p.states); diff != "" {
		t.Errorf("gang states (-want +got):\n%s", diff)
	}
	if len(p.replace) != 1 || p.replace[0].obj.GetName() != decode0.Name {
		t.Errorf("replaced %+v, want %s alone", p.replace, decode0.Name)
	}
	if !p.blocked["prefill"] || p.blocker.reason != ReasonTopologyUnavailable || len(p.blocked) != 1 {
		t.Errorf("blocked %v (%+v), want prefill for its dropped constraint", p.blocked, p.blocker)
	}
	// Written: decode 1 (its fixed fields kept) and prefill; neither the
	// replaced one nor the one being deleted.
	var written []string
	for _, w := range p.writes {
		written = append(written, w.build().GetName())
	}
	if diff := cmp.Diff([]string{decode1.Name, "g-prefill"}, written); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	if !p.stale(decode1.Name) || p.ready(decode1.Name) || p.ready("g-router") || !p.ready("") {
		t.Errorf("stale/ready wrong: %v", p.states)
	}

	// Nothing served: every gang role is blocked, nothing is written.
	obs := gangObservation(g, nil, nil)
	obs.gangs.served = false
	if p := planGangs(obs); len(p.blocked) != 3 || len(p.writes) != 0 || p.blocker.reason != ReasonGangSchedulingUnavailable {
		t.Errorf("without the API: %+v", p)
	}
}

func TestGangScope(t *testing.T) {
	tp := topology.Resolve(gangGroup())
	pods := []corev1.Pod{gangPod("decode", 0, 0, "", "", ""), gangPod("decode", 0, 1, "", "", ""), gangPod("decode", 1, 0, "", "", ""),
		gangPod("router", -1, 0, "", "", ""), gangPod("prefill", 2, 0, "", "", "")}
	decode0, _ := tp.Role("decode").InstanceGang(0)
	decode1, _ := tp.Role("decode").InstanceGang(1)
	if n := len(gangScope(tp.Role("decode"), decode0).of(pods)); n != 2 {
		t.Errorf("instance 0: %d pods, want 2", n)
	}
	if n := len(gangScope(tp.Role("decode"), decode1).of(pods)); n != 1 {
		t.Errorf("instance 1: %d pods, want 1", n)
	}
	if n := len(gangScope(tp.Role("router"), tp.Role("router").PodGroups[0]).of(pods)); n != 1 {
		t.Errorf("router: %d pods, want 1", n)
	}
}

// GangsScheduled comes from the pods: placed once every gang has its pods
// scheduled, and it says so when the scheduler cannot place a pod, even
// in a gang whose PodGroup was placed before.
func TestGangsCondition(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 2).Size(2).Gang(rbgsv1.GangInstance, "").Role("router", 2).Gang(rbgsv1.GangRole, "").Obj()
	placed := func() []corev1.Pod {
		return []corev1.Pod{
			gangPod("decode", 0, 0, corev1.ConditionTrue, "", ""), gangPod("decode", 0, 1, corev1.ConditionTrue, "", ""),
			gangPod("decode", 1, 0, corev1.ConditionTrue, "", ""), gangPod("decode", 1, 1, corev1.ConditionTrue, "", ""),
			gangPod("router", -1, 0, corev1.ConditionTrue, "", ""), gangPod("router", -1, 1, corev1.ConditionTrue, "", ""),
		}
	}
	refilled := placed()
	refilled[2] = gangPod("decode", 1, 0, corev1.ConditionFalse, corev1.PodReasonUnschedulable, "0/2 nodes are available: 2 Insufficient nvidia.com/gpu")
	refilled[3] = gangPod("decode", 1, 1, corev1.ConditionFalse, corev1.PodReasonUnschedulable, "0/2 nodes are available: 2 Insufficient nvidia.com/gpu")
	waiting := placed()[:4]
	waiting = append(waiting, gangPod("router", -1, 0, "", "", ""))
	// A PodGroup never placed says why; one placed once says nothing more.
	first := map[string]*schedulingv1beta1.PodGroup{"g-router": {ObjectMeta: metav1.ObjectMeta{Name: "g-router"}, Status: schedulingv1beta1.PodGroupStatus{
		Conditions: []metav1.Condition{{Type: schedulingv1beta1.PodGroupInitiallyScheduled, Status: metav1.ConditionFalse,
			Reason: schedulingv1beta1.PodGroupReasonUnschedulable, Message: "2 pods do not fit in one rack"}}}}}
	placedOnce := map[string]*schedulingv1beta1.PodGroup{"g-decode-1": {ObjectMeta: metav1.ObjectMeta{Name: "g-decode-1"}, Status: schedulingv1beta1.PodGroupStatus{
		Conditions: []metav1.Condition{{Type: schedulingv1beta1.PodGroupInitiallyScheduled, Status: metav1.ConditionTrue, Reason: "Scheduled"}}}}}
	cases := []struct {
		name    string
		pgs     map[string]*schedulingv1beta1.PodGroup
		pods    []corev1.Pod
		blocker gangBlocker
		status  metav1.ConditionStatus
		reason  string
		message []string
	}{
		{"every gang placed", nil, placed(), gangBlocker{}, metav1.ConditionTrue, ReasonGangsScheduled, []string{"every gang is placed"}},
		{"a refilled instance cannot be placed", placedOnce, refilled, gangBlocker{}, metav1.ConditionFalse, ReasonGangUnschedulable,
			[]string{"instance 1 of role decode", "PodGroup g-decode-1", "Insufficient nvidia.com/gpu"}},
		{"a gang short of pods", nil, waiting, gangBlocker{}, metav1.ConditionFalse, ReasonGangsPending, []string{"role router"}},
		{"a gang never placed, its pods waiting", first, waiting, gangBlocker{}, metav1.ConditionFalse, ReasonGangUnschedulable,
			[]string{"role router (PodGroup g-router) cannot be placed: 2 pods do not fit in one rack"}},
		{"API missing", nil, nil, gangBlocker{ReasonGangSchedulingUnavailable, gangsUnavailable}, metav1.ConditionFalse,
			ReasonGangSchedulingUnavailable, []string{"GenericWorkload", "--runtime-config=scheduling.k8s.io/v1beta1=true"}},
	}
	for _, c := range cases {
		got := gangsCondition(gangObservation(g, c.pgs, c.pods), c.blocker)
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
	if c := gangsCondition(gangObservation(noGang, nil, nil), gangBlocker{}); c != nil {
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
