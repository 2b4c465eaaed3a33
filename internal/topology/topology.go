// Package topology resolves a group's spec, once, into what it runs: its
// roles, the instances of each role, and the pods of each instance, with
// every name, address and discovery file key. Workload rendering,
// discovery, validation and the tools read this model and never derive a
// name again. Everything here follows from the spec alone: addresses are
// deterministic, so a pod knows every role's addresses before those roles
// start.
//
// A role of size 1 (the default) runs one StatefulSet, "<group>-<role>",
// whose pod k is instance k; a role of size > 1 runs one StatefulSet per
// instance, "<group>-<role>-<i>", whose pods "<group>-<role>-<i>-<j>" are
// the instance's workers, 0 being the leader; a Deployment role has no
// instances, only its Service.
package topology

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// Group is a resolved group.
type Group struct {
	Name      string
	Namespace string
	// SetName and Index place a group of a set; both are empty otherwise.
	SetName string
	Index   string
	Roles   []Role
}

// Role is one resolved role.
type Role struct {
	group    string
	Name     string
	Kind     rbgsv1.WorkloadKind
	Replicas int32 // instances the spec asks for
	// Surge is the number of surge instances a rollout runs above
	// Replicas (rolloutStrategy.maxSurge), at the next indices.
	Surge int32
	Size  int32 // pods per instance
	Port  int32 // first container port, 0 if none
	// Service is the role's headless Service (for a Deployment role, also
	// its Deployment).
	Service string
	// ServiceAddress reaches the role through its Service, "G-R:PORT".
	ServiceAddress string
	// Instances of a StatefulSet role, by index; none for a Deployment role.
	Instances []Instance
	// Gang and TopologyKey say how the scheduler places the role's pods;
	// PodGroups are the gangs they make (none without a gang).
	Gang        rbgsv1.GangPolicy
	TopologyKey string
	PodGroups   []PodGroup
}

// PodGroup is one gang: the PodGroup object its pods join, placed all
// together (at least MinCount of them) or not at all.
type PodGroup struct {
	Name     string
	MinCount int32
	// Instance is the instance the gang is, for a gang of an instance.
	Instance *int32
}

// Count is the number of instances r runs: its replicas and its surge.
func (r *Role) Count() int32 { return r.Replicas + r.Surge }

// MultiPod reports whether an instance of r spans several pods.
func (r *Role) MultiPod() bool { return r.Size > 1 }

// Instance is one instance of a StatefulSet role.
type Instance struct {
	Index int32
	// Workload is the StatefulSet that runs the instance's pods.
	Workload string
	// ConfigMap holds the cluster.yaml files of the instance's pods.
	ConfigMap string
	// PodGroup is the gang the instance's pods join, "" when none.
	PodGroup string
	// Pods of the instance, by worker index; Pods[0] is the leader.
	Pods []Pod
}

// Leader is the instance's pod 0.
func (i *Instance) Leader() *Pod { return &i.Pods[0] }

// Pod is one pod of an instance.
type Pod struct {
	Name        string
	WorkerIndex int32
	// Host is the pod's DNS name in its role's Service, "<pod>.G-R".
	Host string
	// Address is Host with ":PORT" when the role has a port.
	Address string
	// FileKey is the key of the pod's cluster.yaml in its instance's
	// ConfigMap.
	FileKey string
}

// Resolve resolves g.
func Resolve(g *rbgsv1.RoleBasedGroup) *Group { return ResolveWithSurge(g, nil) }

// ResolveWithSurge resolves g with surge[role] surge instances of each
// role, at the indices after its replicas.
func ResolveWithSurge(g *rbgsv1.RoleBasedGroup, surge map[string]int32) *Group {
	t := &Group{
		Name:      g.Name,
		Namespace: g.Namespace,
		SetName:   g.Labels[rbgsv1.LabelSetName],
		Roles:     make([]Role, 0, len(g.Spec.Roles)),
	}
	if idx := g.Labels[rbgsv1.LabelGroupIndex]; idx != "" {
		if _, err := strconv.ParseUint(idx, 10, 31); err == nil {
			t.Index = idx
		}
	}
	for i := range g.Spec.Roles {
		t.Roles = append(t.Roles, ResolveRole(g.Name, &g.Spec.Roles[i], surge[g.Spec.Roles[i].Role]))
	}
	return t
}

// ResolveRole resolves role r of group, with surge surge instances.
func ResolveRole(group string, r *rbgsv1.RoleSpec, surge int32) Role {
	role := Role{
		group:    group,
		Name:     r.Role,
		Kind:     r.KindOrDefault(),
		Replicas: r.ReplicasOrDefault(),
		Surge:    surge,
		Size:     r.SizeOrDefault(),
		Port:     FirstPort(&r.Template.Spec),
		Service:  naming.Workload(group, r.Role),
	}
	role.ServiceAddress = naming.WithPort(role.Service, role.Port)
	role.Gang, role.TopologyKey = r.GangOrDefault(), r.TopologyKeyOf()
	if role.Kind == rbgsv1.WorkloadDeployment {
		role.Size, role.Surge = 1, 0
	} else {
		role.Instances = make([]Instance, role.Count())
		for i := range role.Count() {
			role.Instances[i] = role.InstanceAt(i)
		}
	}
	switch {
	case role.Gang == rbgsv1.GangRole && role.Replicas > 0:
		role.PodGroups = []PodGroup{{Name: role.Service, MinCount: role.Count() * role.Size}}
	case role.Gang == rbgsv1.GangInstance && role.MultiPod():
		for _, in := range role.Instances {
			role.PodGroups = append(role.PodGroups, PodGroup{Name: in.PodGroup, MinCount: role.Size, Instance: new(in.Index)})
		}
	}
	return role
}

// PodGroup is the gang every pod of role r joins, for a gang of the role;
// "" when none (no gang, or a gang per instance: see Instance.PodGroup).
func (r *Role) PodGroup() string {
	if r.Gang == rbgsv1.GangRole {
		return r.Service
	}
	return ""
}

// InstanceGang is the gang of instance i of r, for a gang per instance.
func (r *Role) InstanceGang(i int32) (PodGroup, bool) {
	for _, pg := range r.PodGroups {
		if pg.Instance != nil && *pg.Instance == i {
			return pg, true
		}
	}
	return PodGroup{}, false
}

// InstanceAt resolves instance i of StatefulSet role r, which need not be
// below r.Replicas (a pod of an instance scaled away still reads its file).
func (r *Role) InstanceAt(i int32) Instance {
	group := r.group
	in := Instance{Index: i, Pods: make([]Pod, r.Size)}
	if !r.MultiPod() {
		name := naming.Pod(group, r.Name, i)
		in.Workload, in.ConfigMap = r.Service, naming.ClusterConfigMap(group)
		in.Pods[0] = r.pod(group, name, 0, naming.ClusterFileKey(r.Name, &i))
		return in
	}
	in.Workload, in.ConfigMap = naming.Instance(group, r.Name, i), naming.InstanceConfigMap(group, r.Name, i)
	switch r.Gang {
	case rbgsv1.GangInstance:
		in.PodGroup = in.Workload
	case rbgsv1.GangRole:
		in.PodGroup = r.Service
	}
	for j := range r.Size {
		in.Pods[j] = r.pod(group, naming.InstancePod(group, r.Name, i, j), j, naming.InstanceFileKey(r.Name, i, j))
	}
	return in
}

func (r *Role) pod(group, name string, worker int32, key string) Pod {
	host := naming.Host(name, group, r.Name)
	return Pod{Name: name, WorkerIndex: worker, Host: host, Address: naming.WithPort(host, r.Port), FileKey: key}
}

// Role returns the role named name, nil when g has none.
func (g *Group) Role(name string) *Role {
	for i := range g.Roles {
		if g.Roles[i].Name == name {
			return &g.Roles[i]
		}
	}
	return nil
}

// Pods counts the pods g runs at full scale.
func (g *Group) Pods() int {
	n := 0
	for _, r := range g.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			n += int(r.Replicas)
		} else {
			n += int(r.Count() * r.Size)
		}
	}
	return n
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
