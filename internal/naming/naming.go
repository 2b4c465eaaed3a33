// Package naming derives the names of the objects of a group. Every name the
// operator creates or expects is built here, so the contract lives in one place.
package naming

import (
	"strconv"
	"strings"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Workload is the name of the StatefulSet (or Deployment) of role in group,
// and of the role's headless Service: "<group>-<role>".
func Workload(group, role string) string {
	return group + "-" + role
}

// Pod is the name of pod ordinal k of a StatefulSet role.
func Pod(group, role string, k int32) string {
	return Workload(group, role) + "-" + strconv.Itoa(int(k))
}

// Instance is the name of the StatefulSet of instance i of a role of size
// > 1, "<group>-<role>-<i>"; its pods are Instance-0 (the leader) to
// Instance-(size-1).
func Instance(group, role string, i int32) string {
	return Workload(group, role) + "-" + strconv.Itoa(int(i))
}

// InstancePod is the name of pod j of instance i of a role of size > 1.
func InstancePod(group, role string, i, j int32) string {
	return Instance(group, role, i) + "-" + strconv.Itoa(int(j))
}

// Group is the name of group index i of set.
func Group(set string, i int32) string {
	return set + "-" + strconv.Itoa(int(i))
}

// ClusterConfigMap holds the group's cluster.yaml files.
func ClusterConfigMap(group string) string {
	return group + "-rbgs-cluster"
}

// EnvConfigMap holds the group's RBGS_* address variables.
func EnvConfigMap(group string) string {
	return group + "-rbgs-env"
}

// Address is how other pods reach pod ordinal k of role R, "G-R-k.G-R:PORT",
// or ":PORT" left out when port is 0.
func Address(group, role string, k int32, port int32) string {
	return withPort(Host(Pod(group, role, k), group, role), port)
}

// Host is the DNS name of pod in the headless Service of role R of group:
// "<pod>.G-R".
func Host(pod, group, role string) string {
	return pod + "." + Workload(group, role)
}

// WithPort is host, with ":PORT" unless port is 0.
func WithPort(host string, port int32) string { return withPort(host, port) }

// ServiceAddress is how other pods reach a Deployment role, "G-R:PORT".
func ServiceAddress(group, role string, port int32) string {
	return withPort(Workload(group, role), port)
}

func withPort(host string, port int32) string {
	if port == 0 {
		return host
	}
	return host + ":" + strconv.Itoa(int(port))
}

// EnvRole turns a role name into its environment variable form: upper case,
// "-" turned into "_".
func EnvRole(role string) string {
	return strings.ToUpper(strings.ReplaceAll(role, "-", "_"))
}

// EnvAddress is the variable holding the address of pod k of role.
func EnvAddress(role string, k int32) string {
	return rbgsv1.EnvRolesPrefix + EnvRole(role) + "_" + strconv.Itoa(int(k)) + rbgsv1.EnvAddressSuffix
}

// EnvReplicas is the variable holding the replica count of role.
func EnvReplicas(role string) string {
	return rbgsv1.EnvRolesPrefix + EnvRole(role) + rbgsv1.EnvReplicasSuffix
}

// ClusterFileKey is the ConfigMap key of the cluster.yaml a pod of role
// receives: "<role>.<rank>.yaml" for StatefulSet roles, whose ordinal is only
// known in the pod (hence the ".$(RBGS_LOCAL_RANK)" sub-path expression),
// "<role>.yaml" for Deployment roles. Role names hold no ".", so keys never
// collide.
func ClusterFileKey(role string, rank *int32) string {
	if rank == nil {
		return role + ".yaml"
	}
	return role + "." + strconv.Itoa(int(*rank)) + ".yaml"
}

// ClusterFileSubPathExpr is the sub-path expression that picks a StatefulSet
// pod's own file out of the cluster ConfigMap.
func ClusterFileSubPathExpr(role string) string {
	return role + ".$(" + rbgsv1.EnvLocalRank + ").yaml"
}

// InstanceFileKey is the key of the cluster.yaml of pod j of instance i of
// a role of size > 1, "<role>.<i>.<j>.yaml", in the instance's ConfigMap.
func InstanceFileKey(role string, i, j int32) string {
	return role + "." + strconv.Itoa(int(i)) + "." + strconv.Itoa(int(j)) + ".yaml"
}

// InstanceFileSubPathExpr picks the file of a pod of instance i of a role
// of size > 1 out of the instance's ConfigMap.
func InstanceFileSubPathExpr(role string, i int32) string {
	return role + "." + strconv.Itoa(int(i)) + ".$(" + rbgsv1.EnvLocalWorkerIndex + ").yaml"
}

// InstanceConfigMap holds the cluster.yaml files of the pods of instance i
// of a role of size > 1 (every pod's file lists every pod of the group,
// so one ConfigMap per instance keeps each far below the size limit).
func InstanceConfigMap(group, role string, i int32) string {
	return ClusterConfigMap(group) + "-" + role + "-" + strconv.Itoa(int(i))
}

// LiveClusterFileKey holds the topology without a local section; it is
// mounted as a directory so the kubelet refreshes it in running pods.
const LiveClusterFileKey = "cluster.yaml"
