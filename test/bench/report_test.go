package main

import (
	"strings"
	"testing"
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
	}
	r.PodsReady.Counts.Writes = 9165
	md := markdown([]sizeResult{r})
	for _, want := range []string{
		"| 1000 | 4000 | 146.8 s | 177.9 s | 295.8 s | 1.66x | 1.32x | 2.39 s (0.14 s) | 9165 (7001) |",
		"| 150.0 / 125.0 s (1.20x) | 0.0 / 0.0 s (–) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
