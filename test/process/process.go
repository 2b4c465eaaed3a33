// Package process starts and stops the operator binary for the end-to-end
// tests and the benchmark.
package process

import (
	"os/exec"
	"syscall"
	"time"
)

// Stop ends cmd's process, SIGKILL when kill, else SIGTERM followed by
// SIGKILL after grace, and waits for it.
func Stop(cmd *exec.Cmd, kill bool, grace time.Duration) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

// DieWithParent makes cmd's process get SIGKILL when the process that
// started it ends, even by a panic, so no operator outlives its test.
func DieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
