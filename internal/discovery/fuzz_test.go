package discovery_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	rbgsvalidation "github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// FuzzClusterFiles renders groups of two roles of either kind (bit 0 of
// kinds makes roleA a Deployment, bit 1 roleB), names "cluster" included:
// every file must parse as the documented schema and list every pod of every
// role once; the keys must be one per pod (naming.ClusterFileKey) plus the
// live file, which has no local section, unless admission refuses the group
// for a key collision (a Deployment role named cluster); every variable name
// must be a valid environment variable name.
func FuzzClusterFiles(f *testing.F) {
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(2), uint16(8080), uint8(0))
	f.Add("g", "a", "a-b", uint8(0), uint8(5), uint16(0), uint8(2))
	f.Add("x1", "kv-cache", "r", uint8(17), uint8(1), uint16(65535), uint8(1))
	f.Add("g", "cluster", "decode", uint8(1), uint8(2), uint16(8080), uint8(0))
	f.Add("g", "prefill", "cluster", uint8(1), uint8(2), uint16(8080), uint8(2))
	f.Add("g", "cluster", "live", uint8(3), uint8(1), uint16(80), uint8(3))
	f.Fuzz(func(t *testing.T, group, roleA, roleB string, replicasA, replicasB uint8, port uint16, kinds uint8) {
		if len(validation.IsDNS1035Label(group)) > 0 || len(validation.IsDNS1123Label(roleA)) > 0 || len(validation.IsDNS1123Label(roleB)) > 0 || roleA == roleB {
			t.Skip()
		}
		w := wrappers.MakeGroup(group, "ns").Role(roleA, int32(replicasA%40))
		if kinds&1 != 0 {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		w.Role(roleB, int32(replicasB%40), roleA)
		if kinds&2 != 0 {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		g := w.Obj()
		for i := range g.Spec.Roles {
			g.Spec.Roles[i].Template.Spec.Containers[0].Ports[0].ContainerPort = int32(port)
		}
		topo := discovery.ForGroup(g)
		files := topo.ClusterFiles()
		parsed := make(map[string]*clusterFile, len(files))
		for key, content := range files {
			f := &clusterFile{}
			if err := yaml.UnmarshalStrict([]byte(content), f); err != nil {
				t.Fatalf("%s does not parse: %v\n%s", key, err, content)
			}
			parsed[key] = f
			if f.Cluster.Group.Name != group || len(f.Cluster.Roles) != 2 {
				t.Fatalf("%s: group %+v, %d roles", key, f.Cluster.Group, len(f.Cluster.Roles))
			}
			for _, r := range topo.Roles {
				if got := len(f.Cluster.Roles[r.Name].Endpoints); got != len(topo.Endpoints(r)) {
					t.Fatalf("%s: role %s lists %d endpoints, want %d", key, r.Name, got, len(topo.Endpoints(r)))
				}
			}
		}
		errs, _ := rbgsvalidation.Collisions(g.Spec.Roles, nil, field.NewPath("spec", "roles"))
		if len(errs) == 0 {
			checkKeys(t, topo, parsed)
		}
		for i, r := range topo.Roles {
			collides := r.Kind == rbgsv1.WorkloadDeployment && naming.ClusterFileKey(r.Name, nil) == naming.LiveClusterFileKey
			refused := slices.ContainsFunc(errs, func(e *field.Error) bool { return e.Field == fmt.Sprintf("spec.roles[%d].role", i) })
			if collides != refused {
				t.Fatalf("role %s (%s): key collides with the live file = %v, refused = %v (%v)", r.Name, r.Kind, collides, refused, errs)
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

// checkKeys checks that files holds one file per pod, under its key, with
// its own local section, and the live file without one.
func checkKeys(t *testing.T, topo discovery.Topology, files map[string]*clusterFile) {
	t.Helper()
	want := map[string]*int32{naming.LiveClusterFileKey: nil}
	local := map[string]string{}
	for _, r := range topo.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			want[naming.ClusterFileKey(r.Name, nil)] = nil
			local[naming.ClusterFileKey(r.Name, nil)] = r.Name
			continue
		}
		for k := range r.Replicas {
			want[naming.ClusterFileKey(r.Name, &k)] = &k
			local[naming.ClusterFileKey(r.Name, &k)] = r.Name
		}
	}
	if len(files) != len(want) || len(want) != len(local)+1 {
		t.Fatalf("%d files for %d pods and the live file: %v", len(files), len(local), slices.Sorted(maps.Keys(files)))
	}
	for key, rank := range want {
		f, ok := files[key]
		if !ok {
			t.Fatalf("no file %s", key)
		}
		role, isPod := local[key]
		switch {
		case !isPod && f.Cluster.Local != nil:
			t.Fatalf("%s, the live file, has a local section %+v", key, f.Cluster.Local)
		case isPod && (f.Cluster.Local == nil || f.Cluster.Local.Role != role):
			t.Fatalf("%s: local section %+v, want role %s", key, f.Cluster.Local, role)
		case isPod && rank != nil && (f.Cluster.Local.Rank == nil || *f.Cluster.Local.Rank != int(*rank)):
			t.Fatalf("%s: local section %+v, want rank %d", key, f.Cluster.Local, *rank)
		}
	}
}

func totalSize(files map[string]string) int {
	n := 0
	for _, v := range files {
		n += len(v)
	}
	return n
}
