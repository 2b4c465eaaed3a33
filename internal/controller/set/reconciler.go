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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/validation"
)

// OwnerIndex indexes groups by the UID of the set that controls them.
const OwnerIndex = "rbgs.set.uid"

// IndexOwner is the OwnerIndex function.
func IndexOwner(o client.Object) []string {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != "RoleBasedGroupSet" || ref.APIVersion != rbgsv1.GroupVersion.String() {
		return nil
	}
	return []string{string(ref.UID)}
}

// Reconciler reconciles RoleBasedGroupSets.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets/finalizers,verbs=update
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups,verbs=get;list;watch;create;patch;delete

// Reconcile brings one set to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var s rbgsv1.RoleBasedGroupSet
	if err := r.Client.Get(ctx, req.NamespacedName, &s); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !s.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes the groups
	}
	now := metav1.NewTime(r.Clock.Now())
	replicas := *s.Spec.Replicas
	longest := naming.Group(s.Name, max(replicas-1, 0))
	if errs := validation.Group(longest, s.Spec.GroupTemplate.Roles, field.NewPath("spec", "groupTemplate", "roles")); len(errs) > 0 {
		return ctrl.Result{}, r.writeStatus(ctx, &s, failedStatus(&s, errs.ToAggregate(), now), nil)
	}

	groups, err := r.observe(ctx, &s)
	if err != nil {
		return ctrl.Result{}, err
	}
	rev := revision(&s)
	states := make([]groupState, 0, len(groups))
	for i, g := range groups {
		states = append(states, groupState{index: i, revision: g.Labels[rbgsv1.LabelGroupRevision], available: available(g)})
	}
	plan := planSet(replicas, states, rev, resolveMaxUnavailable(s.Spec.RolloutStrategy.MaxUnavailable, replicas))

	w := apply.NewWriter(ctx, r.Client, r.Scheme)
	for _, i := range plan.create {
		w.Write(desiredGroup(&s, i, rev, updatedSpec(&s)), nil)
	}
	for i, g := range groups {
		switch {
		case i >= replicas:
			continue
		case g.Labels[rbgsv1.LabelGroupRevision] == rev || slices.Contains(plan.update, i):
			w.Write(desiredGroup(&s, i, rev, updatedSpec(&s)), g)
		default:
			w.Write(desiredGroup(&s, i, g.Labels[rbgsv1.LabelGroupRevision], scaledSpec(&s, g)), g)
		}
	}
	var deleteErrs []error
	for _, i := range plan.delete {
		g := groups[i]
		uid := g.UID
		err := r.Client.Delete(ctx, g, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
		if client.IgnoreNotFound(err) != nil {
			deleteErrs = append(deleteErrs, fmt.Errorf("deleting group %s: %w", g.Name, err))
		}
	}

	// The status describes what the cache showed before this reconcile's
	// writes; the writes come back through the watch and update it.
	st := computeStatus(&s, groups, rev, now)
	statusErr := r.writeStatus(ctx, &s, st, &plan)
	return ctrl.Result{}, errors.Join(w.Err(), errors.Join(deleteErrs...), statusErr)
}

// observe returns the set's groups by index. Groups whose index label is
// missing or malformed are not the set's to manage.
func (r *Reconciler) observe(ctx context.Context, s *rbgsv1.RoleBasedGroupSet) (map[int32]*rbgsv1.RoleBasedGroup, error) {
	var list rbgsv1.RoleBasedGroupList
	if err := r.Client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{OwnerIndex: string(s.UID)}); err != nil {
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
	return groups, nil
}

// failedStatus is the status of a set whose template cannot be built.
func failedStatus(s *rbgsv1.RoleBasedGroupSet, err error, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	st := *s.Status.DeepCopy()
	st.ObservedGeneration = s.Generation
	st.Phase = rbgsv1.PhaseFailed
	for _, t := range []string{rbgsv1.ConditionReady, rbgsv1.ConditionProgressing} {
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: metav1.ConditionFalse, Reason: ReasonInvalidSpec,
			Message: err.Error(), ObservedGeneration: s.Generation, LastTransitionTime: now,
		})
	}
	return st
}

// writeStatus writes status if it changed, then records what this reconcile
// did as events.
func (r *Reconciler) writeStatus(ctx context.Context, s *rbgsv1.RoleBasedGroupSet, st rbgsv1.RoleBasedGroupSetStatus, plan *setPlan) error {
	prev := s.Status.Phase
	if !equality.Semantic.DeepEqual(s.Status, st) {
		s.Status = st
		if err := r.Client.Status().Update(ctx, s); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return nil // a newer version is on its way through the cache
			}
			return fmt.Errorf("writing status of %s: %w", s.Name, err)
		}
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
				"updating groups %s to revision %s (%d/%d updated)", indices(plan.update), st.UpdateRevision, st.UpdatedGroups, *s.Spec.Replicas)
		}
	}
	if st.Phase != prev {
		switch st.Phase {
		case rbgsv1.PhaseRunning:
			r.Recorder.Eventf(s, nil, corev1.EventTypeNormal, ReasonSetReady, "Reconcile", "every group is running")
		case rbgsv1.PhaseDegraded:
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonGroupDegraded, "Reconcile", "%d groups degraded", st.GroupCounts.Degraded)
		case rbgsv1.PhaseFailed:
			r.Recorder.Eventf(s, nil, corev1.EventTypeWarning, ReasonInvalidSpec, "Reconcile", "%s",
				apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady).Message)
		}
	}
	return nil
}

func indices(ix []int32) string {
	s := make([]string, len(ix))
	for i, v := range ix {
		s[i] = strconv.Itoa(int(v))
	}
	return strings.Join(s, ", ")
}

// SetupWithManager registers the reconciler, its owner index and watches:
// the set wakes on its own spec changes and on any change of its groups,
// their status included.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &rbgsv1.RoleBasedGroup{}, OwnerIndex, IndexOwner); err != nil {
		return fmt.Errorf("indexing groups by set: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rbgsv1.RoleBasedGroupSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&rbgsv1.RoleBasedGroup{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroupset").
		Complete(r)
}
