package discovery_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/test/wrappers"
)

// seedGroup is group 0 of the seed's minimal example.
func seedGroup() *rbgsv1.RoleBasedGroup {
	return wrappers.MakeGroup("demo-group-0", "default").
		Label(rbgsv1.LabelSetName, "demo-group").Label(rbgsv1.LabelGroupIndex, "0").
		Role("prefill", 2).Role("decode", 2, "prefill").Obj()
}

func TestClusterFilesOfDecodePod(t *testing.T) {
	files := discovery.ForGroup(seedGroup()).ClusterFiles()
	want := `cluster:
  group:
    name: "demo-group-0"
    namespace: "default"
    set: "demo-group"
    index: 0
  local:
    role: "decode"
    rank: 1
  roles:
    "prefill":
      workload: StatefulSet
      replicas: 2
      endpoints:
        - address: "demo-group-0-prefill-0.demo-group-0-prefill:8080"
        - address: "demo-group-0-prefill-1.demo-group-0-prefill:8080"
    "decode":
      workload: StatefulSet
      replicas: 2
      endpoints:
        - address: "demo-group-0-decode-0.demo-group-0-decode:8080"
        - address: "demo-group-0-decode-1.demo-group-0-decode:8080"
`
	if diff := cmp.Diff(want, files["decode.1.yaml"]); diff != "" {
		t.Errorf("decode.1.yaml (-want +got):\n%s", diff)
	}
	var keys []string
	for k := range files {
		keys = append(keys, k)
	}
	wantKeys := []string{"cluster.yaml", "decode.0.yaml", "decode.1.yaml", "prefill.0.yaml", "prefill.1.yaml"}
	if diff := cmp.Diff(wantKeys, keys, cmpSorted); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
}

var cmpSorted = cmpopts.SortSlices(func(a, b string) bool { return a < b })

// clusterFile is the documented schema of cluster.yaml.
type clusterFile struct {
	Cluster struct {
		Group struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
			Set       string `json:"set"`
			Index     *int   `json:"index"`
		} `json:"group"`
		Local *struct {
			Role string `json:"role"`
			Rank *int   `json:"rank"`
		} `json:"local"`
		Roles map[string]struct {
			Workload  string `json:"workload"`
			Replicas  int    `json:"replicas"`
			Endpoints []struct {
				Address string `json:"address"`
			} `json:"endpoints"`
		} `json:"roles"`
	} `json:"cluster"`
}

func TestClusterFilesParseAsDocumented(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("router", 1).Workload(rbgsv1.WorkloadDeployment).
		Role("prefill", 3).Role("idle", 0).Obj()
	g.Spec.Roles[2].Template.Spec.Containers[0].Ports = nil
	files := discovery.ForGroup(g).ClusterFiles()

	for key, wantLocal := range map[string]*struct {
		role string
		rank *int
	}{
		"router.yaml":    {role: "router"},
		"prefill.2.yaml": {role: "prefill", rank: new(2)},
		"cluster.yaml":   nil,
	} {
		var f clusterFile
		if err := yaml.UnmarshalStrict([]byte(files[key]), &f); err != nil {
			t.Fatalf("%s does not parse: %v\n%s", key, err, files[key])
		}
		c := f.Cluster
		if c.Group.Name != "g" || c.Group.Namespace != "ns" || c.Group.Set != "" || c.Group.Index != nil {
			t.Errorf("%s: group = %+v", key, c.Group)
		}
		switch {
		case wantLocal == nil && c.Local != nil:
			t.Errorf("%s: has a local section %+v, want none", key, c.Local)
		case wantLocal != nil && (c.Local == nil || c.Local.Role != wantLocal.role || !cmp.Equal(c.Local.Rank, wantLocal.rank)):
			t.Errorf("%s: local = %+v, want %+v", key, c.Local, wantLocal)
		}
		if got := c.Roles["router"].Endpoints; len(got) != 1 || got[0].Address != "g-router:8080" {
			t.Errorf("%s: router endpoints = %+v, want the Service address only", key, got)
		}
		if got := c.Roles["prefill"]; got.Replicas != 3 || len(got.Endpoints) != 3 || got.Endpoints[2].Address != "g-prefill-2.g-prefill:8080" {
			t.Errorf("%s: prefill = %+v", key, got)
		}
		if got := c.Roles["idle"]; got.Replicas != 0 || len(got.Endpoints) != 0 || got.Workload != "StatefulSet" {
			t.Errorf("%s: idle = %+v", key, got)
		}
	}
	if len(files) != 5 {
		t.Errorf("got %d files, want 5 (live, router, 3 prefill)", len(files))
	}
}

func TestEnvData(t *testing.T) {
	g := seedGroup()
	g.Spec.Roles[1].Template.Spec.Containers[0].Ports = nil // no port: no ":PORT"
	want := map[string]string{
		"RBGS_ROLES_PREFILL_0_ADDRESS": "demo-group-0-prefill-0.demo-group-0-prefill:8080",
		"RBGS_ROLES_PREFILL_1_ADDRESS": "demo-group-0-prefill-1.demo-group-0-prefill:8080",
		"RBGS_ROLES_PREFILL_REPLICAS":  "2",
		"RBGS_ROLES_DECODE_0_ADDRESS":  "demo-group-0-decode-0.demo-group-0-decode",
		"RBGS_ROLES_DECODE_1_ADDRESS":  "demo-group-0-decode-1.demo-group-0-decode",
		"RBGS_ROLES_DECODE_REPLICAS":   "2",
	}
	if diff := cmp.Diff(want, discovery.ForGroup(g).EnvData()); diff != "" {
		t.Errorf("env data (-want +got):\n%s", diff)
	}
}

func TestEnvDataRoleNameWithDash(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("kv-cache", 1).Obj()
	got := discovery.ForGroup(g).EnvData()
	if got["RBGS_ROLES_KV_CACHE_0_ADDRESS"] != "g-kv-cache-0.g-kv-cache:8080" {
		t.Errorf("env data = %v", got)
	}
}

func TestClusterFilesSizeMatchesRendering(t *testing.T) {
	for _, n := range []int32{0, 1, 7, 40} {
		g := wrappers.MakeGroup("size-check", "default").Role("prefill", n).Role("decode", n+3, "prefill").
			Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Obj()
		topo := discovery.ForGroup(g)
		rendered := 0
		for _, v := range topo.ClusterFiles() {
			rendered += len(v)
		}
		est := topo.ClusterFilesSize()
		if est < rendered || est > rendered+rendered/5+200 {
			t.Errorf("n=%d: estimate %d, rendered %d", n, est, rendered)
		}
	}
}

func TestClusterFilesSizeOfHugeGroupIsCheap(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 1_000_000).Obj()
	if got := discovery.ForGroup(g).ClusterFilesSize(); got < 1<<30 {
		t.Errorf("size of a million-pod group = %d, want far over any limit", got)
	}
}

// A pod the spec no longer has keeps a file of its own, with the current
// topology; lingering files never replace the spec's.
func TestClusterFilesKeepLingeringPods(t *testing.T) {
	topo := discovery.ForGroup(seedGroup())
	two := int32(2)
	topo.Lingering = []discovery.PodFile{{Role: "decode", Rank: &two}, {Role: "cluster"}, {Role: "prefill", Rank: new(int32(0))}}
	files := topo.ClusterFiles()
	lingering := files["decode.2.yaml"]
	if !strings.Contains(lingering, "  local:\n    role: \"decode\"\n    rank: 2\n") ||
		!strings.HasSuffix(lingering, strings.TrimPrefix(files["cluster.yaml"], files["cluster.yaml"][:strings.Index(files["cluster.yaml"], "  roles:")])) {
		t.Errorf("decode.2.yaml:\n%s", lingering)
	}
	if strings.Contains(files["cluster.yaml"], "local:") || files["prefill.0.yaml"] != discovery.ForGroup(seedGroup()).ClusterFiles()["prefill.0.yaml"] {
		t.Error("a lingering file replaced one of the spec's")
	}
	if len(files) != 6 {
		t.Errorf("%d files", len(files))
	}
}
