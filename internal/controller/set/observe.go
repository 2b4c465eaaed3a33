package set

import (
	"context"
	"errors"
	"fmt"
	"math"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/validation"
)

// observation is what one reconcile reads of a set: everything its plan
// decides from, but its groups, which the set's fleet holds (see
// fleet.go).
type observation struct {
	// s is the set, its template's roles at the counts of the RoleScalers
	// that drive them (see driven): the replicas of its own spec for a
	// driven role never reach a group.
	s   *rbgsv1.RoleBasedGroupSet
	now metav1.Time
}

// observe brings the fleet of s up to this operator's writes (see catchUp)
// and reads the RoleScalers that drive its roles.
func (r *Reconciler) observe(ctx context.Context, key string, s *rbgsv1.RoleBasedGroupSet, now metav1.Time) (*observation, error) {
	if err := r.catchUp(ctx, key, s); err != nil {
		return nil, err
	}
	driven, err := r.driven(ctx, s)
	if err != nil {
		return nil, err
	}
	return &observation{s: driven, now: now}, nil
}

// driven is s with its template's roles at the counts of the RoleScalers
// that drive them: each group runs ceil(replicas / groups) instances (see
// internal/scaling). A count the set cannot run is not run: the role
// keeps what its groups run (its RoleScaler says it is refused).
func (r *Reconciler) driven(ctx context.Context, s *rbgsv1.RoleBasedGroupSet) (*rbgsv1.RoleBasedGroupSet, error) {
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
		func(role string) int32 {
			n := int32(0)
			r.fleets.with(s.UID, func(f *fleet) { n = f.runningCount(s, role) })
			return n
		})
	return d, nil
}

// runningCount is how many instances of role the groups of s run: the
// most any group asks for, or the template's count when no group has the
// role. It looks at every group: it is asked only for a count the set
// refuses.
func (f *fleet) runningCount(s *rbgsv1.RoleBasedGroupSet, role string) int32 {
	n, found := int32(0), false
	for _, m := range f.members {
		if r := scaling.RoleOf(m.g.Spec.Roles, role); r != nil {
			n, found = max(n, r.ReplicasOrDefault()), true
		}
	}
	if !found {
		return scaling.RoleOf(s.Spec.GroupTemplate.Roles, role).ReplicasOrDefault()
	}
	return n
}

// catchUp brings the fleet of s up to what this operator wrote. Groups
// 0..replicas+maxSurge-1 the fleet lacks, and groups the set wrote that
// the cache may not show in that version yet, are read again, each read
// waiting until the cache has seen this operator's last write of that
// group, so a lagging cache never makes the set create or write a group
// twice. Other groups are as the fleet has them.
func (r *Reconciler) catchUp(ctx context.Context, key string, s *rbgsv1.RoleBasedGroupSet) error {
	_, surge := s.Spec.RolloutStrategy.Budget(*s.Spec.Replicas)
	members := *s.Spec.Replicas + surge
	var recheck indexSet
	r.fleets.with(s.UID, func(f *fleet) {
		if f.present.countBelow(members) < members {
			for i := range members {
				if !f.present.has(i) {
					recheck.add(i)
				}
			}
		}
		f.written.ascend(0, func(i int32) bool {
			if g := f.group(i); g == nil || !r.Memo.Settled(key, g) {
				recheck.add(i)
			} else {
				f.written.remove(i)
			}
			return true
		})
	})
	ix := recheck.list(math.MaxInt32)
	read := make([]*rbgsv1.RoleBasedGroup, len(ix))
	errs := make([]error, len(ix))
	apply.Parallel(16, len(ix), func(j int) {
		g := &rbgsv1.RoleBasedGroup{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: naming.Group(s.Name, ix[j])}, g)
		switch {
		case err == nil && metav1.IsControlledBy(g, s):
			read[j] = g
		case err != nil && !apierrors.IsNotFound(err):
			errs[j] = fmt.Errorf("reading group %d of %s: %w", ix[j], s.Name, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	r.fleets.with(s.UID, func(f *fleet) {
		for j, i := range ix {
			if read[j] != nil {
				f.put(i, memberOf(i, read[j]))
			} else {
				f.remove(i, "")
			}
		}
	})
	return nil
}
