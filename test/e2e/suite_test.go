// Package e2e runs the operator binary against the full local cluster
// (hack/cluster.sh): the real StatefulSet controller, scheduler and garbage
// collector run, and kwok plays the kubelet. hack/e2e.sh starts the cluster,
// installs the CRDs and runs these tests; without RBGS_E2E_KUBECONFIG they
// are skipped.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/process"
	"github.com/openpatio/rbgs/test/wrappers"
)

var (
	restConfig *rest.Config
	k8s        client.Client
	root       string
	kubeconfig string
)

func TestMain(m *testing.M) {
	kubeconfig = os.Getenv("RBGS_E2E_KUBECONFIG")
	if kubeconfig == "" {
		fmt.Println("RBGS_E2E_KUBECONFIG is not set: skipping the end-to-end tests (run hack/e2e.sh)")
		os.Exit(0)
	}
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Join(filepath.Dir(file), "..", "..")
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The clients the tests build log nothing worth reading; without a
	// logger controller-runtime prints a stack trace in their place.
	ctrllog.SetLogger(logr.Discard())
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg.QPS, cfg.Burst = 100, 200
	restConfig = cfg
	scheme, err := rbgsscheme.New()
	if err == nil {
		k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if op, err = startOperator("manager"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := waitForWebhook(); err != nil {
		op.stop(false, true)
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	op.stop(false, code != 0)
	return code
}

// operatorProcess is one running bin/manager.
type operatorProcess struct {
	cmd     *exec.Cmd
	log     *os.File
	logPath string
}

// op is the operator the tests run against; tests that stop it start it
// again before they end.
var op *operatorProcess

// startOperator runs bin/manager, under its own identity when the cluster
// has one, logging to the cluster's log folder (name.log, appended).
func startOperator(name string, args ...string) (*operatorProcess, error) {
	opKubeconfig := os.Getenv("RBGS_E2E_OPERATOR_KUBECONFIG")
	if opKubeconfig == "" {
		opKubeconfig = kubeconfig
	}
	logDir := os.Getenv("RBGS_E2E_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	binary := os.Getenv("RBGS_E2E_MANAGER")
	if binary == "" {
		binary = filepath.Join(root, "bin", "manager")
	}
	args = append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...)
	if port := os.Getenv("RBGS_WEBHOOK_PORT"); port != "" && !slices.ContainsFunc(args, func(a string) bool {
		return strings.HasPrefix(a, "--webhook-port=")
	}) {
		args = append(args, "--webhook-port="+port)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+opKubeconfig)
	process.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting bin/manager (make build): %w", err)
	}
	return &operatorProcess{cmd: cmd, log: logFile, logPath: logPath}, nil
}

// stop ends the process: SIGKILL when kill, else SIGTERM (then SIGKILL
// after 10 s). With printLog, the end of its log goes to stderr.
func (o *operatorProcess) stop(kill, printLog bool) {
	process.Stop(o.cmd, kill, 10*time.Second)
	_ = o.log.Close()
	if printLog {
		tail, _ := exec.Command("tail", "-n", "40", o.logPath).Output()
		fmt.Fprintf(os.Stderr, "operator log (%s), last lines:\n%s\n", o.logPath, tail)
	}
}

// restartOperator stops the operator (SIGKILL when kill) and starts it
// again with args, returning once its webhook answers.
func restartOperator(t *testing.T, kill bool, args ...string) {
	t.Helper()
	op.stop(kill, false)
	var err error
	if op, err = startOperator("manager", args...); err != nil {
		t.Fatal(err)
	}
	if err := waitForWebhook(); err != nil {
		t.Fatal(err)
	}
}

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T, name string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = k8s.Delete(context.Background(), ns)
		}
	})
	return ns.Name
}

const tick = 100 * time.Millisecond

// eventually retries f until it returns nil or the timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(tick)
	}
}

func get(ns, name string, obj client.Object) error {
	return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// kubectl runs bin/kubectl against the cluster.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// waitForWebhook waits until the operator has made its certificate and the
// API server accepts a group through the webhook (a dry run creates nothing).
func waitForWebhook() error {
	g := wrappers.MakeGroup("webhook-probe", "default").Role("a", 1).Obj()
	var err error
	for start := time.Now(); time.Since(start) < 60*time.Second; time.Sleep(250 * time.Millisecond) {
		if err = k8s.Create(context.Background(), g.DeepCopy(), client.DryRunAll); err == nil {
			return nil
		}
	}
	return fmt.Errorf("the webhook did not answer within 60 s: %w", err)
}

// freeAddress is a 127.0.0.1 address with a port free right now.
func freeAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// settled waits until the operator serving metrics at addr has reconciled
// at least min[controller] times for each controller, and has nothing
// queued or in flight: proof that it processed everything it was told of
// since it started.
func settled(t *testing.T, addr string, min map[string]float64) {
	t.Helper()
	eventually(t, "operator settled", 120*time.Second, func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		if err != nil {
			return err
		}
		sum := func(family, label, value string) float64 {
			var total float64
			for _, m := range families[family].GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == label && l.GetValue() == value {
						total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
					}
				}
			}
			return total
		}
		for c, n := range min {
			if got := sum("controller_runtime_reconcile_total", "controller", c); got < n {
				return fmt.Errorf("%s reconciled %v times, want at least %v", c, got, n)
			}
			if depth, busy := sum("workqueue_depth", "name", c), sum("controller_runtime_active_workers", "controller", c); depth+busy > 0 {
				return fmt.Errorf("%s: %v queued, %v in flight", c, depth, busy)
			}
		}
		return nil
	})
}

// plugin runs the kubectl-rbgs binary (RBGS_E2E_PLUGIN) against the cluster
// and returns its output; the test fails if it exits non-zero.
func plugin(t *testing.T, args ...string) string {
	t.Helper()
	bin := os.Getenv("RBGS_E2E_PLUGIN")
	if bin == "" {
		bin = filepath.Join(root, "bin", "kubectl-rbgs")
	}
	cmd := exec.Command(bin, append(args, "--kubeconfig", kubeconfig)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl-rbgs %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
