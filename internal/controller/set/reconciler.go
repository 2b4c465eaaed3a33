// Package set reconciles RoleBasedGroupSets: N RoleBasedGroups named
// <set>-0 ... <set>-(N-1), scaled, rolled out a few at a time and reported
// as one object. The roles themselves are the group controller's business:
// a set only writes groups.
package set

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/validation"
)

// Reconciler reconciles RoleBasedGroupSets.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Reader reads from the API server what the cache cannot answer (see
	// apply.Writer).
	Reader client.Reader
	// Memo skips groups already seen as desired (see apply.Memo).
	Memo *apply.Memo
	// Statuses writes the sets' statuses.
	Statuses *status.Writer
	// StatusInterval bounds how often a status is rewritten for changes of
	// counts alone (see writeStatus).
	StatusInterval time.Duration
	// Metrics, if set, records the set's phase and rollout progress.
	Metrics *metrics.Metrics
}

// writeParallelism bounds the group writes of one reconcile in flight.
const writeParallelism = 64

// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/finalizers,verbs=update
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups,verbs=get;list;watch;create;patch;delete

// Reconcile brings one set to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s rbgsv1.RoleBasedGroupSet
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.Memo.Retain(req.String(), nil)
			r.Statuses.Forget(req.String())
			r.Metrics.SetPhase(req.String(), "")
			r.Metrics.ForgetSet(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes the groups
	}
	now := metav1.NewTime(r.Clock.Now())
	replicas := *s.Spec.Replicas
	if errs := validation.RoleBasedGroupSet(&s); len(errs) > 0 {
		return r.writeStatus(ctx, &s, failedStatus(&s, errs.ToAggregate(), now), nil)
	}

	key := req.String()
	groups, err := r.observe(ctx, key, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	rev := revision(&s)
	ro := rolloutOf(&s, rev)
	current := currentRevision(s.Status.CurrentRevision, groups, replicas, rev)
	states := make([]groupState, 0, len(groups))
	for i, g := range groups {
		states = append(states, stateOf(i, g))
	}
	plan := planSet(ro, states)

	r.Memo.Retain(key, groupUIDs(groups))
	w := apply.NewWriter(ctx, r.Client, r.Reader, r.Scheme, r.Memo, key, "")
	updated := sync.OnceValue(func() rbgsv1.RoleBasedGroupSpec { return updatedSpec(&s) })
	updatedIntent := fmt.Sprintf("%s/%d/%s", s.UID, s.Generation, rev)
	// A group created where the rollout does not reach (below the
	// partition, or while paused) runs the current revision, with the
	// roles of a group that runs it.
	var currentGroup *rbgsv1.RoleBasedGroup
	if current != rev {
		currentGroup = lowestAt(groups, current)
	}
	type job struct {
		index int32
		live  *rbgsv1.RoleBasedGroup
	}
	var jobs []job
	for _, i := range plan.create {
		jobs = append(jobs, job{index: i})
	}
	for i, g := range groups {
		if i < replicas {
			jobs = append(jobs, job{index: i, live: g})
		}
	}
	// Groups are independent: write them side by side.
	apply.Parallel(writeParallelism, len(jobs), func(j int) {
		i, live := jobs[j].index, jobs[j].live
		// base is the group whose roles and templates a group not moved
		// to the update revision keeps.
		base := live
		if live == nil && (ro.paused || i < ro.partition) {
			base = currentGroup
		}
		if base == nil || base.Labels[rbgsv1.LabelGroupRevision] == rev || slices.Contains(plan.update, i) {
			w.WriteFor(updatedIntent, live, func() client.Object { return desiredGroup(&s, i, rev, updated()) })
			return
		}
		old := base.Labels[rbgsv1.LabelGroupRevision]
		w.WriteFor(fmt.Sprintf("%s/%d/%s/%d", s.UID, s.Generation, old, base.Generation), live,
			func() client.Object { return desiredGroup(&s, i, old, scaledSpec(&s, base)) })
	})
	var deleteErrs []error
	var mu sync.Mutex
	apply.Parallel(writeParallelism, len(plan.delete), func(j int) {
		g := groups[plan.delete[j]]
		uid := g.UID
		err := r.Client.Delete(ctx, g, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		if client.IgnoreNotFound(err) != nil {
			mu.Lock()
			deleteErrs = append(deleteErrs, fmt.Errorf("deleting group %s: %w", g.Name, err))
			mu.Unlock()
		}
	})

	// The status describes what the cache showed before this reconcile's
	// writes; the writes come back through the watch and update it.
	st := computeStatus(&s, groups, ro, current, now)
	if c, ok := errors.AsType[*apply.ConflictError](w.Err()); ok {
		// A group could not be created: an object the set does not control
		// holds its name. Retried with backoff until the name is free.
		c.SetConditions(&st.Conditions, s.Generation, now)
		r.Recorder.Eventf(&s, nil, corev1.EventTypeWarning, ReasonNameConflict, "Create", "%s", c.Error())
	}
	r.Metrics.SetPhase(key, st.Phase)
	r.Metrics.SetGroups(s.Namespace, s.Name, replicas, st.ReadyGroups, st.UpdatedGroups)
	result, statusErr := r.writeStatus(ctx, &s, st, &plan)
	return result, errors.Join(w.Err(), errors.Join(deleteErrs...), statusErr)
}

// observe returns the set's groups by index. Groups 0..replicas-1 are read
// one by one, each read waiting until the cache has seen this operator's
// last write of that group, so a lagging cache never makes the set create a
// group twice; groups at higher indices (to delete) come from the owner
// index without waiting. Groups whose index label is missing or does not
// match their name are not the set's to manage.
func (r *Reconciler) observe(ctx context.Context, key string, s *rbgsv1.RoleBasedGroupSet) (map[int32]*rbgsv1.RoleBasedGroup, error) {
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
	// this operator's last write, need a read that waits.
	var recheck []int32
	for i := range *s.Spec.Replicas {
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

// failedStatus is the status of a set whose template cannot be built: the
// previous one, at the current generation, Failed, with the reason.
func failedStatus(s *rbgsv1.RoleBasedGroupSet, err error, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	st := *s.Status.DeepCopy()
	st.ObservedGeneration = s.Generation
	st.Phase = rbgsv1.PhaseFailed
	status.SetNotReady(&st.Conditions, ReasonInvalidSpec, err.Error(), s.Generation, now)
	return st
}

// writeStatus writes status if it changed (see internal/status): changes
// of generation, phase, group count, revision or a condition's status or
// reason at once, other changes (counts of ready and updated groups, the
// group list) at most once per StatusInterval. Then it records what this
// reconcile did as events.
func (r *Reconciler) writeStatus(ctx context.Context, s *rbgsv1.RoleBasedGroupSet, next rbgsv1.RoleBasedGroupSetStatus, plan *setPlan) (ctrl.Result, error) {
	prev := s.Status
	_, result, err := status.Write(ctx, r.Statuses, s, status.Change[rbgsv1.RoleBasedGroupSetStatus]{
		Current: &s.Status, Next: next, Significant: significantChange, Interval: r.StatusInterval,
	})
	if err != nil {
		return result, err
	}
	if plan != nil {
		if len(plan.create) > 0 {
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonGroupsCreated, "Scale", "created groups %s", indices(plan.create))
		}
		if len(plan.delete) > 0 {
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonGroupsDeleted, "Scale", "deleted groups %s", indices(plan.delete))
		}
		if len(plan.update) > 0 {
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonRolloutStep, "RollOut",
				"updating groups %s to revision %s (%d/%d updated)", indices(plan.update), next.UpdateRevision, next.UpdatedGroups, *s.Spec.Replicas)
		}
	}
	if s.Status.Phase != prev.Phase {
		switch s.Status.Phase {
		case rbgsv1.PhaseRunning:
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonSetReady, "Reconcile", "every group is running")
		case rbgsv1.PhaseDegraded:
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonGroupDegraded, "Reconcile", "%d groups degraded", next.GroupCounts.Degraded)
		case rbgsv1.PhaseFailed:
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonInvalidSpec, "Reconcile", "%s",
				apimeta.FindStatusCondition(next.Conditions, rbgsv1.ConditionReady).Message)
		}
	}
	return result, nil
}

// significantChange reports whether next differs from prev in what a
// person, kubectl wait or an autoscaler acts on.
func significantChange(prev, next rbgsv1.RoleBasedGroupSetStatus) bool {
	return status.Significant(prev.ObservedGeneration, next.ObservedGeneration, prev.Phase, next.Phase, prev.Conditions, next.Conditions) ||
		prev.Replicas != next.Replicas || prev.Selector != next.Selector || prev.UpdateRevision != next.UpdateRevision
}

func groupUIDs(groups map[int32]*rbgsv1.RoleBasedGroup) map[types.UID]bool {
	out := make(map[types.UID]bool, len(groups))
	for _, g := range groups {
		out[g.UID] = true
	}
	return out
}

// indices lists group indices for an event, in ranges ("0-99, 120"), at
// most maxRanges of them: an event message holds at most 1,024 characters,
// and a set may create thousands of groups at once.
func indices(ix []int32) string {
	sorted := slices.Sorted(slices.Values(ix))
	var parts []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if len(parts) == maxRanges {
			parts = append(parts, fmt.Sprintf("and %d more", len(sorted)-i))
			break
		}
		part := strconv.Itoa(int(sorted[i]))
		if j > i {
			part += "-" + strconv.Itoa(int(sorted[j]))
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// maxRanges bounds the ranges indices lists.
const maxRanges = 20

// SetupWithManager registers the reconciler, its owner index and watches:
// the set wakes on its own spec changes and on any change of its groups,
// their status included.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	if err := owner.AddIndex(ctx, mgr, &rbgsv1.RoleBasedGroup{}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rbgsv1.RoleBasedGroupSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&rbgsv1.RoleBasedGroup{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroupset").
		Complete(r)
}
