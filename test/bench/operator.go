package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openpatio/rbgs/test/process"
)

// metricsAddr is where the measured operator serves its metrics.
const metricsAddr = "127.0.0.1:48080"

// latencies reads, from the operator's metrics, the mean of histograms that
// tell where its time goes: reconcile time and queue wait per controller,
// and waits of the client for its cache to see the operator's own writes.
func latencies() string {
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	sums, counts := map[string]float64{}, map[string]float64{}
	for line := range strings.Lines(string(raw)) {
		for _, name := range []string{"controller_runtime_reconcile_time_seconds", "workqueue_queue_duration_seconds",
			"controller_runtime_client_consistency_wait_duration_seconds"} {
			for suffix, m := range map[string]map[string]float64{"_sum": sums, "_count": counts} {
				if !strings.HasPrefix(line, name+suffix) {
					continue
				}
				labels, value, _ := strings.Cut(strings.TrimPrefix(line, name+suffix), " ")
				v, _ := strconv.ParseFloat(strings.TrimSpace(value), 64)
				m[name+labels] += v
			}
		}
	}
	var out []string
	for k, sum := range sums {
		if counts[k] > 0 {
			out = append(out, fmt.Sprintf("%s: %.0f x %.1f ms", k, counts[k], 1000*sum/counts[k]))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n  ")
}

// operator is a running bin/manager.
type operator struct {
	cmd *exec.Cmd
	log *os.File
}

func startOperator(binary, kubeconfig, logPath string, args ...string) (*operator, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, append([]string{"--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=0"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	process.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", binary, err)
	}
	return &operator{cmd: cmd, log: f}, nil
}

// stats are the CPU seconds and peak RSS of the process so far.
func (o *operator) stats() (float64, float64) {
	cpu, rss, err := processStats(o.cmd.Process.Pid)
	if err != nil {
		return -1, -1
	}
	return cpu, rss
}

// stop ends the process (kill: SIGKILL, else SIGTERM) and returns its final
// CPU seconds and peak RSS.
func (o *operator) stop(kill bool) (float64, float64) {
	cpu, rss := o.stats()
	process.Stop(o.cmd, kill, 15*time.Second)
	o.log.Close()
	return cpu, rss
}
