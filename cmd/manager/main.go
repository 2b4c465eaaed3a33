// Command manager runs the rbgs operator: the RoleBasedGroup and
// RoleBasedGroupSet controllers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
)

// options are the manager's flags. The defaults suit a run on a developer's
// machine next to the local cluster; the install manifests set in-cluster
// values.
type options struct {
	metricsAddr  string
	probeAddr    string
	leaderElect  bool
	namespace    string
	groupWorkers int
	setWorkers   int
	qps          float64
	burst        int
}

func main() {
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", "127.0.0.1:18080", "address of the metrics endpoint (\"0\" disables it)")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", "127.0.0.1:18081", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader so only one replica reconciles")
	flag.StringVar(&o.namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.IntVar(&o.groupWorkers, "group-workers", 16, "groups reconciled in parallel")
	flag.IntVar(&o.setWorkers, "set-workers", 4, "sets reconciled in parallel")
	flag.Float64Var(&o.qps, "kube-api-qps", 200, "steady requests per second to the API server")
	flag.IntVar(&o.burst, "kube-api-burst", 400, "burst of requests to the API server")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))

	if err := run(ctrl.SetupSignalHandler(), o); err != nil {
		ctrl.Log.Error(err, "manager stopped")
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := rbgsv1.AddToScheme(scheme); err != nil {
		return err
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
		LeaderElection:         o.leaderElect,
		LeaderElectionID:       "rbgs.openpatio.io",
		Cache:                  cacheOptions(o.namespace),
		Client: client.Options{Cache: &client.CacheOptions{
			// A read after our own write waits for the cache to see it, so a
			// stale cache never repeats a write.
			EnableReadYourWritesConsistency: new(true),
		}},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	groups := &group.Reconciler{
		Client:   mgr.GetClient(),
		Scheme:   scheme,
		Recorder: mgr.GetEventRecorder("rbgs-group-controller"),
		Clock:    clock.RealClock{},
	}
	if err := groups.SetupWithManager(ctx, mgr, o.groupWorkers); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// cacheOptions caches only what the operator manages: its own kinds, and
// workloads, Services and ConfigMaps carrying its managed-by label. Managed
// fields are dropped from cached objects to save memory.
func cacheOptions(namespace string) cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{rbgsv1.LabelManagedBy: rbgsv1.ManagedByValue})}
	o := cache.Options{
		DefaultTransform: cache.TransformStripManagedFields(),
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.StatefulSet{}: managed,
			&appsv1.Deployment{}:  managed,
			&corev1.Service{}:     managed,
			&corev1.ConfigMap{}:   managed,
		},
	}
	if namespace != "" {
		o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return o
}
