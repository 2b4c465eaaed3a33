package scheme

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// Wire formats of the operator's requests and responses.
const (
	// WireProtobuf talks protobuf for the built-in kinds (pods,
	// StatefulSets, Services, ...) and JSON for the operator's own kinds and
	// server-side apply, which have no protobuf encoding. The API server
	// then serves the operator's watches from the protobuf it already
	// encodes for the control plane, and the operator decodes each event
	// several times faster than JSON.
	WireProtobuf = "protobuf"
	// WireJSON talks JSON for everything (for a proxy that cannot pass
	// protobuf).
	WireJSON = "json"
)

// UseWire makes the clients built from cfg talk format. For WireProtobuf
// it leaves cfg's content type unset: controller-runtime's clients and
// caches then choose protobuf for each built-in kind and JSON for the
// others (a protobuf content type on cfg would make them send custom
// resources in protobuf, which cannot encode them); clients of built-in
// kinds alone take BuiltinKinds.
func UseWire(cfg *rest.Config, format string) error {
	switch format {
	case WireProtobuf:
		cfg.ContentType, cfg.AcceptContentTypes = "", ""
	case WireJSON:
		cfg.ContentType, cfg.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
	default:
		return fmt.Errorf("unknown wire format %q: use %q or %q", format, WireProtobuf, WireJSON)
	}
	return nil
}

// BuiltinKinds is cfg for a client that reads and writes built-in kinds
// only (leases, events, Secrets): protobuf, unless cfg names a format.
func BuiltinKinds(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	if c.ContentType == "" {
		c.ContentType = runtime.ContentTypeProtobuf
		c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	}
	return c
}
