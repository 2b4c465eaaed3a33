package main

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

func TestParseRolloutStrategies(t *testing.T) {
	got, err := parseRolloutStrategies("10%:0, 0:10%")
	if err != nil || len(got) != 2 || got[0] != (rolloutStrategy{"10%", "0"}) || got[1] != (rolloutStrategy{"0", "10%"}) {
		t.Errorf("parsed %v, %v", got, err)
	}
	if _, err := parseRolloutStrategies("10%"); err == nil || !strings.Contains(err.Error(), "maxUnavailable:maxSurge") {
		t.Errorf("a pair without its colon: %v", err)
	}
}

func TestRolloutTable(t *testing.T) {
	r := rolloutResult{Groups: 250, MaxUnavailable: "0", MaxSurge: "10%", Surge: 25, FloorSeconds: 50, OperatorSeconds: 70, OperatorAgainSeconds: 60,
		FloorLeastWhole: 250, OperatorLeastWhole: 250, OperatorAgainLeastWhole: 250, OperatorCPUSeconds: 14.6}
	r.OperatorCounts.Writes, r.OperatorAgainCounts.Writes = 2642, 1900
	if want, md := "| 250 | 0 (0) | 10% (25) | 50.0 s | 70.0 / 60.0 s | 1.40x / 1.20x | 250 / 250 / 250 | 2642 / 1900 | 14.6 |", rolloutTable([]rolloutResult{r}); !strings.Contains(md, want) {
		t.Errorf("table lacks %q:\n%s", want, md)
	}
}

// The tracker counts a group whole while all of its pods are Ready, and
// keeps the fewest whole groups seen once asked to.
func TestTrackerWholeGroups(t *testing.T) {
	tr := emptyTracker()
	pod := func(group string, i int, ready bool) *corev1.Pod {
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("%s-%d", group, i), Labels: map[string]string{rbgsv1.LabelGroupName: group}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Image: "v1"}}},
			Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
		}
	}
	for _, g := range []string{"a", "b"} {
		for i := range podsEach {
			tr.pod(pod(g, i, true), false)
		}
	}
	tr.startWhole("ns")
	tr.pod(pod("a", 0, false), false) // a pod of a turns unready: a is not whole
	tr.pod(pod("a", 0, true), false)
	tr.pod(pod("b", 1, true), true) // a pod of b is deleted
	if got := tr.leastWholeOf("ns"); got != 1 {
		t.Errorf("fewest whole groups %d, want 1", got)
	}
	if tr.whole["ns"] != 1 || tr.readyByGroup("ns", "v1")["a"] != podsEach || tr.livePods("ns") != 2*podsEach-1 {
		t.Errorf("whole %d, Ready pods of a %d, pods %d", tr.whole["ns"], tr.readyByGroup("ns", "v1")["a"], tr.livePods("ns"))
	}
}
