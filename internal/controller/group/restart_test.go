package group

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

func pod(name, role string, created time.Time, restarts int32) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{rbgsv1.LabelRole: role},
			CreationTimestamp: metav1.NewTime(created)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", RestartCount: restarts}}},
	}
}

func TestDecideRestart(t *testing.T) {
	now := t0.Time.Add(time.Hour)
	restarted := func(ago time.Duration, recent int32) rbgsv1.RoleBasedGroupStatus {
		return rbgsv1.RoleBasedGroupStatus{Restarts: recent, RecentRestarts: recent,
			LastRestart: &rbgsv1.GroupRestart{Time: metav1.NewTime(now.Add(-ago)), Reason: "earlier"}}
	}
	// limited marks the restart limit reached at generation.
	limited := func(st rbgsv1.RoleBasedGroupStatus, generation int64) rbgsv1.RoleBasedGroupStatus {
		st.Conditions = []metav1.Condition{{Type: rbgsv1.ConditionRestartLimitReached, Status: metav1.ConditionTrue,
			Reason: ReasonRestartLimitReached, ObservedGeneration: generation}}
		return st
	}
	// switched: RecreateGroup took effect ago, for both roles.
	switched := func(ago time.Duration) rbgsv1.RoleBasedGroupStatus {
		since := metav1.NewTime(now.Add(-ago))
		return rbgsv1.RoleBasedGroupStatus{Roles: []rbgsv1.RoleStatus{
			{Role: "prefill", RecreateSince: &since}, {Role: "decode", RecreateSince: &since}}}
	}
	// terminated: the pod's container last terminated at.
	terminated := func(p corev1.Pod, at time.Time) corev1.Pod {
		p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(at)}
		return p
	}
	failedPod := pod("g-decode-1", "decode", t0.Time, 0)
	failedPod.Status.Phase, failedPod.Status.Reason = corev1.PodFailed, "Evicted"
	deleting := pod("g-decode-0", "decode", t0.Time, 3)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}

	cases := []struct {
		name     string
		policy   rbgsv1.RestartPolicy
		role     rbgsv1.RestartPolicy // decode's own policy
		status   rbgsv1.RoleBasedGroupStatus
		pods     []corev1.Pod
		failure  string
		wait     time.Duration
		limited  bool
		recreate bool
	}{
		{name: "healthy pods", policy: rbgsv1.RestartRecreateGroup,
			pods: []corev1.Pod{pod("g-prefill-0", "prefill", t0.Time, 0), pod("g-decode-0", "decode", t0.Time, 0)}},
		{name: "a restarted container recreates at once", policy: rbgsv1.RestartRecreateGroup,
			pods:    []corev1.Pod{pod("g-prefill-0", "prefill", t0.Time, 0), pod("g-decode-0", "decode", t0.Time, 2)},
			failure: "pod g-decode-0 of role decode restarted container main (2 restarts)", recreate: true},
		{name: "a failed pod, first failing pod by name", policy: rbgsv1.RestartRecreateGroup,
			pods:    []corev1.Pod{failedPod, pod("g-decode-2", "decode", t0.Time, 1)},
			failure: "pod g-decode-1 of role decode failed (Evicted)", recreate: true},
		{name: "policy None ignores failures", policy: rbgsv1.RestartNone,
			pods: []corev1.Pod{pod("g-decode-0", "decode", t0.Time, 2)}},
		{name: "a role's None overrides the group", policy: rbgsv1.RestartRecreateGroup, role: rbgsv1.RestartNone,
			pods: []corev1.Pod{pod("g-decode-0", "decode", t0.Time, 2), pod("g-prefill-0", "prefill", t0.Time, 0)}},
		{name: "a role's RecreateGroup overrides None", policy: rbgsv1.RestartNone, role: rbgsv1.RestartRecreateGroup,
			pods:    []corev1.Pod{pod("g-decode-0", "decode", t0.Time, 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", recreate: true},
		{name: "pods being deleted and pods older than the last recreation do not count", policy: rbgsv1.RestartRecreateGroup,
			status: restarted(time.Minute, 1),
			pods:   []corev1.Pod{deleting, pod("g-prefill-0", "prefill", now.Add(-2*time.Minute), 4), pod("g-prefill-1", "prefill", now.Add(-time.Minute), 0)}},
		{name: "second in a row waits 10 s", policy: rbgsv1.RestartRecreateGroup, status: restarted(4*time.Second, 1),
			pods:    []corev1.Pod{pod("g-decode-0", "decode", now.Add(-3*time.Second), 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", wait: 6 * time.Second},
		{name: "fourth in a row waits 40 s", policy: rbgsv1.RestartRecreateGroup, status: restarted(41*time.Second, 3),
			pods:    []corev1.Pod{pod("g-decode-0", "decode", now.Add(-40*time.Second), 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", wait: -time.Second, recreate: true},
		{name: "the bound stops recreations", policy: rbgsv1.RestartRecreateGroup, status: restarted(5*time.Minute, 5),
			pods:    []corev1.Pod{pod("g-decode-0", "decode", now.Add(-4*time.Minute), 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", limited: true},
		{name: "ten quiet minutes reset the count", policy: rbgsv1.RestartRecreateGroup, status: restarted(10*time.Minute, 3),
			pods:    []corev1.Pod{pod("g-decode-0", "decode", now.Add(-5*time.Minute), 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", recreate: true},
		{name: "the limit holds after ten quiet minutes while its condition stands", policy: rbgsv1.RestartRecreateGroup,
			status:  limited(restarted(10*time.Minute, 5), 1),
			pods:    []corev1.Pod{pod("g-decode-0", "decode", now.Add(-5*time.Minute), 1)},
			failure: "pod g-decode-0 of role decode restarted container main (1 restarts)", limited: true},
		{name: "restarts from before the switch to RecreateGroup do not count", policy: rbgsv1.RestartRecreateGroup,
			status: switched(time.Minute),
			pods:   []corev1.Pod{pod("g-decode-0", "decode", t0.Time, 2), terminated(pod("g-decode-1", "decode", t0.Time, 1), now.Add(-2*time.Minute))}},
		{name: "a restart since the switch counts", policy: rbgsv1.RestartRecreateGroup, status: switched(time.Minute),
			pods:    []corev1.Pod{terminated(pod("g-decode-1", "decode", t0.Time, 3), now.Add(-30*time.Second))},
			failure: "pod g-decode-1 of role decode restarted container main (3 restarts)", recreate: true},
		{name: "a pod created since the switch counts", policy: rbgsv1.RestartRecreateGroup, status: switched(time.Minute),
			pods:    []corev1.Pod{pod("g-prefill-0", "prefill", now.Add(-10*time.Second), 1)},
			failure: "pod g-prefill-0 of role prefill restarted container main (1 restarts)", recreate: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := wrappers.MakeGroup("g", "ns").Generation(1).RestartPolicy(tc.policy, 5).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
			g.Spec.Roles[1].RestartPolicy = tc.role
			g.Status = tc.status
			st := tc.status
			st.Roles = nil
			for i := range g.Spec.Roles {
				// Unless the case says otherwise, the policy took effect long before the pods.
				st.Roles = append(st.Roles, rbgsv1.RoleStatus{Role: g.Spec.Roles[i].Role,
					RecreateSince: recreateSince(g, &g.Spec.Roles[i], &tc.status, metav1.NewTime(t0.Add(-time.Hour)))})
			}
			d := decideRestart(g, &st, tc.pods, nil, now)
			if d.failure != tc.failure || d.wait != tc.wait || d.limited != tc.limited || d.recreate() != tc.recreate {
				t.Errorf("got failure %q wait %s limited %v recreate %v; want %q %s %v %v",
					d.failure, d.wait, d.limited, d.recreate(), tc.failure, tc.wait, tc.limited, tc.recreate)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := backoff(int32(i + 1)); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}

func TestTrimPodKeepsWhatRestartsRead(t *testing.T) {
	p := pod("g-decode-0", "decode", t0.Time, 2)
	p.Spec.Containers = []corev1.Container{{Name: "main", Image: "big"}}
	p.Annotations = map[string]string{"a": "b"}
	p.Labels[rbgsv1.LabelGroupName] = "g"
	p.Labels[appsv1.ControllerRevisionHashLabelKey] = "rev1"
	p.Labels["statefulset.kubernetes.io/pod-name"] = p.Name
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r", LastTransitionTime: t0}}
	p.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
		ExitCode: 137, Reason: "OOMKilled", Message: "a long message", FinishedAt: metav1.NewTime(t0.Add(time.Minute))}
	out, err := TrimPod(&p)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := out.(*corev1.Pod)
	wantConditions := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: t0}}
	wantContainers := []corev1.Container{{Name: "main", Image: "big"}}
	if !equality.Semantic.DeepEqual(trimmed.Spec.Containers, wantContainers) || trimmed.Annotations != nil ||
		!equality.Semantic.DeepEqual(trimmed.Status.Conditions, wantConditions) {
		t.Errorf("kept more than needed: %+v", trimmed)
	}
	if _, ok := trimmed.Labels["statefulset.kubernetes.io/pod-name"]; ok {
		t.Errorf("kept a label nothing reads: %v", trimmed.Labels)
	}
	if podFailure(trimmed) != podFailure(&p) || trimmed.Labels[rbgsv1.LabelRole] != "decode" || !slices.Equal(IndexPodsOfGroup(trimmed), []string{"g"}) ||
		trimmed.Labels[appsv1.ControllerRevisionHashLabelKey] != "rev1" || !trimmed.CreationTimestamp.Equal(&p.CreationTimestamp) {
		t.Errorf("lost what restarts read: %+v", trimmed)
	}
	if at, ok := failedAt(trimmed); !ok || !at.Equal(t0.Add(time.Minute)) || trimmed.Status.ContainerStatuses[0].LastTerminationState.Terminated.Message != "" {
		t.Errorf("termination kept as %+v", trimmed.Status.ContainerStatuses[0].LastTerminationState)
	}
}

// Past maxRestarts the group says so in a condition that holds, ten quiet
// minutes or not, until the spec changes; the warning is recorded once.
func TestRestartLimitIsStickyUntilTheSpecChanges(t *testing.T) {
	now := t0.Time.Add(time.Hour)
	g := wrappers.MakeGroup("g", "ns").Generation(1).RestartPolicy(rbgsv1.RestartRecreateGroup, 1).Role("prefill", 1).Obj()
	g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhaseRunning, Restarts: 1, RecentRestarts: 1,
		LastRestart: &rbgsv1.GroupRestart{Time: metav1.NewTime(now.Add(-time.Minute)), Reason: "earlier"},
		Roles:       []rbgsv1.RoleStatus{{Role: "prefill", RecreateSince: &t0}}}
	failed := pod("g-prefill-0", "prefill", now.Add(-30*time.Second), 1)
	failed.Namespace, failed.UID = "ns", "pod-uid"
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g, &failed).WithStatusSubresource(g).Build()
	clk := clocktesting.NewFakeClock(now)
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: rec, Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk},
		Memo: apply.NewMemo(), StatusInterval: time.Second}
	ctx := context.Background()
	ready := map[string]roleState{"prefill": {exists: true, ready: true, readyReplicas: 1}}
	reconcile := func() {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		at := metav1.NewTime(clk.Now())
		st := statusOf(g, ready, at)
		if rc := planRestart(g, &st, []corev1.Pod{failed}, nil, at, noInstance); rc != nil {
			if err := r.deletePods(ctx, rc.pods); err != nil {
				t.Fatal(err)
			}
			if len(rc.pods) > 0 {
				rc.record(&st, at)
			}
			r.announce(g, rc, len(rc.pods) > 0, &st)
		}
		if _, err := r.writeStatus(ctx, g, st, report{}); err != nil {
			t.Fatal(err)
		}
	}
	reasons := func() []string {
		var out []string
		for len(rec.Events) > 0 {
			out = append(out, strings.Fields(<-rec.Events)[1])
		}
		return out
	}

	reconcile()
	if !limitReached(&g.Status, 1) || g.Status.Restarts != 1 {
		t.Fatalf("limit not reported: %+v", g.Status)
	}
	if got := reasons(); !slices.Equal(got, []string{ReasonRestartLimitReached}) {
		t.Errorf("events %v", got)
	}
	clk.Step(15 * time.Minute)
	reconcile()
	if !limitReached(&g.Status, 1) || g.Status.Restarts != 1 {
		t.Errorf("limit lifted by quiet minutes: %+v", g.Status)
	}
	if got := reasons(); len(got) != 0 {
		t.Errorf("events while the limit holds: %v", got)
	}

	g.Spec.MaxRestarts = new(int32(3))
	if err := c.Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	g.Generation = 2
	if err := c.Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	reconcile()
	if c := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionRestartLimitReached); c != nil || g.Status.Restarts != 2 || g.Status.RecentRestarts != 1 {
		t.Errorf("after the spec changed: condition %+v, restarts %d, recent %d", c, g.Status.Restarts, g.Status.RecentRestarts)
	}
	if got := reasons(); !slices.Equal(got, []string{ReasonGroupRecreated}) {
		t.Errorf("events %v", got)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(&failed), &corev1.Pod{}); err == nil {
		t.Error("the failed pod was not deleted")
	}
}

// A failure in an instance of a role of size > 1 recreates that instance
// alone (RecreateInstance, the default for such roles); the recreation of
// one instance does not hide the failures of the others.
func TestRecreateInstance(t *testing.T) {
	now := t0.Time.Add(time.Hour)
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("router", 1).Role("decode", 2).Size(2).Obj()
	instancePod := func(i, j int32, created time.Time, restarts int32) corev1.Pod {
		return memberPod("decode", i, j, created, restarts)
	}
	if p := restartPolicyOf(g, &g.Spec.Roles[1]); p != rbgsv1.RestartRecreateInstance {
		t.Errorf("policy of a role of size 2: %s", p)
	}
	if p := restartPolicyOf(g, &g.Spec.Roles[0]); p != rbgsv1.RestartNone {
		t.Errorf("policy of a role of size 1: %s", p)
	}
	since := metav1.NewTime(t0.Time)
	g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhaseRunning,
		Roles: []rbgsv1.RoleStatus{{Role: "router"}, {Role: "decode", RecreateSince: &since}}}
	pods := []corev1.Pod{
		instancePod(0, 0, now.Add(-time.Hour), 0), instancePod(0, 1, now.Add(-time.Hour), 0),
		instancePod(1, 0, now.Add(-time.Hour), 0), instancePod(1, 1, now.Add(-time.Hour), 2),
	}
	objs := []client.Object{g}
	for i := range pods {
		objs = append(objs, &pods[i])
	}
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(objs...).WithStatusSubresource(g).Build()
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: rec, Clock: clocktesting.NewFakeClock(now), Memo: apply.NewMemo()}
	st := g.Status
	rc := planRestart(g, &st, pods, nil, metav1.NewTime(now), noInstance)
	if rc == nil {
		t.Fatal("no recreation planned")
	}
	if err := r.deletePods(context.Background(), rc.pods); err != nil {
		t.Fatal(err)
	}
	rc.record(&st, metav1.NewTime(now))
	r.announce(g, rc, true, &st)
	var left corev1.PodList
	if err := c.List(context.Background(), &left); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	if want := []string{"g-decode-0-0", "g-decode-0-1"}; !slices.Equal(names, want) {
		t.Errorf("pods left %v, want instance 0's", names)
	}
	if l := st.LastRestart; st.Restarts != 1 || l == nil || l.Role != "decode" || l.Instance == nil || *l.Instance != 1 ||
		l.Reason != "pod g-decode-1-1 of role decode restarted container main (2 restarts)" {
		t.Errorf("status %+v, last %+v", st, l)
	}
	if e := <-rec.Events; !strings.Contains(e, "InstanceRecreated") || !strings.Contains(e, "recreating the pods of instance 1 of role decode") {
		t.Errorf("event %q", e)
	}

	// After the recreation, instance 0's old pod fails: it counts (not an
	// old pod of the recreated instance), and waits for the backoff; a
	// failure of a pod of instance 1 from before the recreation does not.
	g.Status = st
	later := now.Add(2 * time.Second)
	if d := decideRestart(g, &st, []corev1.Pod{instancePod(1, 0, now.Add(-time.Minute), 1)}, nil, later); d.failure != "" {
		t.Errorf("an old pod of the recreated instance counted: %+v", d)
	}
	d := decideRestart(g, &st, []corev1.Pod{instancePod(0, 1, now.Add(-time.Hour), 1)}, nil, later)
	if d.failure == "" || d.scope.role != "decode" || d.scope.instance == nil || *d.scope.instance != 0 || d.scope.ordinal || d.wait != 8*time.Second {
		t.Errorf("instance 0's failure after instance 1's recreation: %+v", d)
	}
}

// memberPod is pod j of instance i of role of group g, created at created,
// its container restarted restarts times.
func memberPod(role string, i, j int32, created time.Time, restarts int32) corev1.Pod {
	p := pod(fmt.Sprintf("g-%s-%d-%d", role, i, j), role, created, restarts)
	p.Namespace, p.UID = "ns", types.UID(p.Name)
	p.Labels[rbgsv1.LabelGroupName] = "g"
	p.Labels[rbgsv1.LabelInstance] = strconv.Itoa(int(i))
	p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(int(j))
	return p
}

// A disruption is recreated once. The pods of the last recreation came
// back within the second of its lastRestart, so their creation cannot
// tell them from its pods: a reconcile whose cache still shows the
// instance at its size is told by the UIDs the recreation left behind; a
// fresh operator, by the instance already emptied or the pods already
// going. Pods gone from the cache are forgotten.
func TestDisruptionRecreatedOnce(t *testing.T) {
	now := t0.Time.Add(time.Hour)
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("worker", 1).Size(2).Obj()
	since := metav1.NewTime(t0.Time)
	g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhaseRunning, Restarts: 1,
		LastRestart: &rbgsv1.GroupRestart{Time: metav1.NewTime(now), Reason: "earlier", Role: "worker", Instance: new(int32(0))},
		Roles:       []rbgsv1.RoleStatus{{Role: "worker", RecreateSince: &since}}}
	evicted := memberPod("worker", 0, 1, now, 0)
	evicted.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}}
	pods := []corev1.Pod{memberPod("worker", 0, 0, now, 0), evicted}
	tp := topology.Resolve(g)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: tp.Role("worker").Instances[0].Workload}, Spec: appsv1.StatefulSetSpec{Replicas: new(int32(2))}}
	obs := &observation{g: g, t: tp, ch: &children{statefulSets: map[string]*appsv1.StatefulSet{sts.Name: sts}, pods: pods},
		now: metav1.NewTime(now.Add(500 * time.Millisecond))}
	plan := func() *recreation {
		st := g.Status
		return planRestart(g, &st, obs.restartable(), obs.whole, obs.now, obs.instanceOf)
	}

	rc := plan()
	if rc == nil || rc.instance != sts || !rc.decision.disrupted || len(rc.scope) != 2 {
		t.Fatalf("the eviction does not empty its instance: %+v", rc)
	}
	r := &Reconciler{}
	r.rememberRecreated("ns/g", nil, rc.scope)
	obs.recreated = r.recreatedOf(g, pods)
	if rc := plan(); rc != nil {
		t.Errorf("recreated again from a cache that has seen neither the status nor the scale: %+v", rc.decision)
	}

	obs.recreated = nil
	sts.Spec.Replicas = new(int32(0))
	if rc := plan(); rc == nil || rc.now() {
		t.Errorf("an emptied instance recreated again: %+v", rc)
	}
	sts.Spec.Replicas = new(int32(2))
	for i := range pods {
		pods[i].DeletionTimestamp = &obs.now
	}
	delete(obs.ch.statefulSets, sts.Name)
	if rc := plan(); rc == nil || rc.now() {
		t.Errorf("pods being deleted deleted again: %+v", rc)
	}

	if got := r.recreatedOf(g, pods[:1]); len(got) != 1 || !got[pods[0].UID] {
		t.Errorf("kept %v, want the pod the cache still shows", got)
	}
	if got := r.recreatedOf(g, nil); got != nil {
		t.Errorf("kept %v once the cache shows none of the pods", got)
	}
	if _, ok := r.recreated.Load("ns/g"); ok {
		t.Error("the group's entry outlives its pods")
	}
}

// noInstance finds no StatefulSet of an instance.
func noInstance(podScope) (*appsv1.StatefulSet, bool) { return nil, false }
