package naming_test

import (
	"testing"

	"github.com/openpatio/rbgs/internal/naming"
)

func TestNames(t *testing.T) {
	for got, want := range map[string]string{
		naming.Workload("demo-group-0", "prefill"):         "demo-group-0-prefill",
		naming.Pod("demo-group-0", "prefill", 1):           "demo-group-0-prefill-1",
		naming.Group("demo-group", 12):                     "demo-group-12",
		naming.Address("demo-group-0", "prefill", 1, 8080): "demo-group-0-prefill-1.demo-group-0-prefill:8080",
		naming.Address("g", "decode", 0, 0):                "g-decode-0.g-decode",
		naming.ServiceAddress("g", "router", 80):           "g-router:80",
		naming.EnvAddress("prefill", 0):                    "RBGS_ROLES_PREFILL_0_ADDRESS",
		naming.EnvAddress("kv-cache", 3):                   "RBGS_ROLES_KV_CACHE_3_ADDRESS",
		naming.EnvReplicas("kv-cache"):                     "RBGS_ROLES_KV_CACHE_REPLICAS",
		naming.ClusterFileKey("decode", new(int32(2))):     "decode.2.yaml",
		naming.ClusterFileKey("router", nil):               "router.yaml",
		naming.ClusterFileSubPathExpr("decode"):            "decode.$(RBGS_LOCAL_RANK).yaml",
		naming.ClusterConfigMap("g"):                       "g-rbgs-cluster",
		naming.EnvConfigMap("g"):                           "g-rbgs-env",
		naming.Instance("g", "decode", 3):                  "g-decode-3",
		naming.InstancePod("g", "decode", 3, 0):            "g-decode-3-0",
		naming.InstanceFileKey("decode", 3, 1):             "decode.3.1.yaml",
		naming.InstanceFileSubPathExpr("decode", 3):        "decode.3.$(RBGS_LOCAL_WORKER_INDEX).yaml",
		naming.InstanceConfigMap("g", "decode", 3):         "g-rbgs-cluster-decode-3",
		naming.Host("g-decode-3-0", "g", "decode"):         "g-decode-3-0.g-decode",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}
