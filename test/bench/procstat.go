package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// processStats reads a process's CPU seconds (user + system) and peak
// resident memory from /proc.
func processStats(pid int) (cpuSeconds float64, peakRSSMiB float64, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	const ticks = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			peakRSSMiB = kb / 1024
		}
	}
	return (utime + stime) / ticks, peakRSSMiB, nil
}

// controlPlaneCPU sums the CPU seconds of the local cluster's processes
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok),
// found through the pid files hack/cluster.sh writes.
func controlPlaneCPU(clusterDir string) map[string]float64 {
	out := map[string]float64{}
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		raw, err := os.ReadFile(clusterDir + "/pids/" + name + ".pid")
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
		if err != nil {
			continue
		}
		if cpu, _, err := processStats(pid); err == nil {
			out[name] = cpu
		}
	}
	return out
}

// cpuSince is the CPU each control plane process used since before.
func cpuSince(clusterDir string, before map[string]float64) map[string]float64 {
	now := controlPlaneCPU(clusterDir)
	for k, v := range now {
		now[k] = float64(int((v-before[k])*10)) / 10
	}
	return now
}
