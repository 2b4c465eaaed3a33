package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	custommetrics "k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/openpatio/rbgs/test/wrappers"
)

// The custom metrics API is one APIService for the whole cluster, so one
// test at a time can serve it.
const (
	customMetricsNamespace = "kube-system"
	customMetricsService   = "e2e-custom-metrics"
)

var customMetricsServed atomic.Bool

// serveCustomMetrics serves the Pods metric named metric through the
// cluster's custom metrics API (custom.metrics.k8s.io/v1beta2) until the test
// ends, so that the cluster's HorizontalPodAutoscaler controller can scale on
// it. A query for the pods of a namespace matching a label selector (what an
// HPA with a Pods metric asks) answers one value per matching pod: perPod(pod),
// called at every query, so perPod may change its answers while the test runs.
// Other metrics are not found; metric label selectors are ignored.
//
// It returns once the API server routes the API to the server, which runs in
// the test process on 127.0.0.1, reached through an ExternalName Service. One
// test at a time may call it.
func serveCustomMetrics(t *testing.T, metric string, perPod func(p *corev1.Pod) resource.Quantity) {
	t.Helper()
	if !customMetricsServed.CompareAndSwap(false, true) {
		t.Fatal("serveCustomMetrics: the custom metrics API is already served for another test")
	}
	t.Cleanup(func() { customMetricsServed.Store(false) })

	api := &customMetricsAPI{metric: metric, perPod: perPod}
	// The API server checks the certificate against the APIService's
	// caBundle, for the name <service>.<namespace>.svc.
	cert, caBundle, err := selfSignedCertificate(customMetricsService + "." + customMetricsNamespace + ".svc")
	if err != nil {
		t.Fatal(err)
	}
	port := api.start(t, cert)
	registerCustomMetrics(t, port, caBundle, metric)
	t.Cleanup(func() {
		if t.Failed() {
			api.logFailures(t)
		}
	})
}

// customMetricsAPI answers the requests the API server passes on for
// custom.metrics.k8s.io/v1beta2: discovery and one Pods metric.
type customMetricsAPI struct {
	metric string
	perPod func(p *corev1.Pod) resource.Quantity

	mu       sync.Mutex
	failures []string // the requests answered with an error, for the test's log
}

// start serves the API over HTTPS on a free port of 127.0.0.1 until the test
// ends, and returns the port.
func (a *customMetricsAPI) start(t *testing.T, cert tls.Certificate) int32 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:           a.routes(),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("custom metrics server: %v", err)
		}
	})
	return int32(l.Addr().(*net.TCPAddr).Port)
}

func (a *customMetricsAPI) routes() http.Handler {
	gv := custommetrics.SchemeGroupVersion
	group := metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             gv.Group,
		Versions:         []metav1.GroupVersionForDiscovery{{GroupVersion: gv.String(), Version: gv.Version}},
		PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: gv.String(), Version: gv.Version},
	}
	groups := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}, Groups: []metav1.APIGroup{group}}
	resources := metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: gv.String(),
		APIResources: []metav1.APIResource{{Name: "pods/" + a.metric, Namespaced: true, Kind: "MetricValueList", Verbs: []string{"get"}}},
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /apis", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, groups) })
	mux.HandleFunc("GET /apis/"+gv.Group, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, group) })
	mux.HandleFunc("GET /apis/"+gv.String(), func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, resources) })
	mux.HandleFunc("GET /apis/"+gv.String()+"/namespaces/{namespace}/pods/{name}/{metric}", a.podMetric)
	// The API server merges every aggregated API's OpenAPI document into its
	// own, and retries for as long as one is missing: an empty one will do.
	openAPI := map[string]any{"swagger": "2.0", "info": map[string]string{"title": gv.Group, "version": gv.Version}, "paths": map[string]any{}}
	mux.HandleFunc("GET /openapi/v2", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, openAPI) })
	mux.HandleFunc("GET /openapi/v3", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"paths": map[string]any{}})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusNotFound, metav1.StatusReasonNotFound, "the custom metrics API serves no "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// podMetric answers GET .../namespaces/{namespace}/pods/{name}/{metric}: the
// value of every pod of the namespace matching the labelSelector parameter,
// or of the one pod named (a list of one), "*" meaning every pod.
func (a *customMetricsAPI) podMetric(w http.ResponseWriter, r *http.Request) {
	ns, name, metric := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("metric")
	if metric != a.metric {
		a.fail(w, r, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("metric %q is not served for pods", metric))
		return
	}
	selector, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		a.fail(w, r, http.StatusBadRequest, metav1.StatusReasonBadRequest, fmt.Sprintf("labelSelector: %v", err))
		return
	}
	var pods corev1.PodList
	if err := k8s.List(r.Context(), &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		a.fail(w, r, http.StatusInternalServerError, metav1.StatusReasonInternalError, fmt.Sprintf("listing pods: %v", err))
		return
	}
	now := metav1.Now()
	out := custommetrics.MetricValueList{
		TypeMeta: metav1.TypeMeta{Kind: "MetricValueList", APIVersion: custommetrics.SchemeGroupVersion.String()},
		Items:    []custommetrics.MetricValue{},
	}
	for i := range pods.Items {
		p := &pods.Items[i]
		if name != custommetrics.AllObjects && p.Name != name {
			continue
		}
		out.Items = append(out.Items, custommetrics.MetricValue{
			DescribedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: p.Name, UID: p.UID},
			Metric:          custommetrics.MetricIdentifier{Name: metric},
			Timestamp:       now,
			Value:           a.perPod(p),
		})
	}
	if name != custommetrics.AllObjects && len(out.Items) == 0 {
		a.fail(w, r, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pod %s/%s matching %q not found", ns, name, selector))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// fail answers a request with a Status error, and keeps it for the test's
// log.
func (a *customMetricsAPI) fail(w http.ResponseWriter, r *http.Request, code int, reason metav1.StatusReason, message string) {
	a.mu.Lock()
	a.failures = append(a.failures, fmt.Sprintf("%s %s: %d %s", r.Method, r.URL.RequestURI(), code, message))
	a.mu.Unlock()
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Reason: reason, Message: message, Code: int32(code),
	})
}

func (a *customMetricsAPI) logFailures(t *testing.T) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.failures) == 0 {
		t.Log("custom metrics server: every request was answered")
		return
	}
	t.Logf("custom metrics server: %d requests answered with an error:\n%s", len(a.failures), strings.Join(a.failures, "\n"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

// registerCustomMetrics registers custom.metrics.k8s.io/v1beta2 with the API
// server, served on 127.0.0.1:port, and waits until the API server routes
// it there; the registration is removed when the test ends.
//
// Pod and cluster IPs do not route on the local cluster, but the aggregator
// dials an ExternalName Service's externalName at the APIService's port
// (k8s.io/apiserver/pkg/util/proxy.ResolveCluster), and its availability
// check looks for endpoints of ClusterIP Services only. The name is the
// address itself, so nothing has to resolve it.
func registerCustomMetrics(t *testing.T, port int32, caBundle []byte, metric string) {
	t.Helper()
	ctx := context.Background()
	gv := custommetrics.SchemeGroupVersion
	scheme := runtime.NewScheme()
	if err := apiregistrationv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	aggregator, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: customMetricsNamespace, Name: customMetricsService},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "127.0.0.1",
			Ports:        []corev1.ServicePort{{Name: "https", Port: port}},
		},
	}
	apiService := &apiregistrationv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: gv.Version + "." + gv.Group},
		Spec: apiregistrationv1.APIServiceSpec{
			Group:                gv.Group,
			Version:              gv.Version,
			Service:              &apiregistrationv1.ServiceReference{Namespace: svc.Namespace, Name: svc.Name, Port: new(port)},
			CABundle:             caBundle,
			GroupPriorityMinimum: 100,
			VersionPriority:      100,
		},
	}
	t.Cleanup(func() {
		for _, obj := range []client.Object{apiService, svc} {
			c := k8s
			if obj == apiService {
				c = aggregator
			}
			if err := c.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %s: %v", obj.GetName(), err)
			}
		}
	})
	if err := k8s.Create(ctx, svc); err != nil {
		t.Fatalf("creating the custom metrics Service: %v", err)
	}
	if err := aggregator.Create(ctx, apiService); err != nil {
		t.Fatalf("creating APIService %s: %v", apiService.Name, err)
	}

	disco, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "APIService "+apiService.Name+" available", 60*time.Second, func() error {
		var got apiregistrationv1.APIService
		if err := aggregator.Get(ctx, client.ObjectKeyFromObject(apiService), &got); err != nil {
			return err
		}
		i := slices.IndexFunc(got.Status.Conditions, func(c apiregistrationv1.APIServiceCondition) bool {
			return c.Type == apiregistrationv1.Available
		})
		if i < 0 || got.Status.Conditions[i].Status != apiregistrationv1.ConditionTrue {
			return fmt.Errorf("conditions %+v", got.Status.Conditions)
		}
		// Through the API server, as its clients will ask.
		list, err := disco.ServerResourcesForGroupVersion(gv.String())
		if err != nil {
			return fmt.Errorf("discovery through the API server: %w", err)
		}
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == "pods/"+metric }) {
			return fmt.Errorf("discovery through the API server lists %+v", list.APIResources)
		}
		return nil
	})
}

// selfSignedCertificate makes a key and a certificate for dnsName and
// 127.0.0.1 that signs itself, and returns the certificate PEM-encoded too,
// to be trusted as a CA bundle.
func selfSignedCertificate(dnsName string) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating a key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating a serial number: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: dnsName},
		DNSNames:              []string{dnsName},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("signing the certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// The cluster's own HorizontalPodAutoscaler controller scales a Deployment
// on a Pods metric that serveCustomMetrics serves: 12 per pod against a
// target average of 10 takes 2 replicas to ceil(2 × 12 / 10) = 3, its
// maximum, where it would want ceil(3 × 12 / 10) = 4.
func TestCustomMetricsDriveAnHPA(t *testing.T) {
	ns := namespace(t, "e2e-custom-metrics")
	const metric = "pending_requests"
	podLabels := map[string]string{"app": "inference"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "inference"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "server", Image: wrappers.Image}}},
			},
		},
	}
	if err := k8s.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	deploymentReady(t, ns, d.Name, 2)

	serveCustomMetrics(t, metric, func(*corev1.Pod) resource.Quantity { return resource.MustParse("12") })
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: d.Name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name},
			MinReplicas:    new(int32(1)), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: metric},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("10"))},
			}}},
		},
	}
	if err := k8s.Create(context.Background(), hpa); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the HPA scales the Deployment to 3", 60*time.Second, func() error {
		if err := get(ns, d.Name, d); err != nil {
			return err
		}
		if *d.Spec.Replicas != 3 {
			return fmt.Errorf("spec.replicas %d", *d.Spec.Replicas)
		}
		return nil
	})
	deploymentReady(t, ns, d.Name, 3)
	// A later pass, over the 3 pods, finds the metric still above target and
	// holds at the maximum.
	eventually(t, "the HPA reports 3 replicas at 12 per pod, limited by its maximum", 60*time.Second, func() error {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := get(ns, hpa.Name, &h); err != nil {
			return err
		}
		if h.Status.CurrentReplicas != 3 || h.Status.DesiredReplicas != 3 {
			return fmt.Errorf("current replicas %d, desired %d", h.Status.CurrentReplicas, h.Status.DesiredReplicas)
		}
		if len(h.Status.CurrentMetrics) != 1 || h.Status.CurrentMetrics[0].Pods == nil ||
			h.Status.CurrentMetrics[0].Pods.Metric.Name != metric || h.Status.CurrentMetrics[0].Pods.Current.AverageValue == nil ||
			h.Status.CurrentMetrics[0].Pods.Current.AverageValue.Cmp(resource.MustParse("12")) != 0 {
			return fmt.Errorf("current metrics %+v", h.Status.CurrentMetrics)
		}
		for _, want := range []struct {
			condition autoscalingv2.HorizontalPodAutoscalerConditionType
			reason    string
		}{{autoscalingv2.ScalingActive, "ValidMetricFound"}, {autoscalingv2.ScalingLimited, "TooManyReplicas"}} {
			i := slices.IndexFunc(h.Status.Conditions, func(c autoscalingv2.HorizontalPodAutoscalerCondition) bool { return c.Type == want.condition })
			if i < 0 || h.Status.Conditions[i].Status != corev1.ConditionTrue || h.Status.Conditions[i].Reason != want.reason {
				return fmt.Errorf("want %s True (%s); conditions %+v", want.condition, want.reason, h.Status.Conditions)
			}
		}
		return nil
	})
}

// deploymentReady waits until a Deployment has observed its spec and runs
// replicas Ready pods, no more.
func deploymentReady(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("Deployment %s with %d ready pods", name, replicas), 90*time.Second, func() error {
		var d appsv1.Deployment
		if err := get(ns, name, &d); err != nil {
			return err
		}
		if d.Status.ObservedGeneration != d.Generation || d.Status.Replicas != replicas || d.Status.ReadyReplicas != replicas {
			return fmt.Errorf("generation %d/%d, %d pods, %d ready", d.Status.ObservedGeneration, d.Generation, d.Status.Replicas, d.Status.ReadyReplicas)
		}
		return nil
	})
}
