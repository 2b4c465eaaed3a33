package discovery_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// seedGroup is group 0 of the seed's minimal example.
func seedGroup() *rbgsv1.RoleBasedGroup {
	return wrappers.MakeGroup("demo-group-0", "default").
		Label(rbgsv1.LabelSetName, "demo-group").Label(rbgsv1.LabelGroupIndex, "0").
		Role("prefill", 2).Role("decode", 2, "prefill").Obj()
}

func files(g *rbgsv1.RoleBasedGroup) map[string]map[string]string {
	return discovery.Files(topology.Resolve(g), nil)
}

func TestClusterFilesOfDecodePod(t *testing.T) {
	all := files(seedGroup())
	want := `cluster:
  group:
    name: "demo-group-0"
    namespace: "default"
    set: "demo-group"
    index: 0
  local:
    role: "decode"
    rank: 1
    workerIndex: 0
    size: 1
    leaderAddress: "demo-group-0-decode-1.demo-group-0-decode:8080"
  roles:
    "prefill":
      workload: StatefulSet
      replicas: 2
      size: 1
      endpoints:
        - address: "demo-group-0-prefill-0.demo-group-0-prefill:8080"
        - address: "demo-group-0-prefill-1.demo-group-0-prefill:8080"
    "decode":
      workload: StatefulSet
      replicas: 2
      size: 1
      endpoints:
        - address: "demo-group-0-decode-0.demo-group-0-decode:8080"
        - address: "demo-group-0-decode-1.demo-group-0-decode:8080"
`
	group := all["demo-group-0-rbgs-cluster"]
	if diff := cmp.Diff(want, group["decode.1.yaml"]); diff != "" {
		t.Errorf("decode.1.yaml (-want +got):\n%s", diff)
	}
	if len(all) != 1 {
		t.Errorf("ConfigMaps %v, want the group's alone", slices.Sorted(maps.Keys(all)))
	}
	wantKeys := []string{"cluster.yaml", "decode.0.yaml", "decode.1.yaml", "prefill.0.yaml", "prefill.1.yaml"}
	if got := slices.Sorted(maps.Keys(group)); !slices.Equal(wantKeys, got) {
		t.Errorf("keys %v, want %v", got, wantKeys)
	}
}

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
			Role          string `json:"role"`
			Rank          *int   `json:"rank"`
			WorkerIndex   int    `json:"workerIndex"`
			Size          int    `json:"size"`
			LeaderAddress string `json:"leaderAddress"`
		} `json:"local"`
		Roles map[string]struct {
			Workload  string `json:"workload"`
			Replicas  int    `json:"replicas"`
			Size      int    `json:"size"`
			Endpoints []struct {
				Address string   `json:"address"`
				Workers []string `json:"workers"`
			} `json:"endpoints"`
		} `json:"roles"`
	} `json:"cluster"`
}

func parse(t *testing.T, key, content string) *clusterFile {
	t.Helper()
	var f clusterFile
	if err := yaml.UnmarshalStrict([]byte(content), &f); err != nil {
		t.Fatalf("%s does not parse: %v\n%s", key, err, content)
	}
	return &f
}

func TestClusterFilesParseAsDocumented(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("router", 1).Workload(rbgsv1.WorkloadDeployment).
		Role("prefill", 3).Role("idle", 0).Obj()
	g.Spec.Roles[2].Template.Spec.Containers[0].Ports = nil
	all := files(g)["g-rbgs-cluster"]

	type local struct {
		role   string
		rank   *int
		leader string
	}
	for key, wantLocal := range map[string]*local{
		"router.yaml":    {role: "router"},
		"prefill.2.yaml": {role: "prefill", rank: new(2), leader: "g-prefill-2.g-prefill:8080"},
		"cluster.yaml":   nil,
	} {
		c := parse(t, key, all[key]).Cluster
		if c.Group.Name != "g" || c.Group.Namespace != "ns" || c.Group.Set != "" || c.Group.Index != nil {
			t.Errorf("%s: group = %+v", key, c.Group)
		}
		switch {
		case wantLocal == nil && c.Local != nil:
			t.Errorf("%s: has a local section %+v, want none", key, c.Local)
		case wantLocal != nil && (c.Local == nil || c.Local.Role != wantLocal.role || !cmp.Equal(c.Local.Rank, wantLocal.rank) ||
			c.Local.WorkerIndex != 0 || c.Local.Size != 1 || c.Local.LeaderAddress != wantLocal.leader):
			t.Errorf("%s: local = %+v, want %+v", key, c.Local, wantLocal)
		}
		if got := c.Roles["router"].Endpoints; len(got) != 1 || got[0].Address != "g-router:8080" {
			t.Errorf("%s: router endpoints = %+v, want the Service address only", key, got)
		}
		if got := c.Roles["prefill"]; got.Replicas != 3 || got.Size != 1 || len(got.Endpoints) != 3 ||
			got.Endpoints[2].Address != "g-prefill-2.g-prefill:8080" || got.Endpoints[2].Workers != nil {
			t.Errorf("%s: prefill = %+v", key, got)
		}
		if got := c.Roles["idle"]; got.Replicas != 0 || len(got.Endpoints) != 0 || got.Workload != "StatefulSet" {
			t.Errorf("%s: idle = %+v", key, got)
		}
	}
	if len(all) != 5 {
		t.Errorf("got %d files, want 5 (live, router, 3 prefill)", len(all))
	}
}

// A role of size 4 with 2 instances: each instance's files in a ConfigMap
// of its own, every pod told its instance, worker index, size and leader,
// and every file listing each instance's leader and workers.
func TestClusterFilesOfAMultiPodRole(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("router", 1).Role("decode", 2, "router").Size(4).Obj()
	all := files(g)
	want := map[string][]string{
		"g-rbgs-cluster":          {"cluster.yaml", "router.0.yaml"},
		"g-rbgs-cluster-decode-0": {"cluster.yaml", "decode.0.0.yaml", "decode.0.1.yaml", "decode.0.2.yaml", "decode.0.3.yaml"},
		"g-rbgs-cluster-decode-1": {"cluster.yaml", "decode.1.0.yaml", "decode.1.1.yaml", "decode.1.2.yaml", "decode.1.3.yaml"},
	}
	got := map[string][]string{}
	for name, data := range all {
		got[name] = slices.Sorted(maps.Keys(data))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ConfigMaps and keys (-want +got):\n%s", diff)
	}
	c := parse(t, "decode.1.2.yaml", all["g-rbgs-cluster-decode-1"]["decode.1.2.yaml"]).Cluster
	if l := c.Local; l == nil || l.Role != "decode" || *l.Rank != 1 || l.WorkerIndex != 2 || l.Size != 4 ||
		l.LeaderAddress != "g-decode-1-0.g-decode:8080" {
		t.Errorf("local = %+v", l)
	}
	decode := c.Roles["decode"]
	if decode.Replicas != 2 || decode.Size != 4 || len(decode.Endpoints) != 2 || decode.Endpoints[1].Address != "g-decode-1-0.g-decode:8080" {
		t.Errorf("decode = %+v", decode)
	}
	wantWorkers := []string{"g-decode-1-0.g-decode:8080", "g-decode-1-1.g-decode:8080", "g-decode-1-2.g-decode:8080", "g-decode-1-3.g-decode:8080"}
	if !slices.Equal(decode.Endpoints[1].Workers, wantWorkers) {
		t.Errorf("workers of instance 1 = %v", decode.Endpoints[1].Workers)
	}
	// The live file is the same everywhere.
	for name, data := range all {
		if data["cluster.yaml"] != all["g-rbgs-cluster"]["cluster.yaml"] {
			t.Errorf("%s holds another live file", name)
		}
	}
	env := discovery.EnvData(topology.Resolve(g))
	if env["RBGS_ROLES_DECODE_1_ADDRESS"] != "g-decode-1-0.g-decode:8080" || env["RBGS_ROLES_DECODE_REPLICAS"] != "2" || len(env) != 5 {
		t.Errorf("env data %v", env)
	}
}

// The sizes people run: 4 roles x 8 instances x 8 pods fit, every
// ConfigMap under the limit, and Largest bounds what is rendered.
func TestDiscoveryOf256Pods(t *testing.T) {
	w := wrappers.MakeGroup("deepseek-v3-serving-0", "inference")
	for _, r := range []string{"prefill", "decode", "kv-router", "encoder"} {
		w.Role(r, 8).Size(8)
	}
	tp := topology.Resolve(w.Obj())
	if tp.Pods() != 256 {
		t.Fatalf("%d pods", tp.Pods())
	}
	largest := 0
	for name, data := range discovery.Files(tp, nil) {
		n := 0
		for k, v := range data {
			n += len(k) + len(v)
		}
		if n > discovery.MaxConfigMapBytes {
			t.Errorf("ConfigMap %s holds %d bytes", name, n)
		}
		largest = max(largest, n)
	}
	name, bound, files := discovery.Largest(tp)
	if bound < largest || bound > largest+largest/5 || files != 9 || !strings.HasPrefix(name, "deepseek-v3-serving-0-rbgs-cluster-") {
		t.Errorf("Largest = %s, %d bytes, %d files; rendered at most %d", name, bound, files, largest)
	}
	t.Logf("256 pods: the largest ConfigMap holds %d bytes", largest)
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
	if diff := cmp.Diff(want, discovery.EnvData(topology.Resolve(g))); diff != "" {
		t.Errorf("env data (-want +got):\n%s", diff)
	}
}

func TestEnvDataRoleNameWithDash(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("kv-cache", 1).Obj()
	got := discovery.EnvData(topology.Resolve(g))
	if got["RBGS_ROLES_KV_CACHE_0_ADDRESS"] != "g-kv-cache-0.g-kv-cache:8080" {
		t.Errorf("env data = %v", got)
	}
}

func TestLargestBoundsTheRendering(t *testing.T) {
	for _, n := range []int32{0, 1, 7, 40} {
		g := wrappers.MakeGroup("size-check", "default").Role("prefill", n).Role("decode", n+3, "prefill").
			Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Role("moe", n/4+1).Size(n%5 + 2).Obj()
		tp := topology.Resolve(g)
		for name, data := range discovery.Files(tp, nil) {
			rendered := 0
			for _, v := range data {
				rendered += len(v)
			}
			largestName, bound, _ := discovery.Largest(tp)
			if bound < rendered || (name == largestName && bound > rendered+rendered/5+200) {
				t.Errorf("n=%d: %s holds %d bytes; the largest is %s, bound %d", n, name, rendered, largestName, bound)
			}
		}
	}
}

// A pod the spec no longer has keeps a file of its own, with the current
// topology; lingering files never replace the spec's.
func TestClusterFilesKeepLingeringPods(t *testing.T) {
	tp := topology.Resolve(seedGroup())
	two, one := int32(2), int32(1)
	all := discovery.Files(tp, []discovery.PodRef{
		{Role: "decode", Rank: &two},                      // scaled down
		{Role: "cluster"},                                 // a Deployment role's pod: never the live file
		{Role: "prefill", Rank: new(int32(0))},            // one the spec has
		{Role: "gone", Rank: &one, Worker: new(int32(3))}, // an instance of a removed role
	})
	group := all["demo-group-0-rbgs-cluster"]
	roles := group["cluster.yaml"][strings.Index(group["cluster.yaml"], "  roles:"):]
	lingering := group["decode.2.yaml"]
	if !strings.Contains(lingering, "  local:\n    role: \"decode\"\n    rank: 2\n    workerIndex: 0\n    size: 1\n") || !strings.HasSuffix(lingering, roles) {
		t.Errorf("decode.2.yaml:\n%s", lingering)
	}
	if strings.Contains(group["cluster.yaml"], "local:") || group["prefill.0.yaml"] != files(seedGroup())["demo-group-0-rbgs-cluster"]["prefill.0.yaml"] {
		t.Error("a lingering file replaced one of the spec's")
	}
	if len(group) != 6 {
		t.Errorf("%d files in the group's ConfigMap", len(group))
	}
	gone := all["demo-group-0-rbgs-cluster-gone-1"]["gone.1.3.yaml"]
	if !strings.Contains(gone, "  local:\n    role: \"gone\"\n    rank: 1\n    workerIndex: 3\n  roles:") {
		t.Errorf("file of a pod of a removed role:\n%s", gone)
	}
}
