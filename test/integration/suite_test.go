// Package integration runs the operator's controllers, wired as in
// production, against a real kube-apiserver and etcd (envtest). envtest runs
// no built-in controllers: the tests play the StatefulSet controller by
// writing workload status themselves.
package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/manager"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/wrappers"
)

var (
	// cfg reaches the test API server as an administrator.
	cfg *rest.Config
	// k8s reads and writes directly, with no cache.
	k8s client.Client
	// k8sWatch is k8s that also watches.
	k8sWatch client.WithWatch
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Errors only: the reconcilers are quiet at the default level anyway.
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		// The API server calls the operator's webhook, served below, with
		// certificates envtest makes.
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = filepath.Join(root, "bin")
	}
	// The API server serves the Workload API (PodGroups), as the local
	// clusters do; gangs_test.go starts one without it.
	servePodGroups(env.ControlPlane.GetAPIServer())
	// Stop also after a failed start: envtest may have started etcd and the
	// API server before failing to install the CRDs.
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	var err error
	cfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest (run `hack/tools.sh etcd kube-apiserver kubectl` first):", err)
		return 1
	}
	scheme, err := rbgsscheme.New()
	if err == nil {
		k8sWatch, err = client.NewWithWatch(cfg, client.Options{Scheme: scheme})
		k8s = k8sWatch
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The operator's requests are recorded to check their wire format
	// (wire_test.go).
	opCfg := rest.CopyConfig(cfg)
	opCfg.Wrap(operatorWire.wrap)
	stop, err := startOperator(opCfg, &manager.WebhookOptions{
		Host:    env.WebhookInstallOptions.LocalServingHost,
		Port:    env.WebhookInstallOptions.LocalServingPort,
		CertDir: env.WebhookInstallOptions.LocalServingCertDir,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return m.Run()
}

// servePodGroups turns on the Workload API of api: PodGroups, gang
// scheduling and topology constraints.
func servePodGroups(api *envtest.APIServer) {
	api.Configure().
		Append("feature-gates", "GenericWorkload=true,TopologyAwareWorkloadScheduling=true").
		Append("runtime-config", "scheduling.k8s.io/v1beta1=true")
}

// startOperator runs the operator in this process against the API server
// cfg reaches until the returned stop is called, and waits until its
// webhook, if any, answers.
func startOperator(cfg *rest.Config, wh *manager.WebhookOptions) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.Background())
	mgr, err := manager.New(ctx, cfg, manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", GroupWorkers: 4, SetWorkers: 2, SkipNameValidation: true,
		GroupStatusInterval: 200 * time.Millisecond, SetStatusInterval: 200 * time.Millisecond,
		Webhook: wh,
	})
	if err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "operator stopped:", err)
		}
	}
	if wh == nil {
		return stop, nil
	}
	addr := net.JoinHostPort(wh.Host, strconv.Itoa(wh.Port))
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Since(start) > 30*time.Second {
			stop()
			return nil, fmt.Errorf("webhook at %s not serving: %w", addr, err)
		}
	}
	return stop, nil
}

// namespace creates a namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: strings.Trim(name, "-") + "-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

const (
	timeout = 20 * time.Second
	tick    = 50 * time.Millisecond
)

// eventually retries f until it returns nil, failing the test with f's last
// error after the timeout.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(tick)
	}
}

func get(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

// markStatefulSetReady plays the StatefulSet controller: every replica
// exists, is Ready and runs the current template.
func markStatefulSetReady(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "marking StatefulSet "+name+" ready", func() error { return statefulSetReady(ns, name) })
}

// statefulSetReady writes the status kube-controller-manager would write
// once every pod of StatefulSet ns/name runs its current generation.
func statefulSetReady(ns, name string) error {
	var s appsv1.StatefulSet
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return err
	}
	n := *s.Spec.Replicas
	rev := fmt.Sprintf("%s-%d", name, s.Generation)
	want := appsv1.StatefulSetStatus{
		ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n,
		CurrentReplicas: n, UpdatedReplicas: n, CurrentRevision: rev, UpdateRevision: rev,
	}
	if equality.Semantic.DeepEqual(s.Status, want) {
		return nil
	}
	s.Status = want
	return k8s.Status().Update(context.Background(), &s)
}

// markStatefulSetUnready plays a pod failing: one replica fewer is Ready.
func markStatefulSetUnready(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "marking StatefulSet "+name+" unready", func() error {
		var s appsv1.StatefulSet
		if err := get(t, ns, name, &s); err != nil {
			return err
		}
		s.Status.ReadyReplicas--
		s.Status.AvailableReplicas--
		return k8s.Status().Update(context.Background(), &s)
	})
}

func markDeploymentReady(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "marking Deployment "+name+" ready", func() error {
		var d appsv1.Deployment
		if err := get(t, ns, name, &d); err != nil {
			return err
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n, UpdatedReplicas: n,
		}
		return k8s.Status().Update(context.Background(), &d)
	})
}

// groupPhase waits until the group reports phase at its current generation.
func groupPhase(t *testing.T, ns, name string, phase rbgsv1.GroupPhase) *rbgsv1.RoleBasedGroup {
	t.Helper()
	var g rbgsv1.RoleBasedGroup
	eventually(t, "group "+name+" "+string(phase), func() error {
		if err := get(t, ns, name, &g); err != nil {
			return err
		}
		if g.Status.ObservedGeneration != g.Generation || g.Status.Phase != phase {
			return fmt.Errorf("phase %q at generation %d/%d", g.Status.Phase, g.Status.ObservedGeneration, g.Generation)
		}
		return nil
	})
	return &g
}

func exists(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	return get(t, ns, name, obj)
}

func absent(t *testing.T, ns, name string, obj client.Object) error {
	t.Helper()
	err := get(t, ns, name, obj)
	if err == nil {
		return fmt.Errorf("%T %s exists", obj, name)
	}
	return client.IgnoreNotFound(err)
}

func objectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// withoutWebhook runs f with the webhook registration removed, as on a
// cluster where it was never installed, and puts it back afterwards.
func withoutWebhook(t *testing.T, f func()) {
	t.Helper()
	ctx := context.Background()
	var l admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := k8s.List(ctx, &l); err != nil {
		t.Fatal(err)
	}
	for i := range l.Items {
		if err := k8s.Delete(ctx, &l.Items[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The API server sees registrations change through a watch: wait until
	// it admits, or again refuses, a set the webhook would refuse.
	refused := func() bool {
		probe := wrappers.MakeSet("webhook-probe", "default").Role("a", 1, "b").Role("b", 1, "a").Obj()
		return k8s.Create(ctx, probe, client.DryRunAll) != nil
	}
	defer func() {
		for i := range l.Items {
			c := l.Items[i].DeepCopy()
			c.ResourceVersion, c.UID = "", ""
			if err := k8s.Create(ctx, c); err != nil {
				t.Fatalf("restoring webhook registration: %v", err)
			}
		}
		eventually(t, "webhook registration restored", func() error {
			if !refused() {
				return fmt.Errorf("a set with a dependency cycle is admitted")
			}
			return nil
		})
	}()
	eventually(t, "webhook registration removed", func() error {
		if refused() {
			return fmt.Errorf("a set with a dependency cycle is refused")
		}
		return nil
	})
	f()
}
