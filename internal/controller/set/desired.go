package set

import (
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
	rev "github.com/openpatio/rbgs/internal/revision"
	"github.com/openpatio/rbgs/internal/scaling"
)

// revision identifies what a group runs, apart from replica counts: a hash
// of the startup policy and the group template with every role's replicas
// and instance rollout settings left out (and a size of 1, the default,
// written or not). Changing only replica counts (or the group restart settings)
// keeps the revision, so scaling never goes through a rollout; any other change makes a new revision that
// reaches the groups a few at a time.
func revision(s *rbgsv1.RoleBasedGroupSet) string {
	t := &rbgsv1.GroupTemplate{Roles: make([]rbgsv1.RoleSpec, len(s.Spec.GroupTemplate.Roles))}
	for i := range t.Roles {
		t.Roles[i] = *rev.PodShaping(&s.Spec.GroupTemplate.Roles[i])
	}
	h, ok := rev.Hash(struct {
		StartupPolicy rbgsv1.StartupPolicy  `json:"startupPolicy"`
		Template      *rbgsv1.GroupTemplate `json:"template"`
	}{s.Spec.StartupPolicy, t}, 5)
	if !ok {
		// The API types always marshal; keep the revision stable regardless.
		return "invalid"
	}
	return h
}

// updatedSpec is the spec of a group at the update revision.
func updatedSpec(s *rbgsv1.RoleBasedGroupSet) rbgsv1.RoleBasedGroupSpec {
	return rbgsv1.RoleBasedGroupSpec{
		StartupPolicy: s.Spec.StartupPolicy,
		UpdatePolicy:  s.Spec.RolloutStrategy.GroupUpdatePolicy,
		RestartSpec:   *s.Spec.RestartSpec.DeepCopy(),
		GroupTemplate: *s.Spec.GroupTemplate.DeepCopy(),
	}
}

// scaledSpec is the spec of a group the rollout has not reached yet: its
// own roles and templates, with the replica counts, rollout and
// disruption budgets, restart settings and update policy of the set (none
// changes a pod). A role whose size the new revision
// changes keeps its own replicas: the set's count is of instances of the
// new size (a role of size 1 x 8 edited to size 4 x 2 runs 8 pods, not 2,
// until its group's turn comes).
func scaledSpec(s *rbgsv1.RoleBasedGroupSet, current *rbgsv1.RoleBasedGroup) rbgsv1.RoleBasedGroupSpec {
	spec := *current.Spec.DeepCopy()
	spec.RestartSpec = *s.Spec.RestartSpec.DeepCopy()
	spec.UpdatePolicy = s.Spec.RolloutStrategy.GroupUpdatePolicy
	spec.Coordination = s.Spec.GroupTemplate.Coordination.DeepCopy()
	for i := range spec.Roles {
		r := &spec.Roles[i]
		t := scaling.RoleOf(s.Spec.GroupTemplate.Roles, r.Role)
		if t == nil {
			continue
		}
		if t.SizeOrDefault() == r.SizeOrDefault() {
			r.Replicas = t.Replicas
		}
		r.RolloutStrategy = t.RolloutStrategy.DeepCopy()
		r.DisruptionBudget = t.DisruptionBudget.DeepCopy()
	}
	return spec
}

// lowestAt is the group of lowest index that runs revision rev, nil when
// none does.
func lowestAt(groups map[int32]*rbgsv1.RoleBasedGroup, rev string) *rbgsv1.RoleBasedGroup {
	var found *rbgsv1.RoleBasedGroup
	lowest := int32(0)
	for i, g := range groups {
		if g.Labels[rbgsv1.LabelGroupRevision] == rev && (found == nil || i < lowest) {
			found, lowest = g, i
		}
	}
	return found
}

// desiredGroup is group index of set s, with spec, at revision rev.
func desiredGroup(s *rbgsv1.RoleBasedGroupSet, index int32, rev string, spec rbgsv1.RoleBasedGroupSpec) *rbgsv1.RoleBasedGroup {
	return &rbgsv1.RoleBasedGroup{
		ObjectMeta: metav1.ObjectMeta{
			Name:      naming.Group(s.Name, index),
			Namespace: s.Namespace,
			Labels: map[string]string{
				rbgsv1.LabelManagedBy:     rbgsv1.ManagedByValue,
				rbgsv1.LabelSetName:       s.Name,
				rbgsv1.LabelGroupIndex:    strconv.Itoa(int(index)),
				rbgsv1.LabelGroupRevision: rev,
			},
			OwnerReferences: []metav1.OwnerReference{owner.Ref(s, setKind)},
		},
		Spec: spec,
	}
}
