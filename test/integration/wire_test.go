package integration

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// wireRequest is what the operator asked the API server: its method, the
// resource's group and name, and the formats it sent and accepted.
type wireRequest struct {
	method, group, resource, accept, contentType string
	watch                                        bool
}

// wireLog records every request the operator of the suite makes.
type wireLog struct {
	mu   sync.Mutex
	reqs []wireRequest
}

var operatorWire = &wireLog{}

// wrap is a rest.Config transport wrapper that records into l.
func (l *wireLog) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(req *http.Request) (*http.Response, error) {
		group, resource := resourceOf(req.URL.Path)
		l.mu.Lock()
		l.reqs = append(l.reqs, wireRequest{
			method: req.Method, group: group, resource: resource,
			accept: req.Header.Get("Accept"), contentType: req.Header.Get("Content-Type"),
			watch: req.URL.Query().Get("watch") == "true",
		})
		l.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

func (l *wireLog) snapshot() []wireRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// resourceOf is the API group and resource of a request path:
// /api/v1/namespaces/ns/pods/x is ("", "pods"), /apis/apps/v1/statefulsets
// is ("apps", "statefulsets").
func resourceOf(path string) (group, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, rest = parts[1], parts[3:]
	default:
		return "", ""
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		return group, rest[2]
	}
	if len(rest) > 0 {
		return group, rest[0]
	}
	return group, ""
}

// TestWireFormats checks, on the wire, that the operator reads and watches
// the built-in kinds it manages in protobuf, sends them in protobuf where
// it sends whole objects, and talks JSON for its own kinds, which have no
// protobuf encoding (but their metadata alone does). It reads every
// request the suite's operator made so far, whichever test caused it.
func TestWireFormats(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("wire", ns).Role("prefill", 1).Obj())
	eventually(t, "prefill StatefulSet", func() error { return exists(t, ns, "wire-prefill", &appsv1.StatefulSet{}) })
	eventually(t, "prefill Service", func() error { return exists(t, ns, "wire-prefill", &corev1.Service{}) })

	builtin := map[string]bool{"pods": true, "statefulsets": true, "services": true, "configmaps": true, "leases": true,
		"deployments": true, "poddisruptionbudgets": true, "podgroups": true, "workloads": true}
	seen := map[string]bool{}
	for _, r := range operatorWire.snapshot() {
		switch {
		case r.group == rbgsv1.GroupVersion.Group:
			// Metadata alone comes back as meta.k8s.io's
			// PartialObjectMetadata, which protobuf encodes.
			metadata := strings.Contains(r.accept, "as=PartialObjectMetadata")
			if (strings.HasPrefix(r.accept, runtime.ContentTypeProtobuf) && !metadata) || r.contentType == runtime.ContentTypeProtobuf {
				t.Errorf("%s %s of the operator's own kind in protobuf (Accept %q, Content-Type %q)", r.method, r.resource, r.accept, r.contentType)
			}
		case builtin[r.resource]:
			if r.method == http.MethodGet && !strings.HasPrefix(r.accept, runtime.ContentTypeProtobuf) {
				t.Errorf("GET %s (watch %v) accepts %q, want protobuf first", r.resource, r.watch, r.accept)
			}
			if (r.method == http.MethodPost || r.method == http.MethodPut) && r.contentType != runtime.ContentTypeProtobuf {
				t.Errorf("%s %s sent as %q, want protobuf", r.method, r.resource, r.contentType)
			}
			if r.method == http.MethodGet {
				seen[r.resource] = true
			}
		}
	}
	for _, kind := range []string{"pods", "statefulsets", "services", "configmaps"} {
		if !seen[kind] {
			t.Errorf("no read of %s recorded: the operator's requests are not on the wire log", kind)
		}
	}
}
