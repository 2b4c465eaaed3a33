// Package scaler reconciles RoleScalers: each gives autoscalers a scale
// subresource for one role of a set (across all its groups) or of a group.
// A set has one scale subresource, which counts groups; a RoleScaler is
// the target "role decode of set S" that HorizontalPodAutoscalers and
// KEDA need to scale prefill and decode on their own metrics.
//
// A RoleScaler's spec.replicas counts the role's instances across every
// group of its target, the unit an autoscaler computes in: it multiplies
// a per-pod average by the pods the scale subresource's selector matches,
// and that selector matches one pod per instance. The set (or the group)
// reads its RoleScalers and runs ceil(replicas / groups) instances of the
// role in each group (see internal/scaling), whatever its own spec says,
// so a kubectl apply or a GitOps sync of the set never resets a scaled
// role. This controller writes nothing but the RoleScaler's status: what
// the groups run (status.replicas, the sum), how many are Ready, the
// selector, and whether the target runs the count.
package scaler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/validation"
)

// Reconciler reconciles RoleScalers.
type Reconciler struct {
	Client client.Client
	Clock  clock.PassiveClock
	// Statuses writes the RoleScalers' statuses.
	Statuses *status.Writer
	// StatusInterval bounds how often a status is rewritten for changes of
	// counts alone.
	StatusInterval time.Duration
}

// +kubebuilder:rbac:groups=openpatio.io,resources=rolescalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolescalers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets;rolebasedgroups,verbs=get;list;watch

// Reconcile reports how the target of one RoleScaler runs its role.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var rs rbgsv1.RoleScaler
	if err := r.Client.Get(ctx, req.NamespacedName, &rs); err != nil {
		if apierrors.IsNotFound(err) {
			r.Statuses.Forget(req.String())
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	now := metav1.NewTime(r.Clock.Now())
	next := rbgsv1.RoleScalerStatus{
		ObservedGeneration: rs.Generation,
		Selector:           scaling.Selector(&rs, 1),
		Conditions:         slices.Clone(rs.Status.Conditions),
	}
	ready, err := r.report(ctx, &rs, &next)
	if err != nil {
		return ctrl.Result{}, err
	}
	ready.Type, ready.ObservedGeneration, ready.LastTransitionTime = rbgsv1.ConditionReady, rs.Generation, now
	apimeta.SetStatusCondition(&next.Conditions, ready)
	_, result, err := status.Write(ctx, r.Statuses, &rs, status.Change[rbgsv1.RoleScalerStatus]{
		Current: &rs.Status, Next: next, Interval: r.StatusInterval,
		Significant: func(prev, next rbgsv1.RoleScalerStatus) bool {
			return prev.Replicas != next.Replicas || prev.Selector != next.Selector ||
				status.Significant(prev.ObservedGeneration, next.ObservedGeneration, "", "", prev.Conditions, next.Conditions)
		},
	})
	return result, err
}

// target is the set or group a RoleScaler scales a role of.
type target struct {
	obj   client.Object
	roles []rbgsv1.RoleSpec
	// groups are the groups that run the role, and want how many of them
	// there should be.
	groups []rbgsv1.RoleBasedGroup
	want   int32
	// check validates obj, whose roles are roles.
	check func() field.ErrorList
}

// report fills the counts and selector of st, the next status of rs, and
// returns its Ready condition (type and times unset).
func (r *Reconciler) report(ctx context.Context, rs *rbgsv1.RoleScaler, st *rbgsv1.RoleScalerStatus) (metav1.Condition, error) {
	ref, role := rs.Spec.TargetRef, rs.Spec.Role
	what := fmt.Sprintf("%s %s", ref.Kind, ref.Name)
	if first, err := r.driver(ctx, rs); err != nil {
		return metav1.Condition{}, err
	} else if first != rs.Name {
		return notReady(rbgsv1.ReasonDuplicate, "RoleScaler %s already scales role %s of %s: scale that one, and delete this one", first, role, what), nil
	}
	t, err := r.target(ctx, rs)
	if apierrors.IsNotFound(err) {
		return notReady(rbgsv1.ReasonTargetNotFound, "%s not found: the role is scaled once it exists", what), nil
	} else if err != nil {
		return metav1.Condition{}, err
	}
	if set := t.obj.GetLabels()[rbgsv1.LabelSetName]; ref.Kind == rbgsv1.TargetGroup && set != "" {
		return notReady(rbgsv1.ReasonTargetInSet, "group %s belongs to set %s, whose groupTemplate sets its roles: "+
			"target the set instead (targetRef kind RoleBasedGroupSet, name %s)", ref.Name, set, set), nil
	}
	spec := scaling.RoleOf(t.roles, role)
	if spec == nil {
		return notReady(rbgsv1.ReasonRoleNotFound, "%s has no role %s (roles: %s): fix spec.role", what, role,
			strings.Join(rbgsv1.RoleNames(t.roles), ", ")), nil
	}
	st.Selector = scaling.Selector(rs, spec.SizeOrDefault())
	st.Replicas, st.ReadyReplicas = roleCounts(t.groups, role)
	perGroup := scaling.PerGroup(rs.Spec.Replicas, t.want)
	spec.Replicas = &perGroup
	if errs := t.check(); len(errs) > 0 {
		return notReady(rbgsv1.ReasonReplicasRefused, "%s cannot run role %s at %d replicas in each of its %d groups (%d in all): %s; "+
			"it keeps the replicas it runs", what, role, perGroup, t.want, rs.Spec.Replicas, errs.ToAggregate()), nil
	}
	return readiness(t, role, perGroup, what), nil
}

// driver is the name of the RoleScaler that drives rs's role: the oldest
// of those scaling the same role of the same target (see
// scaling.Drivers).
func (r *Reconciler) driver(ctx context.Context, rs *rbgsv1.RoleScaler) (string, error) {
	var l rbgsv1.RoleScalerList
	if err := r.Client.List(ctx, &l, client.InNamespace(rs.Namespace),
		client.MatchingFields{scaling.TargetIndex: scaling.TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name)}); err != nil {
		return "", err
	}
	if d := scaling.Drivers(append(l.Items, *rs))[rs.Spec.Role]; d != nil {
		return d.Name, nil
	}
	return rs.Name, nil
}

// target reads the target of rs, a copy the caller may change, and the
// groups that run its role.
func (r *Reconciler) target(ctx context.Context, rs *rbgsv1.RoleScaler) (*target, error) {
	key := client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.TargetRef.Name}
	if rs.Spec.TargetRef.Kind == rbgsv1.TargetGroup {
		var g rbgsv1.RoleBasedGroup
		if err := r.Client.Get(ctx, key, &g); err != nil {
			return nil, err
		}
		return &target{obj: &g, roles: g.Spec.Roles, groups: []rbgsv1.RoleBasedGroup{g}, want: 1,
			check: func() field.ErrorList { return validation.RoleBasedGroup(&g) }}, nil
	}
	var s rbgsv1.RoleBasedGroupSet
	if err := r.Client.Get(ctx, key, &s); err != nil {
		return nil, err
	}
	var groups rbgsv1.RoleBasedGroupList
	if err := r.Client.List(ctx, &groups, client.InNamespace(s.Namespace), client.MatchingLabels{rbgsv1.LabelSetName: s.Name}); err != nil {
		return nil, err
	}
	return &target{obj: &s, roles: s.Spec.GroupTemplate.Roles, groups: groups.Items,
		want: ptr.Deref(s.Spec.Replicas, 1), check: func() field.ErrorList { return validation.RoleBasedGroupSet(&s) }}, nil
}

// roleCounts are the instances of role the groups run, and of those the
// Ready ones, summed over groups.
func roleCounts(groups []rbgsv1.RoleBasedGroup, role string) (replicas, ready int32) {
	for _, g := range groups {
		if j := slices.IndexFunc(g.Status.Roles, func(s rbgsv1.RoleStatus) bool { return s.Role == role }); j >= 0 {
			replicas += g.Status.Roles[j].Replicas
			ready += g.Status.Roles[j].ReadyReplicas
		}
	}
	return replicas, ready
}

// readiness is the Ready condition of a RoleScaler of role of t, whose
// groups should each run perGroup instances: True once every group runs
// them, all Ready.
func readiness(t *target, role string, perGroup int32, what string) metav1.Condition {
	var behind []string
	for _, g := range t.groups {
		j := slices.IndexFunc(g.Status.Roles, func(s rbgsv1.RoleStatus) bool { return s.Role == role })
		if j < 0 || g.Status.Roles[j].Replicas != perGroup || g.Status.Roles[j].ReadyReplicas != perGroup ||
			g.Status.ObservedGeneration != g.Generation {
			behind = append(behind, g.Name)
		}
	}
	slices.SortFunc(behind, cmp.Compare)
	switch {
	case len(behind) > 0:
		shown := behind[:min(len(behind), 3)]
		more := ""
		if len(behind) > 3 {
			more = fmt.Sprintf(" and %d more", len(behind)-3)
		}
		return notReady(rbgsv1.ReasonScaling, "role %s of %s: groups %s%s do not run %d Ready replicas yet", role, what, strings.Join(shown, ", "), more, perGroup)
	case int32(len(t.groups)) < t.want:
		return notReady(rbgsv1.ReasonScaling, "role %s of %s: %d of %d groups exist", role, what, len(t.groups), t.want)
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: rbgsv1.ReasonScaled,
		Message: fmt.Sprintf("role %s runs %d Ready replicas in each of the %d groups of %s", role, perGroup, len(t.groups), what)}
}

func notReady(reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// SetupWithManager registers the controller. A RoleScaler is reconciled
// when it changes, when its target or a group of it changes (a group's
// counts move its status), and when another RoleScaler of the same
// target goes (a duplicate may take over).
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &rbgsv1.RoleScaler{}, scaling.TargetIndex, scaling.IndexTarget); err != nil {
		return fmt.Errorf("indexing RoleScalers by target: %w", err)
	}
	scalersOf := func(ctx context.Context, ns string, keys ...string) []reconcile.Request {
		var out []reconcile.Request
		for _, key := range keys {
			var l rbgsv1.RoleScalerList
			if err := r.Client.List(ctx, &l, client.InNamespace(ns), client.MatchingFields{scaling.TargetIndex: key}); err != nil {
				continue
			}
			for _, rs := range l.Items {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&rs)})
			}
		}
		return out
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rbgsv1.RoleScaler{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&rbgsv1.RoleScaler{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			rs := o.(*rbgsv1.RoleScaler)
			return scalersOf(ctx, rs.Namespace, scaling.TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name))
		}), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&rbgsv1.RoleBasedGroupSet{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return scalersOf(ctx, o.GetNamespace(), scaling.TargetKey(rbgsv1.TargetSet, o.GetName()))
		})).
		Watches(&rbgsv1.RoleBasedGroup{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			keys := []string{scaling.TargetKey(rbgsv1.TargetGroup, o.GetName())}
			if set := o.GetLabels()[rbgsv1.LabelSetName]; set != "" {
				keys = append(keys, scaling.TargetKey(rbgsv1.TargetSet, set))
			}
			return scalersOf(ctx, o.GetNamespace(), keys...)
		})).
		Named("rolescaler").
		Complete(r)
}
