package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
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

// auditLog counts the requests one user made, from the API server's audit
// log: server-side counts, which client metrics can miss.
type auditLog struct {
	path   string
	user   string
	offset int64
}

// requestCounts are the requests of one window, by verb.
type requestCounts struct {
	Requests int            `json:"requests"`
	Writes   int            `json:"writes"`
	ByVerb   map[string]int `json:"byVerb"`
	// Writes by "verb resource[/subresource]".
	WritesBy map[string]int `json:"writesBy"`
}

// mark starts a new window at the current end of the log.
func (a *auditLog) mark() error {
	st, err := os.Stat(a.path)
	if err != nil {
		return err
	}
	a.offset = st.Size()
	return nil
}

// count returns the user's requests since the last mark, and marks again.
func (a *auditLog) count() (requestCounts, error) {
	c := requestCounts{ByVerb: map[string]int{}, WritesBy: map[string]int{}}
	f, err := os.Open(a.path)
	if err != nil {
		return c, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return c, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	seen := map[string]bool{}
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			a.offset += int64(len(line))
			var e struct {
				AuditID string `json:"auditID"`
				Verb    string `json:"verb"`
				User    struct {
					Username string `json:"username"`
				} `json:"user"`
				ObjectRef struct {
					Resource    string `json:"resource"`
					Subresource string `json:"subresource"`
				} `json:"objectRef"`
			}
			if json.Unmarshal(line, &e) == nil && e.User.Username == a.user && !seen[e.AuditID] {
				seen[e.AuditID] = true
				c.Requests++
				c.ByVerb[e.Verb]++
				switch e.Verb {
				case "create", "update", "patch", "delete", "deletecollection":
					c.Writes++
					what := e.Verb + " " + e.ObjectRef.Resource
					if e.ObjectRef.Subresource != "" {
						what += "/" + e.ObjectRef.Subresource
					}
					c.WritesBy[what]++
				}
			}
		}
		if err != nil {
			break
		}
	}
	return c, nil
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
