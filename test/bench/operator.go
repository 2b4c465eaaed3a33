package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

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
	cmd := exec.Command(binary, append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
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
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = o.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = o.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = o.cmd.Process.Kill()
		<-done
	}
	o.log.Close()
	return cpu, rss
}
