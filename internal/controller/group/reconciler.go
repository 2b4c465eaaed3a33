// Package group reconciles RoleBasedGroups: one StatefulSet (or Deployment)
// and one headless Service per role, started in dependency order, plus the
// two ConfigMaps that tell every pod the group's topology.
//
// A reconcile reads as observe -> plan -> apply -> status: it reads the
// group's children from the cache, decides which roles may run (plan.go,
// pure), applies the desired objects with server-side apply, skipping those
// already as desired (internal/apply), deletes what the spec dropped, and
// writes the status once, only when it changed.
package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/validation"
)

// Reconciler reconciles RoleBasedGroups.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
}

// objectRef is a child to delete.
type objectRef struct {
	kind string
	obj  client.Object
}

// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one group to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g rbgsv1.RoleBasedGroup
	if err := r.Client.Get(ctx, req.NamespacedName, &g); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes the children
	}
	now := metav1.NewTime(r.Clock.Now())
	if errs := validation.Group(g.Name, g.Spec.Roles, field.NewPath("spec", "roles")); len(errs) > 0 {
		return ctrl.Result{}, r.writeStatus(ctx, &g, failedStatus(&g, errs.ToAggregate(), now), nil, nil)
	}

	ch, err := r.observe(ctx, &g)
	if err != nil {
		return ctrl.Result{}, err
	}
	states := observeRoles(&g, ch)
	w := &writer{Writer: apply.NewWriter(ctx, r.Client, r.Scheme), g: &g, ch: ch}
	w.discovery()
	if err := w.Err(); err != nil {
		return ctrl.Result{}, err // no pod may start without its discovery files
	}
	// Existing roles are kept as specified whatever their dependencies do. A
	// role whose workload this reconcile changed is not ready: its status
	// describes the old spec.
	for i := range g.Spec.Roles {
		if role := &g.Spec.Roles[i]; states[role.Role].exists && w.role(role) {
			s := states[role.Role]
			s.ready = false
			states[role.Role] = s
		}
	}
	plans := planRoles(&g, states)
	var started []string
	for _, p := range plans {
		if p.start && !states[p.role.Role].exists {
			w.role(p.role)
			started = append(started, p.role.Role)
		}
	}
	removed, pruneErr := r.prune(ctx, staleObjects(&g, ch))
	statusErr := r.writeStatus(ctx, &g, computeStatus(&g, states, plans, now), started, removed)
	return ctrl.Result{}, errors.Join(w.Err(), pruneErr, statusErr)
}

// writer writes the children of one group.
type writer struct {
	*apply.Writer
	g  *rbgsv1.RoleBasedGroup
	ch *children
}

// discovery writes the two ConfigMaps. They come before any workload: a new
// pod mounts its cluster.yaml from them.
func (w *writer) discovery() {
	topo := discovery.ForGroup(w.g)
	w.Write(desiredClusterConfigMap(w.g, topo), w.ch.configMaps[naming.ClusterConfigMap(w.g.Name)])
	w.Write(desiredEnvConfigMap(w.g, topo), w.ch.configMaps[naming.EnvConfigMap(w.g.Name)])
}

// role writes the Service and the workload of a role; it reports whether the
// workload was written.
func (w *writer) role(role *rbgsv1.RoleSpec) bool {
	name := naming.Workload(w.g.Name, role.Role)
	w.Write(desiredService(w.g, role), w.ch.services[name])
	if discovery.KindOf(role) == rbgsv1.WorkloadDeployment {
		return w.Write(desiredDeployment(w.g, role), w.ch.deployments[name])
	}
	return w.Write(desiredStatefulSet(w.g, role), w.ch.statefulSets[name])
}

// prune deletes children the spec no longer asks for; the garbage collector
// removes their pods.
func (r *Reconciler) prune(ctx context.Context, stale []objectRef) ([]string, error) {
	var removed []string
	var errs []error
	for _, o := range stale {
		uid := o.obj.GetUID()
		err := r.Client.Delete(ctx, o.obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &uid})
		if client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", o.kind, o.obj.GetName(), err))
			continue
		}
		removed = append(removed, o.kind+" "+o.obj.GetName())
	}
	return removed, errors.Join(errs...)
}

// writeStatus writes status if it differs from the group's, then records the
// events of what changed. Events follow the write, so they never announce a
// state that was not persisted.
func (r *Reconciler) writeStatus(ctx context.Context, g *rbgsv1.RoleBasedGroup, status rbgsv1.RoleBasedGroupStatus, started, removed []string) error {
	prevPhase := g.Status.Phase
	if !equality.Semantic.DeepEqual(g.Status, status) {
		g.Status = status
		if err := r.Client.Status().Update(ctx, g); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				return nil // a newer version is on its way through the cache
			}
			return fmt.Errorf("writing status of %s: %w", g.Name, err)
		}
	}
	for _, role := range started {
		note := "created the workload of role " + role
		if i := slices.IndexFunc(g.Spec.Roles, func(rs rbgsv1.RoleSpec) bool { return rs.Role == role }); i >= 0 &&
			len(g.Spec.Roles[i].Dependencies) > 0 && g.Spec.StartupPolicy != rbgsv1.StartupParallel {
			note += " after " + strings.Join(g.Spec.Roles[i].Dependencies, ", ") + " became ready"
		}
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonRoleStarted, "Create", note)
	}
	for _, what := range removed {
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonRoleRemoved, "Delete", "deleted %s: its role left the spec", what)
	}
	if status.Phase == prevPhase {
		return nil
	}
	ready := conditionMessage(status, rbgsv1.ConditionReady)
	switch status.Phase {
	case rbgsv1.PhaseRunning:
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonGroupRunning, "Reconcile", "every role is ready")
	case rbgsv1.PhaseDegraded:
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonRoleUnready, "Reconcile", ready)
	case rbgsv1.PhaseFailed:
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonInvalidSpec, "Reconcile", ready)
	}
	return nil
}

func conditionMessage(st rbgsv1.RoleBasedGroupStatus, t string) string {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

// SetupWithManager registers the reconciler, its owner indexes and watches.
// The group wakes on changes of its spec or labels and on any change of its
// children, StatefulSet status included: that is what starts a dependant
// when its dependencies become ready, with no polling.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	for _, o := range []client.Object{&appsv1.StatefulSet{}, &appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}} {
		if err := mgr.GetFieldIndexer().IndexField(ctx, o, OwnerIndex, IndexOwner); err != nil {
			return fmt.Errorf("indexing %T by owner: %w", o, err)
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rbgsv1.RoleBasedGroup{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}).
		Owns(&appsv1.Deployment{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroup").
		Complete(r)
}
