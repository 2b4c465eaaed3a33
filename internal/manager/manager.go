// Package manager wires the operator: scheme, cache, clients and
// controllers. The manager command and the integration tests both build the
// operator through New, so the tests run the production wiring.
package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/internal/controller/scaler"
	"github.com/openpatio/rbgs/internal/controller/set"
	"github.com/openpatio/rbgs/internal/metrics"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/internal/status"
	rbgswebhook "github.com/openpatio/rbgs/internal/webhook"
)

// Options configure the operator.
type Options struct {
	MetricsAddr string
	ProbeAddr   string
	// PprofAddr serves net/http/pprof when set ("" or "0" disables it).
	PprofAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	Namespace               string // watch only this namespace; empty for all
	GroupWorkers            int
	SetWorkers              int
	// GroupStatusInterval and SetStatusInterval bound how often a status is
	// rewritten for changes of counts alone; phase and condition changes
	// are written at once.
	GroupStatusInterval time.Duration
	SetStatusInterval   time.Duration
	// Webhook configures the validating webhook; nil runs without it.
	Webhook *WebhookOptions
	// SkipNameValidation lets tests start several managers in one process.
	SkipNameValidation bool
}

// WebhookOptions configure the validating webhook server.
type WebhookOptions struct {
	Host string
	Port int
	// Certs, when set, makes the operator create and rotate its own serving
	// certificate; otherwise the certificate must already be in
	// Certs.CertDir (or CertDir below).
	Certs   *rbgswebhook.CertOptions
	CertDir string
}

// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=rbgs-system,resources=leases,verbs=get;create;update
// +kubebuilder:rbac:groups="",namespace=rbgs-system,resources=events,verbs=create;patch

// podGroupAPIInterval is how often the operator asks whether the cluster
// serves PodGroups, while a group asks for gangs.
const podGroupAPIInterval = time.Minute

// leaseConfig is cfg for the leader election client alone (leases and
// the events of their changes: built-in kinds).
func leaseConfig(cfg *rest.Config) *rest.Config {
	c := rbgsscheme.BuiltinKinds(cfg)
	c.QPS, c.Burst = 20, 40
	return c
}

// New builds the operator's manager with its controllers registered.
func New(ctx context.Context, cfg *rest.Config, o Options) (ctrl.Manager, error) {
	scheme, err := rbgsscheme.New()
	if err != nil {
		return nil, err
	}
	gangs, err := servesPodGroups(cfg)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:  o.ProbeAddr,
		PprofBindAddress:        o.PprofAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "rbgs.openpatio.io",
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		// The lease has its own client and rate limit, so a busy operator
		// never loses its lease waiting behind its own requests; a
		// replica that stops releases it, so the next takes over at once.
		LeaderElectionConfig:          leaseConfig(cfg),
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cacheOptions(o.Namespace, gangs),
		Client: client.Options{Cache: &client.CacheOptions{
			// A read after our own write waits for the cache to see it, so a
			// stale cache never repeats a write.
			EnableReadYourWritesConsistency: new(true),
		}},
		Controller:    config.Controller{SkipNameValidation: new(o.SkipNameValidation)},
		WebhookServer: webhookServer(o.Webhook),
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	if err := setupControllers(ctx, mgr, o, gangs); err != nil {
		return nil, err
	}
	if err := setupProbesAndWebhook(mgr, o.Webhook); err != nil {
		return nil, err
	}
	return mgr, nil
}

// setupControllers registers the group, set and RoleScaler controllers;
// gangs says whether the cluster served PodGroups at start.
func setupControllers(ctx context.Context, mgr ctrl.Manager, o Options, gangs bool) error {
	m := metrics.Global()
	statuses := func() *status.Writer { return &status.Writer{Client: mgr.GetClient(), Clock: clock.RealClock{}} }
	groups := &group.Reconciler{
		Client:   mgr.GetClient(),
		Reader:   mgr.GetAPIReader(),
		Scheme:   mgr.GetScheme(),
		Recorder: boundedRecorder{mgr.GetEventRecorder("rbgs-group-controller")},
		Clock:    clock.RealClock{},
		Memo:     apply.NewMemo(),
		Statuses: statuses(),

		StatusInterval: o.GroupStatusInterval,
		Metrics:        m,
		Gangs:          gangs,
		PodGroups:      &group.PodGroupAPI{Mapper: mgr.GetRESTMapper(), Clock: clock.RealClock{}, Interval: podGroupAPIInterval},
	}
	if err := groups.SetupWithManager(ctx, mgr, o.GroupWorkers); err != nil {
		return err
	}
	sets := &set.Reconciler{
		Client:   mgr.GetClient(),
		Reader:   mgr.GetAPIReader(),
		Scheme:   mgr.GetScheme(),
		Recorder: boundedRecorder{mgr.GetEventRecorder("rbgs-set-controller")},
		Clock:    clock.RealClock{},
		Memo:     apply.NewMemo(),
		Statuses: statuses(),

		StatusInterval: o.SetStatusInterval,
		Metrics:        m,
	}
	if err := sets.SetupWithManager(ctx, mgr, o.SetWorkers); err != nil {
		return err
	}
	scalers := &scaler.Reconciler{Client: mgr.GetClient(), Clock: clock.RealClock{}, Statuses: statuses(), StatusInterval: o.SetStatusInterval}
	return scalers.SetupWithManager(ctx, mgr)
}

// setupProbesAndWebhook registers the health probes and, with w, the
// validating webhook, whose server readiness gates readyz.
func setupProbesAndWebhook(mgr ctrl.Manager, w *WebhookOptions) error {
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	ready := healthz.Ping
	if w != nil {
		var err error
		if w.Certs != nil {
			err = rbgswebhook.SetupWithCerts(mgr, *w.Certs)
		} else {
			err = rbgswebhook.Setup(mgr)
		}
		if err != nil {
			return err
		}
		ready = mgr.GetWebhookServer().StartedChecker()
	}
	return mgr.AddReadyzCheck("readyz", ready)
}

func webhookServer(o *WebhookOptions) ctrlwebhook.Server {
	if o == nil {
		return nil
	}
	opts := ctrlwebhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir}
	if o.Certs != nil {
		// The operator writes its certificate after it starts.
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
			c.GetCertificate = rbgswebhook.LazyCertificate(o.Certs.CertDir)
		}}
	}
	return ctrlwebhook.NewServer(opts)
}

// podsOfGroups selects the pods of every group (created by its workloads,
// which do not carry the managed-by label).
var podsOfGroups = func() labels.Selector {
	req, err := labels.NewRequirement(rbgsv1.LabelGroupName, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return labels.NewSelector().Add(*req)
}()

// servesPodGroups reports whether the cluster serves the Workload API's
// PodGroups (scheduling.k8s.io/v1beta1), which gang scheduling needs: the
// operator then caches and watches those it creates.
func servesPodGroups(cfg *rest.Config) (bool, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return false, fmt.Errorf("discovery client: %w", err)
	}
	list, err := dc.ServerResourcesForGroupVersion(schedulingv1beta1.SchemeGroupVersion.String())
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("discovering %s: %w", schedulingv1beta1.SchemeGroupVersion, err)
	}
	return slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Kind == "PodGroup" }), nil
}

// cacheOptions caches only what the operator manages: its own kinds, and
// workloads, Services, ConfigMaps and (when gangs, see servesPodGroups)
// PodGroups carrying its managed-by label. Managed fields are dropped from
// cached objects to save memory, all but a marker of the operator's own
// creates (see apply.StripManagedFields).
func cacheOptions(namespace string, gangs bool) cache.Options {
	managed := cache.ByObject{Label: labels.SelectorFromSet(labels.Set{rbgsv1.LabelManagedBy: rbgsv1.ManagedByValue})}
	o := cache.Options{
		DefaultTransform: apply.StripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&appsv1.StatefulSet{}:           managed,
			&appsv1.Deployment{}:            managed,
			&corev1.Service{}:               managed,
			&corev1.ConfigMap{}:             managed,
			&policyv1.PodDisruptionBudget{}: managed,
			// Pods of every group, trimmed to what restartPolicy reads.
			&corev1.Pod{}: {Label: podsOfGroups, Transform: group.TrimPod},
		},
	}
	if gangs {
		o.ByObject[&schedulingv1beta1.PodGroup{}] = managed
	}
	if namespace != "" {
		o.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return o
}
