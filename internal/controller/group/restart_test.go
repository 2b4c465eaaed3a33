package group

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := wrappers.MakeGroup("g", "ns").RestartPolicy(tc.policy, 5).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
			g.Spec.Roles[1].RestartPolicy = tc.role
			g.Status = tc.status
			d := decideRestart(g, tc.pods, now)
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
	out, err := TrimPod(&p)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := out.(*corev1.Pod)
	wantConditions := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if len(trimmed.Spec.Containers) != 0 || trimmed.Annotations != nil || !equality.Semantic.DeepEqual(trimmed.Status.Conditions, wantConditions) {
		t.Errorf("kept more than needed: %+v", trimmed)
	}
	if _, ok := trimmed.Labels["statefulset.kubernetes.io/pod-name"]; ok {
		t.Errorf("kept a label nothing reads: %v", trimmed.Labels)
	}
	if podFailure(trimmed) != podFailure(&p) || trimmed.Labels[rbgsv1.LabelRole] != "decode" || !slices.Equal(IndexPodGroup(trimmed), []string{"g"}) ||
		trimmed.Labels[appsv1.ControllerRevisionHashLabelKey] != "rev1" || !trimmed.CreationTimestamp.Equal(&p.CreationTimestamp) {
		t.Errorf("lost what restarts read: %+v", trimmed)
	}
}
