// Package discovery renders what a pod learns about its group, from the
// group's resolved topology: the /etc/rbgs/cluster.yaml files and the
// RBGS_* address variables.
//
// The topology depends only on the spec, so a pod knows every role's
// addresses before those roles start, and nothing is rewritten when they
// do; only a change of replicas or size alters it. The one thing pods add
// is their own file: a pod the spec no longer has (a role scaled down or
// removed, a workload that changed kind) keeps its file until it is gone
// (see PodRef).
//
// Every pod's cluster.yaml lists every pod of the group, so the files grow
// with the square of its pods. They are spread over ConfigMaps: the
// group's own holds the live file and the files of the pods of roles of
// size 1 and of Deployment roles; every instance of a role of size > 1 has
// one of its own, with the live file and its pods' files.
package discovery

import (
	"strconv"
	"strings"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
)

// PodRef names a pod that exists, by what its labels say, for the file it
// keeps reading until it is gone.
type PodRef struct {
	Role string
	// Rank is the pod's instance (its ordinal, for a role of size 1); nil
	// for a Deployment pod.
	Rank *int32
	// Worker is the pod's index in its instance, for a pod of an instance of
	// size > 1; nil otherwise.
	Worker *int32
}

// File is the ConfigMap and key of the cluster.yaml r reads.
func (r PodRef) File(group string) (configMap, key string) {
	switch {
	case r.Rank == nil:
		return naming.ClusterConfigMap(group), naming.ClusterFileKey(r.Role, nil)
	case r.Worker == nil:
		return naming.ClusterConfigMap(group), naming.ClusterFileKey(r.Role, r.Rank)
	}
	return naming.InstanceConfigMap(group, r.Role, *r.Rank), naming.InstanceFileKey(r.Role, *r.Rank, *r.Worker)
}

// Files renders the cluster.yaml files of t, by ConfigMap name, then key:
// one file per pod, the live file (no local section) in every ConfigMap,
// and the files lingering pods still read.
func Files(t *topology.Group, lingering []PodRef) map[string]map[string]string {
	var rb strings.Builder
	writeRoles(&rb, t)
	roles := rb.String()
	var hb strings.Builder
	hb.WriteString("cluster:\n")
	writeGroup(&hb, t)
	header := hb.String()

	out := map[string]map[string]string{}
	configMap := func(name string) map[string]string {
		data, ok := out[name]
		if !ok {
			data = map[string]string{naming.LiveClusterFileKey: header + roles}
			out[name] = data
		}
		return data
	}
	groupMap := configMap(naming.ClusterConfigMap(t.Name))
	var b strings.Builder
	for i := range t.Roles {
		r := &t.Roles[i]
		if r.Kind == rbgsv1.WorkloadDeployment {
			groupMap[naming.ClusterFileKey(r.Name, nil)] = header + deploymentLocal(&b, r.Name) + roles
			continue
		}
		for j := range r.Instances {
			in := &r.Instances[j]
			data := configMap(in.ConfigMap)
			for k := range in.Pods {
				data[in.Pods[k].FileKey] = header + podLocal(&b, r, in, &in.Pods[k]) + roles
			}
		}
	}
	for _, ref := range lingering {
		name, key := ref.File(t.Name)
		if data := configMap(name); data[key] == "" {
			data[key] = header + lingeringLocal(&b, t, ref) + roles
		}
	}
	return out
}

// EnvData renders the data of the group's env ConfigMap, loaded into every
// container with envFrom: the address of every instance of every role (its
// leader's, for size > 1) and the number of instances of every role.
func EnvData(t *topology.Group) map[string]string {
	data := make(map[string]string)
	for i := range t.Roles {
		r := &t.Roles[i]
		data[naming.EnvReplicas(r.Name)] = strconv.Itoa(int(r.Count()))
		for k, e := range endpoints(r) {
			data[naming.EnvAddress(r.Name, int32(k))] = e
		}
	}
	return data
}

// endpoints are the addresses by which other roles reach r: its Service
// for a Deployment role, the leader of each instance otherwise.
func endpoints(r *topology.Role) []string {
	if r.Kind == rbgsv1.WorkloadDeployment {
		if r.Replicas == 0 {
			return nil
		}
		return []string{r.ServiceAddress}
	}
	out := make([]string, len(r.Instances))
	for i := range r.Instances {
		out[i] = r.Instances[i].Leader().Address
	}
	return out
}

func writeGroup(b *strings.Builder, t *topology.Group) {
	b.WriteString("  group:\n")
	b.WriteString("    name: " + strconv.Quote(t.Name) + "\n")
	b.WriteString("    namespace: " + strconv.Quote(t.Namespace) + "\n")
	if t.SetName != "" {
		b.WriteString("    set: " + strconv.Quote(t.SetName) + "\n")
	}
	if t.Index != "" {
		b.WriteString("    index: " + t.Index + "\n")
	}
}

func writeRoles(b *strings.Builder, t *topology.Group) {
	b.WriteString("  roles:\n")
	for i := range t.Roles {
		r := &t.Roles[i]
		b.WriteString("    " + strconv.Quote(r.Name) + ":\n")
		b.WriteString("      workload: " + string(r.Kind) + "\n")
		b.WriteString("      replicas: " + strconv.Itoa(int(r.Count())) + "\n")
		b.WriteString("      size: " + strconv.Itoa(int(r.Size)) + "\n")
		eps := endpoints(r)
		if len(eps) == 0 {
			b.WriteString("      endpoints: []\n")
			continue
		}
		b.WriteString("      endpoints:\n")
		for k, e := range eps {
			b.WriteString("        - address: " + strconv.Quote(e) + "\n")
			if !r.MultiPod() {
				continue
			}
			b.WriteString("          workers:\n")
			for _, p := range r.Instances[k].Pods {
				b.WriteString("            - " + strconv.Quote(p.Address) + "\n")
			}
		}
	}
}

// local is a pod's own section of its cluster.yaml.
type local struct {
	role          string
	rank          *int32
	workerIndex   int32
	size          int32
	leaderAddress string
}

func (l local) write(b *strings.Builder) string {
	b.Reset()
	b.WriteString("  local:\n")
	b.WriteString("    role: " + strconv.Quote(l.role) + "\n")
	if l.rank != nil {
		b.WriteString("    rank: " + strconv.Itoa(int(*l.rank)) + "\n")
	}
	b.WriteString("    workerIndex: " + strconv.Itoa(int(l.workerIndex)) + "\n")
	if l.size > 0 {
		b.WriteString("    size: " + strconv.Itoa(int(l.size)) + "\n")
	}
	if l.leaderAddress != "" {
		b.WriteString("    leaderAddress: " + strconv.Quote(l.leaderAddress) + "\n")
	}
	return b.String()
}

func podLocal(b *strings.Builder, r *topology.Role, in *topology.Instance, p *topology.Pod) string {
	return local{role: r.Name, rank: &in.Index, workerIndex: p.WorkerIndex, size: r.Size, leaderAddress: in.Leader().Address}.write(b)
}

func deploymentLocal(b *strings.Builder, role string) string {
	return local{role: role, size: 1}.write(b)
}

// lingeringLocal is the local section of a pod the spec no longer has: as
// the spec would say it when the role still has pods of its shape, else
// what the pod's labels say.
func lingeringLocal(b *strings.Builder, t *topology.Group, ref PodRef) string {
	r := t.Role(ref.Role)
	switch {
	case r == nil:
	case ref.Rank == nil && r.Kind == rbgsv1.WorkloadDeployment:
		return deploymentLocal(b, r.Name)
	case ref.Rank != nil && r.Kind == rbgsv1.WorkloadStatefulSet && (ref.Worker != nil) == r.MultiPod():
		in := r.InstanceAt(*ref.Rank)
		if w := workerOf(ref); w < int32(len(in.Pods)) {
			return podLocal(b, r, &in, &in.Pods[w])
		}
	}
	return local{role: ref.Role, rank: ref.Rank, workerIndex: workerOf(ref)}.write(b)
}

func workerOf(ref PodRef) int32 {
	if ref.Worker == nil {
		return 0
	}
	return *ref.Worker
}

// MaxConfigMapBytes bounds the data of each discovery ConfigMap, below the
// 1 MiB limit of an object.
const MaxConfigMapBytes = 1000 * 1000

// Largest is the discovery ConfigMap of t with the most data: its name, an
// upper bound of its bytes (within a few bytes per file), and its files,
// without rendering every file. A group too large to resolve cheaply is
// reported by its pod count (see EstimateFileBytes).
func Largest(t *topology.Group) (name string, bytes, files int) {
	var rb strings.Builder
	writeRoles(&rb, t)
	var hb strings.Builder
	hb.WriteString("cluster:\n")
	writeGroup(&hb, t)
	longestLocal := 0
	groupFiles := 1
	for i := range t.Roles {
		r := &t.Roles[i]
		leader := ""
		if len(r.Instances) > 0 {
			last := r.Instances[len(r.Instances)-1]
			leader = last.Leader().Address
		}
		index := r.Replicas
		l := local{role: r.Name, rank: &index, workerIndex: r.Size, size: r.Size, leaderAddress: leader}
		var b strings.Builder
		longestLocal = max(longestLocal, len(l.write(&b)))
		switch {
		case r.Kind == rbgsv1.WorkloadDeployment:
			groupFiles++
		case r.MultiPod():
			if r.Replicas > 0 && files < int(r.Size)+1 {
				name, files = naming.InstanceConfigMap(t.Name, r.Name, 0), int(r.Size)+1
			}
		default:
			groupFiles += int(r.Replicas)
		}
	}
	if groupFiles >= files {
		name, files = naming.ClusterConfigMap(t.Name), groupFiles
	}
	perFile := hb.Len() + rb.Len() + longestLocal
	return name, files * perFile, files
}

// EstimateFileBytes is a lower bound of the bytes of one cluster.yaml of a
// group of pods pods: each lists every pod in at least 30 bytes. It lets
// validation refuse a huge group before resolving it.
func EstimateFileBytes(pods int) int { return pods * 30 }
