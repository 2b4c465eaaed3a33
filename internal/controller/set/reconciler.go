// Package set reconciles RoleBasedGroupSets: N RoleBasedGroups named
// <set>-0 ... <set>-(N-1), scaled, rolled out a few at a time and reported
// as one object. The roles themselves are the group controller's business:
// a set only writes groups.
package set

import (
	"context"
	"errors"
	"fmt"
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
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
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

	// fleets keep each set's groups and their counts (see fleet.go).
	fleets fleets
}

// writeParallelism bounds the group writes of one reconcile in flight.
const writeParallelism = 64

// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/finalizers,verbs=update
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups,verbs=get;list;watch;create;patch;delete

// Reconcile brings one set to its spec: it brings the set's fleet up to
// its own writes and reads its RoleScalers (observe), plans from the
// fleet's counts which groups to create, move and delete and the status
// (plan.go and writes.go), writes the groups, and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s, err := r.set(ctx, req)
	if s == nil || err != nil {
		return ctrl.Result{}, err
	}
	now := metav1.NewTime(r.Clock.Now())
	if errs := validation.RoleBasedGroupSet(s); len(errs) > 0 {
		return r.writeStatus(ctx, s, failedStatus(s, errs.ToAggregate(), now), nil)
	}
	key := req.String()
	obs, err := r.observe(ctx, key, s, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	p := r.plan(s, obs)
	writeErr, deleteErr := r.writeGroups(ctx, key, s.UID, p)
	st := p.status
	if c, ok := errors.AsType[*apply.ConflictError](writeErr); ok {
		// A group could not be created: an object the set does not control
		// holds its name. Retried with backoff until the name is free.
		c.SetConditions(&st.Conditions, s.Generation, now)
		r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonNameConflict, "Create", "%s", c.Error())
	}
	r.Metrics.SetPhase(key, st.Phase)
	r.Metrics.SetGroups(s.Namespace, s.Name, p.rollout.replicas, st.ReadyGroups, st.UpdatedGroups)
	result, statusErr := r.writeStatus(ctx, s, st, &p.moves)
	return result, errors.Join(writeErr, deleteErr, statusErr)
}

// reconcilePlan is what one reconcile of a set does: the rollout its spec
// says, the groups it creates, moves and deletes, their writes and what
// they are for (see planWrites), and the status to write.
type reconcilePlan struct {
	rollout rollout
	moves   setPlan
	writes  []groupWrite
	intent  string
	doomed  []*rbgsv1.RoleBasedGroup
	status  rbgsv1.RoleBasedGroupSetStatus
}

// plan plans the reconcile of set s (observed as obs) from the counts of
// its fleet (see fleet.go), under the fleet's lock.
func (r *Reconciler) plan(s *rbgsv1.RoleBasedGroupSet, obs *observation) reconcilePlan {
	var p reconcilePlan
	r.fleets.with(s.UID, func(f *fleet) {
		p.rollout = rolloutOf(obs.s, revision(obs.s))
		current := f.currentRevision(s.Status.CurrentRevision, viewOf(p.rollout))
		p.moves = f.plan(p.rollout)
		p.writes, p.intent = planWrites(obs.s, f, p.moves, p.rollout, current)
		for _, i := range p.moves.delete {
			p.doomed = append(p.doomed, f.group(i))
		}
		// The status describes what the cache showed before this
		// reconcile's writes; the writes come back through the watch and
		// update it.
		p.status = f.status(obs.s, p.rollout, p.moves.surge, current, obs.now)
	})
	return p
}

// writeGroups makes the writes and deletions of p for the set of key
// (uid), side by side, and tells the set's fleet which groups it wrote and
// whether every write was made (see fleet.intent).
func (r *Reconciler) writeGroups(ctx context.Context, key string, uid types.UID, p reconcilePlan) (writeErr, deleteErr error) {
	w := apply.NewWriter(ctx, r.Client, r.Reader, r.Scheme, r.Memo, key, "")
	wrote := make([]bool, len(p.writes))
	apply.Parallel(writeParallelism, len(p.writes), func(j int) {
		wrote[j] = w.WriteFor(p.writes[j].intent, p.writes[j].live, p.writes[j].build)
	})
	deleteErr = r.deleteGroups(ctx, p.doomed)
	r.fleets.with(uid, func(f *fleet) {
		for j := range p.writes {
			if wrote[j] {
				f.written.add(p.writes[j].index)
			}
		}
		// A failed write is made again by a reconcile that compares every
		// group.
		f.intent = p.intent
		if w.Err() != nil {
			f.intent = ""
		}
	})
	return w.Err(), deleteErr
}

// set reads the set of req; nil when it is gone (its memories are
// dropped) or being deleted (the garbage collector removes its groups).
func (r *Reconciler) set(ctx context.Context, req ctrl.Request) (*rbgsv1.RoleBasedGroupSet, error) {
	var s rbgsv1.RoleBasedGroupSet
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		if apierrors.IsNotFound(err) {
			r.Memo.Retain(req.String(), nil)
			r.Statuses.Forget(req.String())
			r.Metrics.SetPhase(req.String(), "")
			r.Metrics.ForgetSet(req.Namespace, req.Name)
		}
		return nil, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return &s, nil
}

// deleteGroups deletes groups, each only if it is still the group that
// was observed.
func (r *Reconciler) deleteGroups(ctx context.Context, groups []*rbgsv1.RoleBasedGroup) error {
	errs := make([]error, len(groups))
	apply.Parallel(writeParallelism, len(groups), func(j int) {
		g := groups[j]
		uid := g.UID
		err := r.Client.Delete(ctx, g, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		if client.IgnoreNotFound(err) != nil {
			errs[j] = fmt.Errorf("deleting group %s: %w", g.Name, err)
		}
	})
	return errors.Join(errs...)
}

// failedStatus is the status of a set whose template cannot be built: the
// previous one, at the current generation, Failed, with the reason.
func failedStatus(s *rbgsv1.RoleBasedGroupSet, err error, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	st := *s.Status.DeepCopy()
	status.Failed(&st.ObservedGeneration, &st.Phase, &st.Conditions, s.Generation, ReasonInvalidSpec, err, now)
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

// indices lists group indices for an event, in ranges ("0-99, 120"), at
// most maxRanges of them (see indexSet.String): an event message holds at
// most 1,024 characters, and a set may create thousands of groups at once.
func indices(ix []int32) string { return indicesOf(ix).String() }

// scaledSet maps a RoleScaler to the set it targets, if it targets one.
func scaledSet(_ context.Context, o client.Object) []reconcile.Request {
	rs := o.(*rbgsv1.RoleScaler)
	if rs.Spec.TargetRef.Kind != rbgsv1.TargetSet {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.TargetRef.Name}}}
}

// SetupWithManager registers the reconciler and its watches: the set wakes
// on its own spec changes, on any change of its groups, their status
// included, and on changes of the RoleScalers of its roles.
func (r *Reconciler) SetupWithManager(_ context.Context, mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&rbgsv1.RoleBasedGroupSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// Each change of a group reaches its set's fleet before it wakes
		// the set (see groupEvents).
		Watches(&rbgsv1.RoleBasedGroup{}, r.groupEvents()).
		// A RoleScaler's count is the set's to pass to its groups.
		Watches(&rbgsv1.RoleScaler{}, handler.EnqueueRequestsFromMapFunc(scaledSet),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroupset").
		Complete(r)
}
