package validation_test

import (
	"encoding/json"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// Small alphabets holding the names and paths the operator reserves, near
// misses of them, and ordinary ones.
var (
	fuzzRoles   = []string{"cluster", "prefill", "decode", "live"}
	fuzzEnv     = []string{rbgsv1.EnvLocalRole, rbgsv1.EnvGroupName, "RBGS_ROLES_PREFILL_0_ADDRESS", "RBGS_ROLES_CLUSTER_REPLICAS", "RBGS_X", "RBGS", "rbgs_local_role", "MODEL"}
	fuzzPrefix  = []string{"", rbgsv1.EnvPrefix, "RBGS_ROLES_", "RBGS", "APP_"}
	fuzzVolumes = []string{rbgsv1.ClusterVolumeName, "data", "rbgs-cluster-x"}
	fuzzPaths   = []string{"/etc/rbgs", "/etc/rbgs/", "/etc/rbgs/cluster.yaml", "/etc/rbgs/live", "/etc/rbgs/live/cluster.yaml",
		"/etc//rbgs/x", "etc/rbgs", "/etc/rbgs/../rbgs/a", "/etc/rbgs-data", "/etc", "/data", "/etc/rbgsx/live"}
)

// bytesReader hands out the fuzzer's bytes one at a time, then zeros.
type bytesReader []byte

func (b *bytesReader) next(n int) int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v) % n
}

// fuzzGroup builds a group of one to three roles of both kinds whose
// templates draw env names, envFrom prefixes, volumes and mounts from the
// alphabets above.
func fuzzGroup(data []byte) *rbgsv1.RoleBasedGroup {
	in := bytesReader(data)
	w := wrappers.MakeGroup("g", "ns")
	used := map[string]bool{}
	for range 1 + in.next(3) {
		name := fuzzRoles[in.next(len(fuzzRoles))]
		if used[name] {
			continue
		}
		used[name] = true
		w.Role(name, int32(in.next(4)))
		if in.next(2) == 1 {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		spec := &w.Spec.Roles[len(w.Spec.Roles)-1].Template.Spec
		for range in.next(3) {
			v := fuzzVolumes[in.next(len(fuzzVolumes))]
			if !slices.ContainsFunc(spec.Volumes, func(u corev1.Volume) bool { return u.Name == v }) {
				spec.Volumes = append(spec.Volumes, corev1.Volume{Name: v,
					VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			}
		}
		if in.next(2) == 1 {
			spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: "init", Image: wrappers.Image})
		}
		if in.next(2) == 1 {
			spec.Containers = append(spec.Containers, corev1.Container{Name: "sidecar", Image: wrappers.Image})
		}
		for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range list {
				c := &list[i]
				for range in.next(3) {
					c.Env = append(c.Env, corev1.EnvVar{Name: fuzzEnv[in.next(len(fuzzEnv))], Value: "user"})
				}
				for range in.next(2) {
					c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{Prefix: fuzzPrefix[in.next(len(fuzzPrefix))],
						ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "user"}}})
				}
				for range in.next(3) {
					c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{
						Name: fuzzVolumes[in.next(len(fuzzVolumes))], MountPath: fuzzPaths[in.next(len(fuzzPaths))]})
				}
			}
		}
	}
	return w.Obj()
}

// FuzzTemplateCollisions: for any generated group, either the admission
// check refuses it, every error at an existing field that holds the
// error's value, or the rendered discovery has distinct keys and no user
// env, volume or mount shadows the operator's in any rendered container. An
// update that changes nothing is never refused: it warns once per error of
// the create.
func FuzzTemplateCollisions(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{2, 0, 2, 1, 0, 0, 0, 0, 0, 1, 0, 1, 2, 1, 1, 1, 0, 3})
	f.Add([]byte{1, 0, 1, 1, 2, 0, 1, 1, 1, 2, 4, 3, 1, 2, 1, 5, 1, 0, 2, 9, 1, 10})
	f.Add([]byte{2, 1, 3, 0, 1, 1, 0, 1, 1, 2, 7, 6, 1, 3, 2, 1, 8, 2, 11, 0, 0, 3, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := fuzzGroup(data)
		rolesPath := field.NewPath("spec", "roles")
		errs, warnings := validation.Collisions(g.Spec.Roles, nil, rolesPath)
		if len(warnings) > 0 {
			t.Fatalf("warnings on create: %q", warnings)
		}
		again, kept := validation.Collisions(g.Spec.Roles, g.Spec.Roles, rolesPath)
		if len(again) > 0 || len(kept) != len(errs) {
			t.Fatalf("unchanged update: %d errors, %d warnings; want none and %d", len(again), len(kept), len(errs))
		}
		if len(errs) > 0 {
			raw, err := json.Marshal(g)
			if err != nil {
				t.Fatal(err)
			}
			var obj any
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				if got, ok := valueAt(obj, e.Field); !ok || got != e.BadValue {
					t.Fatalf("error %q: the field holds %v (exists: %v)", e, got, ok)
				}
			}
			return
		}
		checkRendered(t, g)
	})
}

// checkRendered checks the children the operator renders for g.
func checkRendered(t *testing.T, g *rbgsv1.RoleBasedGroup) {
	t.Helper()
	topo := topology.Resolve(g)
	keys := map[string]bool{naming.LiveClusterFileKey: true}
	want := 1
	for _, r := range topo.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			keys[naming.ClusterFileKey(r.Name, nil)] = true
			want++
			continue
		}
		for _, in := range r.Instances {
			for _, p := range in.Pods {
				if in.ConfigMap == naming.ClusterConfigMap(g.Name) {
					keys[p.FileKey] = true
					want++
				}
			}
		}
	}
	if len(keys) != want {
		t.Fatalf("%d pods and the live file share %d discovery keys: %v", want-1, len(keys), keys)
	}
	objs := group.Render(g)
	if data := objs.ConfigMaps[0].(*corev1.ConfigMap).Data; len(data) != want {
		t.Fatalf("cluster ConfigMap holds %d files, want %d", len(data), want)
	}
	operatorEnv := discovery.EnvData(topo)
	for i := range g.Spec.Roles {
		r := &g.Spec.Roles[i]
		var tmpl corev1.PodTemplateSpec
		switch w := objs.Roles[r.Role][1].(type) {
		case *appsv1.StatefulSet:
			tmpl = w.Spec.Template
		case *appsv1.Deployment:
			tmpl = w.Spec.Template
		}
		var ours int
		for _, v := range tmpl.Spec.Volumes {
			if v.Name == rbgsv1.ClusterVolumeName {
				ours++
				if v.ConfigMap == nil || v.ConfigMap.Name != naming.ClusterConfigMap(g.Name) {
					t.Fatalf("role %s: volume %s is not the cluster ConfigMap: %+v", r.Role, v.Name, v.VolumeSource)
				}
			}
		}
		if ours != 1 {
			t.Fatalf("role %s: %d volumes named %s", r.Role, ours, rbgsv1.ClusterVolumeName)
		}
		for _, c := range append(slicesOf(tmpl.Spec.InitContainers), slicesOf(tmpl.Spec.Containers)...) {
			checkContainer(t, g, r, c, operatorEnv)
		}
	}
}

func slicesOf(list []corev1.Container) []*corev1.Container {
	out := make([]*corev1.Container, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

// checkContainer checks that a rendered container sees the operator's
// variables, its ConfigMap of addresses first among envFrom sources, and its
// two discovery mounts, each alone at its place.
func checkContainer(t *testing.T, g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, c *corev1.Container, operatorEnv map[string]string) {
	t.Helper()
	values := map[string]string{rbgsv1.EnvLocalRole: r.Role, rbgsv1.EnvGroupName: g.Name, rbgsv1.EnvNamespace: g.Namespace}
	for _, e := range c.Env {
		if want, ok := values[e.Name]; ok && e.Value != want {
			t.Fatalf("role %s container %s: %s=%q, want %q", r.Role, c.Name, e.Name, e.Value, want)
		}
		if _, ok := operatorEnv[e.Name]; ok {
			t.Fatalf("role %s container %s: env %s hides the operator's address variable", r.Role, c.Name, e.Name)
		}
		if strings.HasPrefix(e.Name, rbgsv1.EnvPrefix) && e.Value == "user" {
			t.Fatalf("role %s container %s: user env %s in the reserved prefix", r.Role, c.Name, e.Name)
		}
	}
	if len(c.EnvFrom) == 0 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != naming.EnvConfigMap(g.Name) {
		t.Fatalf("role %s container %s: envFrom %+v does not start with the operator's", r.Role, c.Name, c.EnvFrom)
	}
	for _, e := range c.EnvFrom[1:] {
		if strings.HasPrefix(e.Prefix, rbgsv1.EnvPrefix) {
			t.Fatalf("role %s container %s: envFrom prefix %q in the reserved prefix", r.Role, c.Name, e.Prefix)
		}
	}
	want := map[string]bool{rbgsv1.ClusterConfigPath: true, rbgsv1.LiveClusterConfigDir: true}
	for _, m := range c.VolumeMounts {
		p := path.Clean("/" + m.MountPath)
		mine := m.Name == rbgsv1.ClusterVolumeName
		inDir := p == rbgsv1.ClusterConfigDir || strings.HasPrefix(p, rbgsv1.ClusterConfigDir+"/")
		if mine != inDir || (mine && !want[m.MountPath]) {
			t.Fatalf("role %s container %s: mount of %s at %q beside the operator's", r.Role, c.Name, m.Name, m.MountPath)
		}
		delete(want, m.MountPath)
	}
	if len(want) > 0 {
		t.Fatalf("role %s container %s: operator mounts %v missing", r.Role, c.Name, want)
	}
}

var pathToken = regexp.MustCompile(`^([A-Za-z]+)((?:\[\d+\])*)$`)

// valueAt reads the value at a field path (e.g. spec.roles[0].role) of an
// object's JSON form.
func valueAt(v any, p string) (any, bool) {
	for _, part := range strings.Split(p, ".") {
		m := pathToken.FindStringSubmatch(part)
		if m == nil {
			return nil, false
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[m[1]]; !ok {
			return nil, false
		}
		for _, idx := range strings.Split(strings.Trim(m[2], "[]"), "][") {
			if idx == "" {
				continue
			}
			i, _ := strconv.Atoi(idx)
			list, ok := v.([]any)
			if !ok || i >= len(list) {
				return nil, false
			}
			v = list[i]
		}
	}
	return v, true
}
