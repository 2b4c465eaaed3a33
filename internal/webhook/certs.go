package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
)

// CertOptions say where the webhook's serving certificate lives.
type CertOptions struct {
	// Secret holds the CA and the serving certificate; the operator creates
	// and rotates it.
	Secret types.NamespacedName
	// CertDir is where the webhook server reads tls.crt and tls.key: the
	// Secret mounted into the pod, or, outside a cluster, a folder the
	// operator fills from the Secret itself.
	CertDir string
	// ServiceName is the webhook's Service, in the Secret's namespace.
	ServiceName string
	// ConfigName is the ValidatingWebhookConfiguration to inject the CA into.
	ConfigName string
	// Local: the operator runs outside the cluster and the API server calls
	// it at https://localhost:PORT.
	Local bool
	// LeaderElection: only the leader rotates the certificate.
	LeaderElection bool
}

// +kubebuilder:rbac:groups="",namespace=rbgs-system,resources=secrets,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;update

// SetupWithCerts makes the operator manage its serving certificate
// (open-policy-agent/cert-controller: a self-signed CA kept in a Secret,
// injected into the webhook configuration and rotated before it expires),
// and registers the validators. A plain install therefore needs no
// cert-manager.
func SetupWithCerts(mgr ctrl.Manager, o CertOptions) error {
	dnsNames := []string{fmt.Sprintf("%s.%s.svc.cluster.local", o.ServiceName, o.Secret.Namespace)}
	if o.Local {
		dnsNames = append(dnsNames, "localhost")
	}
	direct, err := client.New(mgr.GetConfig(), client.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	if err := rotator.AddRotator(quietManager{Manager: mgr, client: skipNoopUpdates{direct}}, &rotator.CertRotator{
		SecretKey:             o.Secret,
		CertDir:               o.CertDir,
		CAName:                "rbgs-webhook-ca",
		CAOrganization:        "rbgs",
		DNSName:               fmt.Sprintf("%s.%s.svc", o.ServiceName, o.Secret.Namespace),
		ExtraDNSNames:         dnsNames,
		IsReady:               make(chan struct{}),
		Webhooks:              []rotator.WebhookInfo{{Name: o.ConfigName, Type: rotator.Validating}},
		FieldOwner:            "rbgs-operator",
		RequireLeaderElection: o.LeaderElection,
	}); err != nil {
		return fmt.Errorf("adding the certificate rotator: %w", err)
	}
	if o.Local {
		if err := mgr.Add(&secretFiles{config: mgr.GetConfig(), secret: o.Secret, dir: o.CertDir}); err != nil {
			return err
		}
	}
	// The validators are registered at once: until the certificate exists
	// the server refuses TLS handshakes (LazyCertificate), so the API server
	// never reaches a server without them.
	return Setup(mgr)
}

// quietManager hands the certificate rotator a direct client (no cache:
// the manager's cache holds neither Secrets nor webhook configurations, and
// must not start watching them cluster-wide) that skips updates changing
// nothing: the rotator re-injects its CA into the webhook configuration
// each time the operator starts, and a restart with nothing changed should
// write nothing.
type quietManager struct {
	ctrl.Manager
	client client.Client
}

func (m quietManager) GetClient() client.Client { return m.client }

type skipNoopUpdates struct{ client.Client }

func (c skipNoopUpdates) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	live, ok := obj.DeepCopyObject().(client.Object)
	if ok && c.Get(ctx, client.ObjectKeyFromObject(obj), live) == nil && equality.Semantic.DeepEqual(live, obj) {
		return nil
	}
	return c.Client.Update(ctx, obj, opts...)
}

// secretFiles plays the kubelet for an operator running outside the
// cluster: it writes the certificate Secret's keys into dir, and again each
// time the Secret changes.
type secretFiles struct {
	config *rest.Config
	secret types.NamespacedName
	dir    string
}

func (s *secretFiles) NeedLeaderElection() bool { return false }

func (s *secretFiles) Start(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(rbgsscheme.BuiltinKinds(s.config))
	if err != nil {
		return err
	}
	lw := toolscache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "secrets", s.secret.Namespace,
		fields.OneTermEqualSelector("metadata.name", s.secret.Name))
	inf := toolscache.NewSharedInformer(lw, &corev1.Secret{}, 0)
	log := ctrl.LoggerFrom(ctx).WithName("webhook-certs")
	write := func(o any) {
		sec, ok := o.(*corev1.Secret)
		if !ok || len(sec.Data[corev1.TLSCertKey]) == 0 {
			return
		}
		if err := writeFiles(s.dir, map[string][]byte{
			corev1.TLSCertKey: sec.Data[corev1.TLSCertKey], corev1.TLSPrivateKeyKey: sec.Data[corev1.TLSPrivateKeyKey],
		}); err != nil {
			log.Error(err, "writing the webhook certificate", "dir", s.dir)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    write,
		UpdateFunc: func(_, n any) { write(n) },
	}); err != nil {
		return err
	}
	inf.RunWithContext(ctx)
	return nil
}

// writeFiles replaces each file atomically, so the server never reads a
// half-written key.
func writeFiles(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, content := range data {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, content, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// LazyCertificate serves the certificate in dir once it exists: the webhook
// server starts at once, and answers TLS handshakes as soon as the rotator
// has written the certificate (and its rotations, through a watcher).
func LazyCertificate(dir string) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	var (
		mu      sync.Mutex
		watcher *certwatcher.CertWatcher
	)
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		if watcher == nil {
			w, err := certwatcher.New(filepath.Join(dir, corev1.TLSCertKey), filepath.Join(dir, corev1.TLSPrivateKeyKey))
			if err != nil {
				return nil, fmt.Errorf("webhook certificate not ready yet: %w", err)
			}
			go func() { _ = w.Start(context.Background()) }()
			watcher = w
		}
		return watcher.GetCertificate(hello)
	}
}
