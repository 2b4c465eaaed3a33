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
	"github.com/openpatio/rbgs/internal/topology"
	rbgsvalidation "github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// FuzzClusterFiles renders groups of two roles of either kind (bit 0 of
// kinds makes roleA a Deployment, bit 1 roleB), roleB of size 1 to 4, names
// "cluster" included: every file must parse as the documented schema and
// list every instance of every role once; the keys must be one per pod, in
// its instance's ConfigMap, plus the live file (no local section) in every
// ConfigMap, unless admission refuses the group for a key collision (a
// Deployment role named cluster); every variable name must be a valid
// environment variable name; Largest must bound what is rendered.
func FuzzClusterFiles(f *testing.F) {
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(2), uint16(8080), uint8(0), uint8(0))
	f.Add("g", "a", "a-b", uint8(0), uint8(5), uint16(0), uint8(2), uint8(0))
	f.Add("x1", "kv-cache", "r", uint8(17), uint8(1), uint16(65535), uint8(1), uint8(0))
	f.Add("g", "cluster", "decode", uint8(1), uint8(2), uint16(8080), uint8(0), uint8(3))
	f.Add("g", "prefill", "cluster", uint8(1), uint8(2), uint16(8080), uint8(2), uint8(1))
	f.Add("g", "cluster", "live", uint8(3), uint8(1), uint16(80), uint8(3), uint8(2))
	f.Fuzz(func(t *testing.T, group, roleA, roleB string, replicasA, replicasB uint8, port uint16, kinds, sizeB uint8) {
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
		} else {
			w.Size(1 + int32(sizeB%4))
		}
		g := w.Obj()
		for i := range g.Spec.Roles {
			g.Spec.Roles[i].Template.Spec.Containers[0].Ports[0].ContainerPort = int32(port)
		}
		tp := topology.Resolve(g)
		all := discovery.Files(tp, nil)
		parsed := map[string]map[string]*clusterFile{}
		rendered := map[string]int{}
		for name, data := range all {
			parsed[name] = map[string]*clusterFile{}
			for key, content := range data {
				rendered[name] += len(content)
				f := &clusterFile{}
				if err := yaml.UnmarshalStrict([]byte(content), f); err != nil {
					t.Fatalf("%s/%s does not parse: %v\n%s", name, key, err, content)
				}
				parsed[name][key] = f
				if f.Cluster.Group.Name != group || len(f.Cluster.Roles) != 2 {
					t.Fatalf("%s/%s: group %+v, %d roles", name, key, f.Cluster.Group, len(f.Cluster.Roles))
				}
				for _, r := range tp.Roles {
					eps := f.Cluster.Roles[r.Name].Endpoints
					want := len(r.Instances)
					if r.Kind == rbgsv1.WorkloadDeployment {
						want = min(int(r.Replicas), 1)
					}
					if len(eps) != want {
						t.Fatalf("%s/%s: role %s lists %d endpoints, want %d", name, key, r.Name, len(eps), want)
					}
					for _, e := range eps {
						if (len(e.Workers) != 0) != r.MultiPod() || (r.MultiPod() && len(e.Workers) != int(r.Size)) {
							t.Fatalf("%s/%s: role %s of size %d lists workers %v", name, key, r.Name, r.Size, e.Workers)
						}
					}
				}
			}
		}
		errs, _ := rbgsvalidation.Collisions(g.Spec.Roles, nil, field.NewPath("spec", "roles"))
		if len(errs) == 0 {
			checkKeys(t, tp, parsed)
		}
		for i, r := range tp.Roles {
			collides := r.Kind == rbgsv1.WorkloadDeployment && naming.ClusterFileKey(r.Name, nil) == naming.LiveClusterFileKey
			refused := slices.ContainsFunc(errs, func(e *field.Error) bool { return e.Field == fmt.Sprintf("spec.roles[%d].role", i) })
			if collides != refused {
				t.Fatalf("role %s (%s): key collides with the live file = %v, refused = %v (%v)", r.Name, r.Kind, collides, refused, errs)
			}
		}
		for name := range discovery.EnvData(tp) {
			if errs := validation.IsEnvVarName(name); len(errs) > 0 {
				t.Fatalf("invalid environment variable name %q: %v", name, errs)
			}
		}
		if _, bound, _ := discovery.Largest(tp); bound < slices.Max(slices.Collect(maps.Values(rendered))) {
			t.Fatalf("size bound %d below the rendered %v", bound, rendered)
		}
	})
}

// checkKeys checks that files holds one file per pod, in its instance's
// ConfigMap under its key, with its own local section, and the live file
// without one in every ConfigMap.
func checkKeys(t *testing.T, tp *topology.Group, files map[string]map[string]*clusterFile) {
	t.Helper()
	type pod struct {
		role           string
		rank, worker   int
		hasRank        bool
		configMap, key string
	}
	var pods []pod
	for _, r := range tp.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			pods = append(pods, pod{role: r.Name, configMap: naming.ClusterConfigMap(tp.Name), key: naming.ClusterFileKey(r.Name, nil)})
			continue
		}
		for _, in := range r.Instances {
			for _, p := range in.Pods {
				pods = append(pods, pod{role: r.Name, rank: int(in.Index), worker: int(p.WorkerIndex), hasRank: true, configMap: in.ConfigMap, key: p.FileKey})
			}
		}
	}
	total := 0
	for name, data := range files {
		total += len(data) - 1
		if f, ok := data[naming.LiveClusterFileKey]; !ok || f.Cluster.Local != nil {
			t.Fatalf("%s: live file %v", name, f)
		}
	}
	if total != len(pods) {
		t.Fatalf("%d files for %d pods", total, len(pods))
	}
	for _, p := range pods {
		f, ok := files[p.configMap][p.key]
		switch {
		case !ok:
			t.Fatalf("no file %s/%s", p.configMap, p.key)
		case f.Cluster.Local == nil || f.Cluster.Local.Role != p.role || f.Cluster.Local.WorkerIndex != p.worker:
			t.Fatalf("%s/%s: local section %+v, want role %s worker %d", p.configMap, p.key, f.Cluster.Local, p.role, p.worker)
		case p.hasRank && (f.Cluster.Local.Rank == nil || *f.Cluster.Local.Rank != p.rank):
			t.Fatalf("%s/%s: local section %+v, want rank %d", p.configMap, p.key, f.Cluster.Local, p.rank)
		}
	}
}
