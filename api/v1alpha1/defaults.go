package v1alpha1

import "k8s.io/apimachinery/pkg/util/intstr"

// Defaults of optional fields, for readers of objects that the API server
// has not defaulted (built in code, or from before a default existed).

// PartitionOrZero is the rollout's partition, 0 when unset.
func (r *RolloutStrategy) PartitionOrZero() int32 {
	if r.Partition == nil {
		return 0
	}
	return *r.Partition
}

// KindOrDefault is the role's workload kind, StatefulSet when unset.
func (r *RoleSpec) KindOrDefault() WorkloadKind {
	if r.Workload.Kind == "" {
		return WorkloadStatefulSet
	}
	return r.Workload.Kind
}

// ReplicasOrDefault is the role's number of instances, 1 when unset.
func (r *RoleSpec) ReplicasOrDefault() int32 {
	if r.Replicas == nil {
		return 1
	}
	return *r.Replicas
}

// SizeOrDefault is the number of pods of an instance of the role, 1 when
// unset.
func (r *RoleSpec) SizeOrDefault() int32 {
	if r.Size == nil || *r.Size < 1 {
		return 1
	}
	return *r.Size
}

// InstancesMaxUnavailable is how many instances of the role may be
// unavailable at once while its template changes
// (rolloutStrategy.maxUnavailable); see InstancesBudget.
func (r *RoleSpec) InstancesMaxUnavailable() int32 {
	u, _ := r.InstancesBudget()
	return u
}

// InstancesBudget is how many instances of the role may be unavailable at
// once while its template changes, and how many may run above its
// replicas, resolved as a Deployment resolves them (see
// RolloutStrategy.Budget).
func (r *RoleSpec) InstancesBudget() (maxUnavailable, maxSurge int32) {
	if r.RolloutStrategy == nil {
		return 1, 0
	}
	return budget(r.RolloutStrategy.MaxUnavailable, r.RolloutStrategy.MaxSurge, r.ReplicasOrDefault())
}

// InPlace reports whether the role updates its pods in place when it can
// (rolloutStrategy.podUpdatePolicy InPlaceIfPossible).
func (r *RoleSpec) InPlace() bool {
	return r.RolloutStrategy != nil && r.RolloutStrategy.PodUpdatePolicy == PodUpdateInPlaceIfPossible
}

// DisruptionsAllowed is how many of the role's instances its disruption
// budget lets be unavailable at once (a percentage of its replicas,
// rounded down); false when the role has no budget.
func (r *RoleSpec) DisruptionsAllowed() (int32, bool) {
	if r.DisruptionBudget == nil {
		return 0, false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&r.DisruptionBudget.MaxUnavailable, int(r.ReplicasOrDefault()), false)
	if err != nil || n < 0 {
		return 0, true
	}
	return int32(n), true
}

// Budget is how many of replicas groups may be unavailable at once during
// a rollout (maxUnavailable, a percentage rounded down) and how many may
// run above replicas (maxSurge, rounded up), as a Deployment resolves
// them: when both come to 0, one group may be unavailable, so a rollout
// always progresses.
func (r *RolloutStrategy) Budget(replicas int32) (maxUnavailable, maxSurge int32) {
	return budget(r.MaxUnavailable, r.MaxSurge, replicas)
}

// budget resolves maxUnavailable (default 1) and maxSurge (default 0) of
// total.
func budget(unavailable, surge *intstr.IntOrString, total int32) (int32, int32) {
	u := int32(1)
	if unavailable != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(unavailable, int(total), false)
		if err == nil && n >= 0 {
			u = int32(n)
		}
	}
	s := int32(0)
	if surge != nil {
		n, err := intstr.GetScaledValueFromIntOrPercent(surge, int(total), true)
		if err == nil && n >= 0 {
			s = int32(n)
		}
	}
	if u == 0 && s == 0 {
		u = 1
	}
	return u, s
}

// GangOrDefault is the role's gang policy, None when unset.
func (r *RoleSpec) GangOrDefault() GangPolicy {
	if r.Scheduling == nil || r.Scheduling.Gang == "" {
		return GangNone
	}
	return r.Scheduling.Gang
}

// TopologyKeyOf is the role's topology key, "" when unset.
func (r *RoleSpec) TopologyKeyOf() string {
	if r.Scheduling == nil {
		return ""
	}
	return r.Scheduling.TopologyKey
}

// RoleNames lists the names of roles, in order.
func RoleNames(roles []RoleSpec) []string {
	out := make([]string, len(roles))
	for i := range roles {
		out[i] = roles[i].Role
	}
	return out
}

// UpdatePolicyOrDefault is the group's update policy, RollingUpdate when
// unset.
func (s *RoleBasedGroupSpec) UpdatePolicyOrDefault() UpdatePolicy {
	if s.UpdatePolicy == "" {
		return UpdateRollingUpdate
	}
	return s.UpdatePolicy
}

// MaxSkewFraction is the coordination's maxSkew as a fraction of 1; false
// when the group's roles are not coordinated.
func (t *GroupTemplate) MaxSkewFraction() (float64, bool) {
	if t.Coordination == nil {
		return 0, false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(&t.Coordination.MaxSkew, 10000, false)
	if err != nil {
		return 0, false
	}
	return float64(n) / 10000, true
}
