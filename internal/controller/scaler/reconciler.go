// Package scaler reconciles RoleScalers: each owns the replicas of one
// role of a set (in every group) or of a group, and gives autoscalers a
// scale subresource for it. A set has one scale subresource, which counts
// groups; a RoleScaler is the target "role decode of set S" that
// HorizontalPodAutoscalers and KEDA need to scale prefill and decode on
// their own metrics.
//
// The RoleScaler writes its spec.replicas into the role of its target,
// with a JSON patch that tests the role's name at its index and sets
// replicas alone, so nothing else of the target is touched and an edit of
// the roles in between fails the patch rather than scaling the wrong role.
// The set applies the new count to every group at once, without a rollout,
// as for any change of a role's replicas.
package scaler

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
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
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/validation"
)

// FieldOwner is the field manager of the RoleScalers' writes of replicas.
const FieldOwner = "rbgs-rolescaler"

// TargetIndex indexes RoleScalers by TargetKey of their target.
const TargetIndex = "spec.targetRef"

// ReasonScaledRole is the reason of the event a RoleScaler records when it
// writes its replicas into the target.
const ReasonScaledRole = "ScaledRole"

// TargetKey identifies a target within its namespace.
func TargetKey(kind rbgsv1.RoleScalerTargetKind, name string) string {
	return string(kind) + "/" + name
}

// IndexTarget is the TargetIndex function.
func IndexTarget(o client.Object) []string {
	rs := o.(*rbgsv1.RoleScaler)
	return []string{TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name)}
}

// Selector selects the pods of the role rs scales, in every group of its
// target.
func Selector(rs *rbgsv1.RoleScaler) string {
	key := rbgsv1.LabelGroupName
	if rs.Spec.TargetRef.Kind == rbgsv1.TargetSet {
		key = rbgsv1.LabelSetName
	}
	return labels.SelectorFromSet(labels.Set{key: rs.Spec.TargetRef.Name, rbgsv1.LabelRole: rs.Spec.Role}).String()
}

// Reconciler reconciles RoleScalers.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Statuses writes the RoleScalers' statuses.
	Statuses *status.Writer
	// StatusInterval bounds how often a status is rewritten for changes of
	// counts alone.
	StatusInterval time.Duration
}

// +kubebuilder:rbac:groups=openpatio.io,resources=rolescalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolescalers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroupsets;rolebasedgroups,verbs=get;list;watch;patch

// Reconcile writes one RoleScaler's replicas into its target and reports
// how the target's groups run the role.
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
		Selector:           Selector(&rs),
		Conditions:         slices.Clone(rs.Status.Conditions),
	}
	ready, err := r.scale(ctx, &rs, &next)
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
	// path is the JSON pointer of the roles.
	path string
	// groups are the groups that run the role, and want how many of them
	// there should be.
	groups []rbgsv1.RoleBasedGroup
	want   int32
	// check validates obj.
	check func() field.ErrorList
}

// scale writes rs's replicas into its target when they differ, and fills
// the counts of st; it returns the Ready condition (type and times unset).
func (r *Reconciler) scale(ctx context.Context, rs *rbgsv1.RoleScaler, st *rbgsv1.RoleScalerStatus) (metav1.Condition, error) {
	ref, role := rs.Spec.TargetRef, rs.Spec.Role
	what := fmt.Sprintf("%s %s", ref.Kind, ref.Name)
	if first, err := r.firstScaler(ctx, rs); err != nil {
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
	i := slices.IndexFunc(t.roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role })
	if i < 0 {
		return notReady(rbgsv1.ReasonRoleNotFound, "%s has no role %s (roles: %s): fix spec.role", what, role, roleNames(t.roles)), nil
	}
	st.Replicas, st.ReadyReplicas = roleCounts(t.groups, role)
	if have := t.roles[i].ReplicasOrDefault(); have != rs.Spec.Replicas {
		t.roles[i].Replicas = &rs.Spec.Replicas
		if errs := t.check(); len(errs) > 0 {
			return notReady(rbgsv1.ReasonReplicasRefused, "%s cannot run role %s at %d replicas: %s", what, role, rs.Spec.Replicas, errs.ToAggregate()), nil
		}
		if err := r.patchReplicas(ctx, t, i, role, rs.Spec.Replicas); err != nil {
			if apierrors.IsInvalid(err) {
				return notReady(rbgsv1.ReasonReplicasRefused, "%s cannot run role %s at %d replicas: %s", what, role, rs.Spec.Replicas, err), nil
			}
			return metav1.Condition{}, fmt.Errorf("scaling role %s of %s: %w", role, what, err)
		}
		r.Recorder.Eventf(rs, nil, corev1.EventTypeNormal, ReasonScaledRole, "Scale", "scaled role %s of %s from %d to %d",
			role, what, have, rs.Spec.Replicas)
		return notReady(rbgsv1.ReasonScaling, "scaling role %s of %s from %d to %d", role, what, have, rs.Spec.Replicas), nil
	}
	return readiness(t, role, rs.Spec.Replicas, what), nil
}

// firstScaler is the RoleScaler that drives rs's role: the oldest of those
// scaling the same role of the same target (admission refuses a second
// one, but two created at once may both get in).
func (r *Reconciler) firstScaler(ctx context.Context, rs *rbgsv1.RoleScaler) (string, error) {
	var l rbgsv1.RoleScalerList
	if err := r.Client.List(ctx, &l, client.InNamespace(rs.Namespace),
		client.MatchingFields{TargetIndex: TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name)}); err != nil {
		return "", err
	}
	first := rs
	for i := range l.Items {
		o := &l.Items[i]
		if o.Spec.Role == rs.Spec.Role && o.DeletionTimestamp.IsZero() && older(o, first) {
			first = o
		}
	}
	return first.Name, nil
}

func older(a, b *rbgsv1.RoleScaler) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}

// target reads the target of rs and the groups that run its role.
func (r *Reconciler) target(ctx context.Context, rs *rbgsv1.RoleScaler) (*target, error) {
	key := client.ObjectKey{Namespace: rs.Namespace, Name: rs.Spec.TargetRef.Name}
	if rs.Spec.TargetRef.Kind == rbgsv1.TargetGroup {
		var g rbgsv1.RoleBasedGroup
		if err := r.Client.Get(ctx, key, &g); err != nil {
			return nil, err
		}
		return &target{obj: &g, roles: g.Spec.Roles, path: "/spec/roles", groups: []rbgsv1.RoleBasedGroup{g}, want: 1,
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
	return &target{obj: &s, roles: s.Spec.GroupTemplate.Roles, path: "/spec/groupTemplate/roles", groups: groups.Items,
		want: ptr.Deref(s.Spec.Replicas, 1), check: func() field.ErrorList { return validation.RoleBasedGroupSet(&s) }}, nil
}

// patchReplicas sets the replicas of role i of t, if it is still role.
func (r *Reconciler) patchReplicas(ctx context.Context, t *target, i int, role string, replicas int32) error {
	at := fmt.Sprintf("%s/%d", t.path, i)
	body, err := json.Marshal([]map[string]any{
		{"op": "test", "path": at + "/role", "value": role},
		{"op": "add", "path": at + "/replicas", "value": replicas},
	})
	if err != nil {
		return err
	}
	return r.Client.Patch(ctx, t.obj, client.RawPatch(types.JSONPatchType, body), client.FieldOwner(FieldOwner))
}

// roleCounts are the lowest replicas and Ready counts of role over groups
// (0 when there is none).
func roleCounts(groups []rbgsv1.RoleBasedGroup, role string) (replicas, ready int32) {
	for i, g := range groups {
		var rs rbgsv1.RoleStatus
		if j := slices.IndexFunc(g.Status.Roles, func(s rbgsv1.RoleStatus) bool { return s.Role == role }); j >= 0 {
			rs = g.Status.Roles[j]
		}
		if i == 0 || rs.Replicas < replicas {
			replicas = rs.Replicas
		}
		if i == 0 || rs.ReadyReplicas < ready {
			ready = rs.ReadyReplicas
		}
	}
	return replicas, ready
}

// readiness is the Ready condition of a RoleScaler of role of t whose
// replicas t already asks for: True once every group runs them, all Ready.
func readiness(t *target, role string, replicas int32, what string) metav1.Condition {
	var behind []string
	for _, g := range t.groups {
		j := slices.IndexFunc(g.Status.Roles, func(s rbgsv1.RoleStatus) bool { return s.Role == role })
		if j < 0 || g.Status.Roles[j].Replicas != replicas || g.Status.Roles[j].ReadyReplicas != replicas ||
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
		return notReady(rbgsv1.ReasonScaling, "role %s of %s: groups %s%s do not run %d Ready replicas yet", role, what, strings.Join(shown, ", "), more, replicas)
	case int32(len(t.groups)) < t.want:
		return notReady(rbgsv1.ReasonScaling, "role %s of %s: %d of %d groups exist", role, what, len(t.groups), t.want)
	}
	return metav1.Condition{Status: metav1.ConditionTrue, Reason: rbgsv1.ReasonScaled,
		Message: fmt.Sprintf("role %s runs %d Ready replicas in every group of %s", role, replicas, what)}
}

func notReady(reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func roleNames(roles []rbgsv1.RoleSpec) string {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = r.Role
	}
	return strings.Join(names, ", ")
}

// SetupWithManager registers the controller. A RoleScaler is reconciled
// when it changes, when its target changes (a hand edit of the role's
// replicas is put back; a group's counts move its status), and when
// another RoleScaler of the same target goes (a duplicate may take over).
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &rbgsv1.RoleScaler{}, TargetIndex, IndexTarget); err != nil {
		return fmt.Errorf("indexing RoleScalers by target: %w", err)
	}
	scalersOf := func(ctx context.Context, ns string, keys ...string) []reconcile.Request {
		var out []reconcile.Request
		for _, key := range keys {
			var l rbgsv1.RoleScalerList
			if err := r.Client.List(ctx, &l, client.InNamespace(ns), client.MatchingFields{TargetIndex: key}); err != nil {
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
			return scalersOf(ctx, rs.Namespace, TargetKey(rs.Spec.TargetRef.Kind, rs.Spec.TargetRef.Name))
		}), builder.WithPredicates(predicate.Funcs{
			CreateFunc: func(event.CreateEvent) bool { return false },
			UpdateFunc: func(event.UpdateEvent) bool { return false },
		})).
		Watches(&rbgsv1.RoleBasedGroupSet{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return scalersOf(ctx, o.GetNamespace(), TargetKey(rbgsv1.TargetSet, o.GetName()))
		})).
		Watches(&rbgsv1.RoleBasedGroup{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			keys := []string{TargetKey(rbgsv1.TargetGroup, o.GetName())}
			if set := o.GetLabels()[rbgsv1.LabelSetName]; set != "" {
				keys = append(keys, TargetKey(rbgsv1.TargetSet, set))
			}
			return scalersOf(ctx, o.GetNamespace(), keys...)
		})).
		Named("rolescaler").
		Complete(r)
}
