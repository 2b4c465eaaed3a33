package main

import (
	"fmt"
	"strings"
)

// markdown renders the results: one row per size and measure, with the
// operator's figure beside the floor's and their ratio. kube-scheduler does
// the same work in the ordered floor and in the operator's creation (the
// same pods), so the ratio of its CPU seconds tells how much the machine
// itself slowed between the two phases.
func markdown(results []sizeResult) string {
	var b strings.Builder
	ratio := func(op, floor float64) string {
		if floor <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2fx", op/floor)
	}
	b.WriteString("| groups | pods | server clock: ordered floor / operator pods Ready (ratio) | set Ready, server clock | watched: floor all at once | floor ordered | operator pods Ready | ratio | kube-scheduler CPU, operator / floor | set Ready after last pod (after last StatefulSet) | writes (objects) | CPU s at creation | peak RSS MiB: creation / run |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %d | %.0f / %.0f s (%s) | %.0f s | %.1f s | %.1f s | %.1f s | %s | %s | %.2f s (%.2f s) | %d (%d) | %.1f | %.0f / %.0f |\n",
			r.label(), r.Pods, r.FloorOrderedServer, r.PodsReadyServer, ratio(r.PodsReadyServer, r.FloorOrderedServer), r.SetReadyServer,
			r.FloorAllAtOnce.Seconds, r.FloorOrdered.Seconds, r.PodsReady.Seconds,
			ratio(r.PodsReady.Seconds, r.FloorOrdered.Seconds),
			ratio(r.OperatorControlPlaneCPU["kube-scheduler"], r.FloorControlPlaneCPU["kube-scheduler"]),
			r.SetReadyAfterPods, r.SetReadyAfterStatefulSets,
			r.PodsReady.Counts.Writes, r.Objects, r.CreateCPUSeconds, r.CreatePeakRSSMiB, r.PeakRSSMiB)
	}
	b.WriteString("\n| groups | scale-up +50%: operator / floor | rollout: operator / floor (all at once) | deletion: operator / floor | writes: no change | writes: restart | pods replaced by restart | API requests at creation | total CPU s |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %.1f / %.1f s (%s) | %.1f / %.1f s (%s) | %.1f / %.1f s (%s) | %d | %d | %d | %d | %.1f |\n",
			r.label(),
			r.ScaleUp.Seconds, r.FloorScaleUp.Seconds, ratio(r.ScaleUp.Seconds, r.FloorScaleUp.Seconds),
			r.Rollout.Seconds, r.FloorRollout.Seconds, ratio(r.Rollout.Seconds, r.FloorRollout.Seconds),
			r.Deletion.Seconds, r.FloorDeletion.Seconds, ratio(r.Deletion.Seconds, r.FloorDeletion.Seconds),
			r.NoChange.Counts.Writes, r.Restart.Counts.Writes, r.RestartPodsReplaced, r.PodsReady.Counts.Requests, r.CPUSeconds)
	}
	b.WriteString(perGroup(results))
	return b.String()
}

// perGroup renders what each group costs the operator at creation: CPU
// and memory above the idle operator, and above the previous (smaller)
// size, which leaves out what any size costs once; and writes. 10,000
// groups are extrapolated from the largest size at the rate between the
// two largest.
func perGroup(results []sizeResult) string {
	var b strings.Builder
	b.WriteString("\n| groups | operator CPU ms per group: above idle / above the previous size | writes per group | operator memory KiB per group: above idle / above the previous size |\n")
	b.WriteString("|---:|---:|---:|---:|\n")
	// Sizes are compared within one shape and variant of the operator.
	prev, last := map[string]sizeResult{}, map[string]sizeResult{}
	cpuRate, memRate := map[string]float64{}, map[string]float64{} // per group, between the last two sizes
	var kinds []string
	for _, r := range results {
		if r.Groups == 0 || r.IdleRSSMiB == 0 {
			continue // results of a harness that did not measure the idle operator
		}
		k := r.kind()
		if _, ok := last[k]; !ok {
			kinds = append(kinds, k)
		}
		n := float64(r.Groups)
		cpu, mem := 1000*(r.CreateCPUSeconds-r.IdleCPUSeconds)/n, 1024*(r.CreatePeakRSSMiB-r.IdleRSSMiB)/n
		cpuMore, memMore := "–", "–"
		if p := prev[k]; p.Groups > 0 && r.Groups > p.Groups {
			d := float64(r.Groups - p.Groups)
			cpuRate[k], memRate[k] = 1000*(r.CreateCPUSeconds-p.CreateCPUSeconds)/d, 1024*(r.CreatePeakRSSMiB-p.CreatePeakRSSMiB)/d
			cpuMore, memMore = fmt.Sprintf("%.1f", cpuRate[k]), fmt.Sprintf("%.1f", memRate[k])
		}
		fmt.Fprintf(&b, "| %s | %.1f / %s | %.2f | %.1f / %s |\n", r.label(), cpu, cpuMore, float64(r.PodsReady.Counts.Writes)/n, mem, memMore)
		prev[k], last[k] = r, r
	}
	for _, k := range kinds {
		l := last[k]
		if cpuRate[k] <= 0 {
			continue
		}
		const n = 10000
		more := float64(n - l.Groups)
		fmt.Fprintf(&b, "\nAt %d groups%s, from the figures at %d and the rate between the two largest sizes: about %.0f operator CPU seconds, %.0f writes and %.0f MiB of memory at creation.\n",
			n, k, l.Groups, l.CreateCPUSeconds+cpuRate[k]*more/1000,
			float64(l.PodsReady.Counts.Writes)/float64(l.Groups)*n, l.CreatePeakRSSMiB+memRate[k]*more/1024)
	}
	return b.String()
}

// kind names what r ran beside its size: its instance size and operator
// variant ("" for the seed's shape and the operator as it is).
func (r sizeResult) kind() string {
	var parts []string
	if r.InstanceSize > 1 {
		parts = append(parts, fmt.Sprintf("instances of %d", r.InstanceSize))
	}
	if r.Variant != "" {
		parts = append(parts, r.Variant)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// label is r's size and kind.
func (r sizeResult) label() string {
	return fmt.Sprintf("%d%s", r.Groups, r.kind())
}
