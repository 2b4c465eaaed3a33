package discovery_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/test/wrappers"
)

// FuzzClusterFiles renders groups of arbitrary shapes: every file must parse
// as the documented schema, list every pod of every role once, and name its
// own pod; every variable name must be a valid environment variable name.
func FuzzClusterFiles(f *testing.F) {
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(2), uint16(8080), false)
	f.Add("g", "a", "a-b", uint8(0), uint8(5), uint16(0), true)
	f.Add("x1", "kv-cache", "r", uint8(17), uint8(1), uint16(65535), false)
	f.Fuzz(func(t *testing.T, group, roleA, roleB string, replicasA, replicasB uint8, port uint16, deployment bool) {
		if len(validation.IsDNS1035Label(group)) > 0 || len(validation.IsDNS1123Label(roleA)) > 0 || len(validation.IsDNS1123Label(roleB)) > 0 || roleA == roleB {
			t.Skip()
		}
		w := wrappers.MakeGroup(group, "ns").Role(roleA, int32(replicasA%40)).Role(roleB, int32(replicasB%40), roleA)
		if deployment {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		g := w.Obj()
		for i := range g.Spec.Roles {
			g.Spec.Roles[i].Template.Spec.Containers[0].Ports[0].ContainerPort = int32(port)
		}
		topo := discovery.ForGroup(g)
		files := topo.ClusterFiles()
		for key, content := range files {
			var f clusterFile
			if err := yaml.UnmarshalStrict([]byte(content), &f); err != nil {
				t.Fatalf("%s does not parse: %v\n%s", key, err, content)
			}
			if f.Cluster.Group.Name != group || len(f.Cluster.Roles) != 2 {
				t.Fatalf("%s: group %+v, %d roles", key, f.Cluster.Group, len(f.Cluster.Roles))
			}
			for _, r := range topo.Roles {
				if got := len(f.Cluster.Roles[r.Name].Endpoints); got != len(topo.Endpoints(r)) {
					t.Fatalf("%s: role %s lists %d endpoints, want %d", key, r.Name, got, len(topo.Endpoints(r)))
				}
			}
			if key != "cluster.yaml" && (f.Cluster.Local == nil || !strings.HasPrefix(key, f.Cluster.Local.Role+".")) {
				t.Fatalf("%s: local section %+v", key, f.Cluster.Local)
			}
		}
		for name := range topo.EnvData() {
			if errs := validation.IsEnvVarName(name); len(errs) > 0 {
				t.Fatalf("invalid environment variable name %q: %v", name, errs)
			}
		}
		if size := topo.ClusterFilesSize(); size < totalSize(files) {
			t.Fatalf("size estimate %d below the rendered %d", size, totalSize(files))
		}
	})
}

func totalSize(files map[string]string) int {
	n := 0
	for _, v := range files {
		n += len(v)
	}
	return n
}
