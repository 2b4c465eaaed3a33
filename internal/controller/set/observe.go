package set

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/validation"
)

// observation is what one reconcile reads of a set: everything its plan
// decides from.
type observation struct {
	// s is the set, its template's roles at the counts of the RoleScalers
	// that drive them (see driven): the replicas of its own spec for a
	// driven role never reach a group.
	s *rbgsv1.RoleBasedGroupSet
	// groups are the set's groups, by index.
	groups map[int32]*rbgsv1.RoleBasedGroup
	now    metav1.Time
}

// observe reads the groups of s and the RoleScalers that drive its roles.
func (r *Reconciler) observe(ctx context.Context, key string, s *rbgsv1.RoleBasedGroupSet, now metav1.Time) (*observation, error) {
	groups, err := r.groups(ctx, key, s)
	if err != nil {
		return nil, err
	}
	driven, err := r.driven(ctx, s, groups)
	if err != nil {
		return nil, err
	}
	return &observation{s: driven, groups: groups, now: now}, nil
}

// driven is s with its template's roles at the counts of the RoleScalers
// that drive them: each group runs ceil(replicas / groups) instances (see
// internal/scaling). A count the set cannot run is not run: the role
// keeps what its groups run (its RoleScaler says it is refused).
func (r *Reconciler) driven(ctx context.Context, s *rbgsv1.RoleBasedGroupSet, groups map[int32]*rbgsv1.RoleBasedGroup) (*rbgsv1.RoleBasedGroupSet, error) {
	var l rbgsv1.RoleScalerList
	if err := r.Client.List(ctx, &l, client.InNamespace(s.Namespace),
		client.MatchingFields{scaling.TargetIndex: scaling.TargetKey(rbgsv1.TargetSet, s.Name)}); err != nil {
		return nil, fmt.Errorf("listing the RoleScalers of %s: %w", s.Name, err)
	}
	drivers := scaling.Drivers(l.Items)
	if len(drivers) == 0 {
		return s, nil
	}
	d := s.DeepCopy()
	scaling.Override(d.Spec.GroupTemplate.Roles, drivers, *s.Spec.Replicas,
		func() field.ErrorList { return validation.RoleBasedGroupSet(d) },
		func(role string) int32 { return runningCount(s, groups, role) })
	return d, nil
}

// runningCount is how many instances of role the groups of s run: the
// most any group asks for, or the template's count when no group has the
// role.
func runningCount(s *rbgsv1.RoleBasedGroupSet, groups map[int32]*rbgsv1.RoleBasedGroup, role string) int32 {
	n, found := int32(0), false
	for _, g := range groups {
		if r := scaling.RoleOf(g.Spec.Roles, role); r != nil {
			n, found = max(n, r.ReplicasOrDefault()), true
		}
	}
	if !found {
		return scaling.RoleOf(s.Spec.GroupTemplate.Roles, role).ReplicasOrDefault()
	}
	return n
}

// groups returns the set's groups by index. Groups 0..replicas+maxSurge-1
// are read one by one, each read waiting until the cache has seen this operator's
// last write of that group, so a lagging cache never makes the set create a
// group twice; groups at higher indices (to delete) come from the owner
// index without waiting. Groups whose index label is missing or does not
// match their name are not the set's to manage.
func (r *Reconciler) groups(ctx context.Context, key string, s *rbgsv1.RoleBasedGroupSet) (map[int32]*rbgsv1.RoleBasedGroup, error) {
	// The listed groups are the cache's own objects, not copies: a set of a
	// thousand groups is reconciled for every change of one, and copying
	// every group each time dominated the operator's CPU and allocations.
	// Nothing here modifies them: desired specs are built from copies, and
	// a delete only reads the object's key.
	var list rbgsv1.RoleBasedGroupList
	if err := r.Client.List(ctx, &list, append(owner.Of(s), client.DisableReadYourWritesConsistency, client.UnsafeDisableDeepCopy)...); err != nil {
		return nil, fmt.Errorf("listing groups of %s: %w", s.Name, err)
	}
	groups := make(map[int32]*rbgsv1.RoleBasedGroup, len(list.Items))
	for i := range list.Items {
		g := &list.Items[i]
		idx, err := strconv.ParseInt(g.Labels[rbgsv1.LabelGroupIndex], 10, 32)
		if err != nil || g.Name != naming.Group(s.Name, int32(idx)) {
			continue
		}
		groups[int32(idx)] = g
	}
	// Only groups missing from the list, or listed in a version older than
	// this operator's last write, need a read that waits; surge groups too.
	_, surge := s.Spec.RolloutStrategy.Budget(*s.Spec.Replicas)
	var recheck []int32
	for i := range *s.Spec.Replicas + surge {
		if g, ok := groups[i]; !ok || !r.Memo.Settled(key, g) {
			recheck = append(recheck, i)
		}
	}
	read := make([]*rbgsv1.RoleBasedGroup, len(recheck))
	errs := make([]error, len(recheck))
	apply.Parallel(16, len(recheck), func(j int) {
		g := &rbgsv1.RoleBasedGroup{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: naming.Group(s.Name, recheck[j])}, g)
		switch {
		case err == nil && metav1.IsControlledBy(g, s):
			read[j] = g
		case err != nil && !apierrors.IsNotFound(err):
			errs[j] = fmt.Errorf("reading group %d of %s: %w", recheck[j], s.Name, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for j, i := range recheck {
		if read[j] != nil {
			groups[i] = read[j]
		} else {
			delete(groups, i)
		}
	}
	return groups, nil
}
