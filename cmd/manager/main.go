// Command manager runs the rbgs operator: the RoleBasedGroup and
// RoleBasedGroupSet controllers and their validating webhook.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/openpatio/rbgs/internal/manager"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/internal/webhook"
)

// inCluster reports whether the operator runs in a pod.
func inCluster() bool {
	_, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && err == nil
}

// gcPercent is the garbage collector's target unless GOGC says otherwise.
// Most of the operator's heap is its cache, which lives as long as the
// process; with Go's default of 100 the heap grows to twice that before a
// collection. 50 lowers the peak to 1.5 times the cache for a little more
// CPU: at 1,000 groups (4,000 pods) the collector takes about 9 % of the
// operator's CPU at 100, and the peak RSS drops from about 150 MiB to 116.
const gcPercent = 50

// settings are the operator's options as its flags give them.
type settings struct {
	o                      manager.Options
	webhook                manager.WebhookOptions
	qps                    float64
	burst                  int
	compression, withHooks bool
	contentType            string
	local                  bool
	namespace              string
}

// parseFlags reads the command line. The defaults suit both a run on a
// developer's machine next to the local cluster (loopback addresses, no
// leader election, webhook at https://localhost:19443) and a pod (leader
// election on, webhook on all interfaces with its certificate mounted from
// a Secret).
func parseFlags() (*settings, *zap.Options) {
	s := &settings{local: !inCluster(), namespace: os.Getenv("POD_NAMESPACE")}
	if s.namespace == "" {
		s.namespace = "rbgs-system"
	}
	metricsAddr, probeAddr, webhookHost := ":8080", ":8081", ""
	if s.local {
		metricsAddr, probeAddr, webhookHost = "127.0.0.1:18080", "127.0.0.1:18081", "127.0.0.1"
	}
	o, w := &s.o, &s.webhook
	w.Certs = &webhook.CertOptions{Local: s.local}
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", metricsAddr, "address of the metrics endpoint (\"0\" disables it)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", probeAddr, "address of the /healthz and /readyz endpoints")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of the Go profiler's endpoints (empty disables them)")
	flag.BoolVar(&o.LeaderElect, "leader-elect", !s.local, "elect a leader so only one replica reconciles (default on in a pod)")
	flag.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", s.namespace, "namespace of the leader election lease")
	flag.StringVar(&o.Namespace, "namespace", "", "watch only this namespace (default: all)")
	flag.IntVar(&o.GroupWorkers, "group-workers", 64, "groups reconciled in parallel")
	flag.IntVar(&o.SetWorkers, "set-workers", 4, "sets reconciled in parallel")
	flag.DurationVar(&o.GroupStatusInterval, "group-status-interval", 10*time.Second,
		"least time between two status writes of a group that change only counts and messages")
	flag.DurationVar(&o.SetStatusInterval, "set-status-interval", time.Second,
		"least time between two status writes of a set that change only counts")
	flag.Float64Var(&s.qps, "kube-api-qps", 500, "steady requests per second to the API server")
	flag.IntVar(&s.burst, "kube-api-burst", 1000, "burst of requests to the API server")
	flag.BoolVar(&s.compression, "kube-api-compression", false,
		"let the API server gzip its responses (off: the operator receives mostly watch events, which compression makes cost CPU at both ends)")
	flag.StringVar(&s.contentType, "kube-api-content-type", rbgsscheme.WireProtobuf,
		"wire format of requests to the API server: protobuf (for built-in kinds; the operator's own kinds are always JSON) or json")
	flag.BoolVar(&s.withHooks, "enable-webhook", true, "serve the validating webhook and manage its certificate")
	flag.StringVar(&w.Host, "webhook-host", webhookHost, "address the webhook listens on")
	flag.IntVar(&w.Port, "webhook-port", 19443, "port the webhook listens on")
	flag.StringVar(&w.Certs.CertDir, "webhook-cert-dir", "",
		"folder of the webhook's tls.crt and tls.key (default: the Secret's mount point in a pod, $TMPDIR/rbgs-webhook-certs-PORT outside)")
	flag.StringVar(&w.Certs.Secret.Name, "webhook-secret-name", "rbgs-webhook-cert", "Secret holding the webhook's CA and certificate")
	flag.StringVar(&w.Certs.ServiceName, "webhook-service-name", "rbgs-webhook-service", "Service in front of the webhook")
	flag.StringVar(&w.Certs.ConfigName, "webhook-config-name", "rbgs-validating-webhook-configuration",
		"ValidatingWebhookConfiguration to inject the CA into")
	zapOpts := &zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	return s, zapOpts
}

// options are the manager's options: with the webhook, its certificate
// folder and Secret resolved.
func (s *settings) options() manager.Options {
	o, w := s.o, s.webhook
	if !s.withHooks {
		return o
	}
	if w.Certs.CertDir == "" {
		w.Certs.CertDir = "/tmp/k8s-webhook-server/serving-certs"
		if s.local {
			// One folder per port: operators of several local clusters
			// may run side by side.
			w.Certs.CertDir = filepath.Join(os.TempDir(), fmt.Sprintf("rbgs-webhook-certs-%d", w.Port))
		}
	}
	w.Certs.Secret = types.NamespacedName{Namespace: s.namespace, Name: w.Certs.Secret.Name}
	w.Certs.LeaderElection = o.LeaderElect
	o.Webhook = &w
	return o
}

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	s, zapOpts := parseFlags()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(zapOpts)))
	log := ctrl.Log.WithName("setup")
	cfg, err := ctrl.GetConfig()
	if err != nil {
		log.Error(err, "loading kubeconfig")
		os.Exit(1)
	}
	cfg.QPS, cfg.Burst = float32(s.qps), s.burst
	cfg.DisableCompression = !s.compression
	if err := rbgsscheme.UseWire(cfg, s.contentType); err != nil {
		log.Error(err, "--kube-api-content-type")
		os.Exit(1)
	}
	o := s.options()
	ctx := ctrl.SetupSignalHandler()
	mgr, err := manager.New(ctx, cfg, o)
	if err == nil {
		log.Info("starting", "host", cfg.Host, "leaderElection", o.LeaderElect, "webhook", s.withHooks)
		err = mgr.Start(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
