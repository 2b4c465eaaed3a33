// Package scaling says what a RoleScaler means, the same for every
// controller that reads one: which RoleScaler drives a role of a target,
// how many instances each group of the target runs for its count, and
// which pods its scale subresource counts.
//
// A RoleScaler's spec.replicas counts the role's instances across every
// group of its target, the unit an autoscaler computes in: each group runs
// ceil(replicas / groups). The set (or the group) reads its RoleScalers
// and runs their counts itself, so the replicas its own spec gives a
// driven role never reach a group or a workload, whatever writes them
// (kubectl apply, a GitOps sync).
package scaling

import (
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// TargetIndex indexes RoleScalers by TargetKey of their target.
const TargetIndex = "spec.targetRef"

// TargetKey identifies a target within its namespace.
func TargetKey(kind rbgsv1.RoleScalerTargetKind, name string) string {
	return string(kind) + "/" + name
}

// IndexTarget is the TargetIndex function.
func IndexTarget(o client.Object) []string {
	rs := o.(*rbgsv1.RoleScaler)
	return []string{TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name)}
}

// Drivers picks, for each role, the RoleScaler that drives it among
// scalers (all of one target): the oldest of those not being deleted, by
// creation time, then name. Admission refuses a second RoleScaler of a
// role, but two created at once may both get in.
func Drivers(scalers []rbgsv1.RoleScaler) map[string]*rbgsv1.RoleScaler {
	out := map[string]*rbgsv1.RoleScaler{}
	for i := range scalers {
		rs := &scalers[i]
		if !rs.DeletionTimestamp.IsZero() {
			continue
		}
		if first, ok := out[rs.Spec.Role]; !ok || Older(rs, first) {
			out[rs.Spec.Role] = rs
		}
	}
	return out
}

// Older reports whether a was created before b (by name on a tie).
func Older(a, b *rbgsv1.RoleScaler) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// PerGroup is how many instances each of groups groups runs for a total
// count: ceil(total / groups), whole groups being the unit (5 over 2
// groups is 3 each). A target with no group runs the total.
func PerGroup(total, groups int32) int32 {
	if groups <= 1 {
		return total
	}
	return (total + groups - 1) / groups
}

// Override writes into roles (the caller's copy of a target's roles) the
// per-group count of each role a RoleScaler of drivers drives, for groups
// groups. A count that check (the target's validation, reading roles)
// refuses is not run: that role gets fallback(role), the count it runs
// now, and refused tells why, by role.
func Override(roles []rbgsv1.RoleSpec, drivers map[string]*rbgsv1.RoleScaler, groups int32,
	check func() field.ErrorList, fallback func(role string) int32) (refused map[string]field.ErrorList) {
	for i := range roles {
		rs := drivers[roles[i].Role]
		if rs == nil {
			continue
		}
		roles[i].Replicas = new(PerGroup(rs.Spec.Replicas, groups))
		if errs := check(); len(errs) > 0 {
			roles[i].Replicas = new(fallback(roles[i].Role))
			if refused == nil {
				refused = map[string]field.ErrorList{}
			}
			refused[roles[i].Role] = errs
		}
	}
	return refused
}

// Selector selects the pods a RoleScaler counts: one per instance of its
// role (of size size) in every group of its target, so an autoscaler that
// multiplies a per-pod average by the pods matched gets the role's
// instances. Those are the role's pods for instances of one pod, and the
// leaders for larger ones.
func Selector(rs *rbgsv1.RoleScaler, size int32) string {
	key := rbgsv1.LabelGroupName
	if rs.Spec.TargetRef.Kind == rbgsv1.TargetSet {
		key = rbgsv1.LabelSetName
	}
	set := labels.Set{key: rs.Spec.TargetRef.Name, rbgsv1.LabelRole: rs.Spec.Role}
	if size > 1 {
		set[rbgsv1.LabelWorkerIndex] = "0"
	}
	return labels.SelectorFromSet(set).String()
}

// RoleOf is the role named role of roles, nil when there is none.
func RoleOf(roles []rbgsv1.RoleSpec, role string) *rbgsv1.RoleSpec {
	if i := slices.IndexFunc(roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role }); i >= 0 {
		return &roles[i]
	}
	return nil
}
