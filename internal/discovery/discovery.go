// Package discovery renders what a pod learns about its group: the
// /etc/rbgs/cluster.yaml files and the RBGS_* address variables.
//
// The topology depends only on the group's spec (names, replicas, ports),
// never on observed pods: addresses are deterministic, so a pod knows every
// role's addresses before those roles start, and nothing is rewritten when
// they do. Only replica changes alter it. The one thing pods add is their
// own file: a pod the spec no longer has (a role scaled down, removed, or
// changed kind) keeps its cluster.yaml key until it is gone (Lingering).
package discovery

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// Topology is the part of a group that discovery depends on.
type Topology struct {
	Group      string
	Namespace  string
	SetName    string // empty for a group that is not part of a set
	GroupIndex string // decimal; empty for a group that is not part of a set
	Roles      []Role
	// Lingering are pods that still exist, whose files stay until they are
	// gone even when the spec no longer has them.
	Lingering []PodFile
}

// PodFile names the cluster.yaml of one pod: its role, and its rank for a
// StatefulSet role's pod (nil for a Deployment role's).
type PodFile struct {
	Role string
	Rank *int32
}

// Key is the file's key in the cluster ConfigMap.
func (f PodFile) Key() string { return naming.ClusterFileKey(f.Role, f.Rank) }

// Role is one role of a Topology.
type Role struct {
	Name     string
	Kind     rbgsv1.WorkloadKind
	Replicas int32
	Port     int32 // first container port, 0 if none
}

// ForGroup builds the topology of a group.
func ForGroup(g *rbgsv1.RoleBasedGroup) Topology {
	t := Topology{
		Group:     g.Name,
		Namespace: g.Namespace,
		SetName:   g.Labels[rbgsv1.LabelSetName],
		Roles:     make([]Role, 0, len(g.Spec.Roles)),
	}
	if idx := g.Labels[rbgsv1.LabelGroupIndex]; idx != "" {
		if _, err := strconv.ParseUint(idx, 10, 31); err == nil {
			t.GroupIndex = idx
		}
	}
	for i := range g.Spec.Roles {
		r := &g.Spec.Roles[i]
		t.Roles = append(t.Roles, Role{
			Name:     r.Role,
			Kind:     KindOf(r),
			Replicas: ReplicasOf(r),
			Port:     FirstPort(&r.Template.Spec),
		})
	}
	return t
}

// KindOf is the workload kind of a role, StatefulSet when unset.
func KindOf(r *rbgsv1.RoleSpec) rbgsv1.WorkloadKind {
	if r.Workload.Kind == "" {
		return rbgsv1.WorkloadStatefulSet
	}
	return r.Workload.Kind
}

// ReplicasOf is the replica count of a role, 1 when unset.
func ReplicasOf(r *rbgsv1.RoleSpec) int32 {
	if r.Replicas == nil {
		return 1
	}
	return *r.Replicas
}

// FirstPort is the first port of the first container that declares one.
func FirstPort(spec *corev1.PodSpec) int32 {
	for _, c := range spec.Containers {
		if len(c.Ports) > 0 {
			return c.Ports[0].ContainerPort
		}
	}
	return 0
}

// Endpoints lists the addresses of a role: one per pod of a StatefulSet
// role, the role's Service for a Deployment role (its pods have no stable
// names).
func (t Topology) Endpoints(r Role) []string {
	if r.Kind == rbgsv1.WorkloadDeployment {
		if r.Replicas == 0 {
			return nil
		}
		return []string{naming.ServiceAddress(t.Group, r.Name, r.Port)}
	}
	out := make([]string, r.Replicas)
	for k := range r.Replicas {
		out[k] = naming.Address(t.Group, r.Name, k, r.Port)
	}
	return out
}

// ClusterFiles renders the data of the group's cluster ConfigMap: one
// cluster.yaml per pod (keyed by naming.ClusterFileKey) and the live file
// without a local section (naming.LiveClusterFileKey).
func (t Topology) ClusterFiles() map[string]string {
	var rolesYAML strings.Builder
	t.writeRoles(&rolesYAML)
	roles := rolesYAML.String()

	var head strings.Builder
	head.WriteString("cluster:\n")
	t.writeGroup(&head)
	header := head.String()

	files := map[string]string{naming.LiveClusterFileKey: header + roles}
	var b strings.Builder
	for _, r := range t.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			files[naming.ClusterFileKey(r.Name, nil)] = header + local(&b, r.Name, nil) + roles
			continue
		}
		for k := range r.Replicas {
			files[naming.ClusterFileKey(r.Name, &k)] = header + local(&b, r.Name, &k) + roles
		}
	}
	for _, f := range t.Lingering {
		if _, ok := files[f.Key()]; !ok {
			files[f.Key()] = header + local(&b, f.Role, f.Rank) + roles
		}
	}
	return files
}

// EnvData renders the data of the group's env ConfigMap, loaded into every
// container with envFrom: the address of every pod of every role and the
// replica count of every role.
func (t Topology) EnvData() map[string]string {
	data := make(map[string]string)
	for _, r := range t.Roles {
		data[naming.EnvReplicas(r.Name)] = strconv.Itoa(int(r.Replicas))
		for k, addr := range t.Endpoints(r) {
			data[naming.EnvAddress(r.Name, int32(k))] = addr
		}
	}
	return data
}

func (t Topology) writeGroup(b *strings.Builder) {
	b.WriteString("  group:\n")
	b.WriteString("    name: " + strconv.Quote(t.Group) + "\n")
	b.WriteString("    namespace: " + strconv.Quote(t.Namespace) + "\n")
	if t.SetName != "" {
		b.WriteString("    set: " + strconv.Quote(t.SetName) + "\n")
	}
	if t.GroupIndex != "" {
		b.WriteString("    index: " + t.GroupIndex + "\n")
	}
}

func local(b *strings.Builder, role string, rank *int32) string {
	b.Reset()
	b.WriteString("  local:\n")
	b.WriteString("    role: " + strconv.Quote(role) + "\n")
	if rank != nil {
		b.WriteString("    rank: " + strconv.Itoa(int(*rank)) + "\n")
	}
	return b.String()
}

func (t Topology) writeRoles(b *strings.Builder) {
	b.WriteString("  roles:\n")
	for _, r := range t.Roles {
		b.WriteString("    " + strconv.Quote(r.Name) + ":\n")
		b.WriteString("      workload: " + string(r.Kind) + "\n")
		b.WriteString("      replicas: " + strconv.Itoa(int(r.Replicas)) + "\n")
		eps := t.Endpoints(r)
		if len(eps) == 0 {
			b.WriteString("      endpoints: []\n")
			continue
		}
		b.WriteString("      endpoints:\n")
		for _, e := range eps {
			b.WriteString("        - address: " + strconv.Quote(e) + "\n")
		}
	}
}

// ClusterFilesSize is an upper bound of the bytes ClusterFiles renders,
// within a few bytes per file, without rendering every file.
func (t Topology) ClusterFilesSize() int {
	files, longestRole := 1, 0
	for _, r := range t.Roles {
		longestRole = max(longestRole, len(strconv.Quote(r.Name)))
		if r.Kind == rbgsv1.WorkloadDeployment {
			files++
		} else {
			files += int(r.Replicas)
		}
	}
	if files > 2000 {
		// Far past any limit; do not render millions of addresses to say so.
		// Each file lists every pod in at least 30 bytes.
		return files * files * 30
	}
	var b strings.Builder
	b.WriteString("cluster:\n")
	t.writeGroup(&b)
	t.writeRoles(&b)
	localSection := len("  local:\n    role: \n    rank: 0000000000\n") + longestRole
	return files * (b.Len() + localSection)
}
