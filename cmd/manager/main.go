// Command manager runs the rbgs operator: the RoleBasedGroup and
// RoleBasedGroupSet controllers.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/openpatio/rbgs/internal/manager"
)

func main() {
	// The defaults suit a run on a developer's machine next to the local
	// cluster; the install manifests pass in-cluster values.
	var o manager.Options
	var qps float64
	var burst int
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", "127.0.0.1:18080", "address of the metrics endpoint (\"0\" disables it)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", "127.0.0.1:18081", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader so only one replica reconciles")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's own)")
	flag.StringVar(&o.Namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.IntVar(&o.GroupWorkers, "group-workers", 64, "groups reconciled in parallel")
	flag.IntVar(&o.SetWorkers, "set-workers", 4, "sets reconciled in parallel")
	flag.DurationVar(&o.GroupStatusInterval, "group-status-interval", 10*time.Second,
		"least time between two status writes of a group that change only counts and messages")
	flag.DurationVar(&o.SetStatusInterval, "set-status-interval", time.Second,
		"least time between two status writes of a set that change only counts")
	flag.Float64Var(&qps, "kube-api-qps", 500, "steady requests per second to the API server")
	flag.IntVar(&burst, "kube-api-burst", 1000, "burst of requests to the API server")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading kubeconfig")
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, cfg, o)
	if err == nil {
		log.Info("starting", "host", cfg.Host)
		err = mgr.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
