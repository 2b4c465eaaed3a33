package main

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMarkdownRow(t *testing.T) {
	r := sizeResult{
		Groups: 1000, Pods: 4000, Objects: 7001,
		FloorAllAtOnce: phase{Seconds: 146.8}, FloorOrdered: phase{Seconds: 177.9},
		FloorControlPlaneCPU:    map[string]float64{"kube-scheduler": 42.5},
		OperatorControlPlaneCPU: map[string]float64{"kube-scheduler": 56.1},
		PodsReady:               operatorPhase{Seconds: 295.8},
		SetReadyAfterPods:       2.39, SetReadyAfterStatefulSets: 0.14,
		ScaleUp: operatorPhase{Seconds: 150}, FloorScaleUp: phase{Seconds: 125},
		FloorOrderedServer: 176, PodsReadyServer: 220, SetReadyServer: 222,
	}
	r.PodsReady.Counts.Writes = 9165
	md := markdown([]sizeResult{r})
	for _, want := range []string{
		"| 1000 | 4000 | 176 / 220 s (1.25x) | 222 s | 146.8 s | 177.9 s | 295.8 s | 1.66x | 1.32x | 2.39 s (0.14 s) | 9165 (7001) |",
		"| 150.0 / 125.0 s (1.20x) | 0.0 / 0.0 s (–) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestLastPodReady(t *testing.T) {
	at := func(sec int, status corev1.ConditionStatus) corev1.Pod {
		var p corev1.Pod
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Hour))},
			{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.NewTime(t0.Add(time.Duration(sec) * time.Second))},
		}
		return p
	}
	last, ready := lastPodReady([]corev1.Pod{at(3, corev1.ConditionTrue), at(9, corev1.ConditionTrue), at(20, corev1.ConditionFalse)})
	if ready != 2 || !last.Equal(t0.Add(9*time.Second)) {
		t.Errorf("last Ready %s, %d Ready; want t0+9s, 2", last, ready)
	}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Per-group costs are taken above the idle operator and above the previous
// size, and 10,000 groups are extrapolated at the rate between the two
// largest sizes.
func TestPerGroupCosts(t *testing.T) {
	row := func(groups int, cpu, rss float64, writes int) sizeResult {
		r := sizeResult{Groups: groups, CreateCPUSeconds: cpu, CreatePeakRSSMiB: rss, IdleCPUSeconds: 0.5, IdleRSSMiB: 40}
		r.PodsReady.Counts.Writes = writes
		return r
	}
	md := markdown([]sizeResult{row(10, 0.8, 46, 82), {Groups: 5}, row(1000, 40.4, 145, 8200)})
	for _, want := range []string{
		"| 10 | 30.0 / – | 8.20 | 614.4 / – |",
		"| 1000 | 39.9 / 40.0 | 8.20 | 107.5 / 102.4 |",
		"At 10000 groups, from the figures at 1000 and the rate between the two largest sizes: about 400 operator CPU seconds, 82000 writes and 1045 MiB of memory at creation.",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| 5 | 0.0 / – |") {
		t.Errorf("a row without idle figures has per-group costs:\n%s", md)
	}
}

// Variants of the operator and instance sizes are labelled, and sizes are
// compared only within one kind.
func TestPerGroupCostsByKind(t *testing.T) {
	row := func(groups int, variant string, cpu float64) sizeResult {
		r := sizeResult{Groups: groups, Variant: variant, CreateCPUSeconds: cpu, CreatePeakRSSMiB: 100, IdleCPUSeconds: 0.5, IdleRSSMiB: 40}
		r.PodsReady.Counts.Writes = 8 * groups
		return r
	}
	multi := row(125, "", 6)
	multi.InstanceSize = 2
	md := markdown([]sizeResult{row(100, "json", 3), row(100, "protobuf", 2), row(1000, "json", 30), row(1000, "protobuf", 20), multi})
	for _, want := range []string{
		"| 1000 (json) | 29.5 / 30.0 |",
		"| 1000 (protobuf) | 19.5 / 20.0 |",
		"| 125 (instances of 2) | 44.0 / – |",
		"At 10000 groups (protobuf), from the figures at 1000",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
