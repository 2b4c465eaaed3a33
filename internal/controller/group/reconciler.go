// Package group reconciles RoleBasedGroups: one StatefulSet (or Deployment)
// and one headless Service per role (one StatefulSet per instance for roles
// of size > 1), started in dependency order, the ConfigMaps that tell
// every pod the group's topology, and the PodGroups of its gangs.
//
// A reconcile reads as observe -> plan -> apply -> status: it reads the
// group's children from the cache (observe.go), decides every write from
// that alone (plan.go, pure: roles, instances, gangs, layouts, restarts,
// prunes and the status), carries the writes out with server-side apply,
// skipping those already as desired (apply.go, internal/apply), and writes
// the status once, only when it changed (statuswriter.go).
package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/validation"
)

// Reconciler reconciles RoleBasedGroups.
type Reconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// Reader reads from the API server what the cache cannot answer (see
	// apply.Writer).
	Reader client.Reader
	// Memo skips children already seen as desired (see apply.Memo).
	Memo *apply.Memo
	// Statuses writes the groups' statuses.
	Statuses *status.Writer
	// StatusInterval bounds how often a status is rewritten for changes of
	// counts and messages alone (see writeStatus).
	StatusInterval time.Duration
	// Metrics, if set, records phases, startup times and restarts.
	Metrics *metrics.Metrics
	// Gangs: the cluster served PodGroups when the operator started, so it
	// caches and watches them (see gangs.go).
	Gangs bool
	// PodGroups tells whether the cluster serves PodGroups now.
	PodGroups *PodGroupAPI

	// delayTold holds, per group, the delayed recreation last told in an
	// event, so a backoff is announced once.
	delayTold sync.Map
	// fallbackTold holds, per group, the in-place fallbacks last told in
	// events, so each is told once.
	fallbackTold sync.Map
	// recreated holds, per group, the UIDs of the pods its recreations
	// deleted or emptied that the cache still shows (see recreatedOf).
	recreated sync.Map
	// patched holds the pods updated in place that the cache shows older
	// than patched.
	patched podWrites
	// whole holds, per group, the instances last seen whole (see
	// disruption.go).
	whole sync.Map
}

// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups,verbs=get;list;watch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=openpatio.io,resources=rolebasedgroups/finalizers,verbs=update
// +kubebuilder:rbac:groups=openpatio.io,resources=rolescalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=statefulsets;deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch;delete;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=podgroups,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete

// Reconcile brings one group to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	g, err := r.group(ctx, req)
	if g == nil || err != nil {
		return ctrl.Result{}, err
	}
	now := metav1.NewTime(r.Clock.Now())
	spec, err := r.driven(ctx, g)
	if err != nil {
		return ctrl.Result{}, err
	}
	if errs := validation.RoleBasedGroup(spec); len(errs) > 0 {
		return r.writeStatus(ctx, g, failedStatus(g, errs.ToAggregate(), now), report{})
	}
	obs, err := r.observe(ctx, spec, now)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Memo.Retain(req.String(), obs.ch.uids())
	p := planGroup(obs, r.Scheme)
	done := r.apply(ctx, obs, p)
	if !done.discovered && done.conflict == nil {
		return ctrl.Result{}, done.err
	}
	r.patched.remember(req.String(), done.patched)
	if len(p.whole) > 0 {
		r.whole.Store(req.String(), p.whole)
	} else {
		r.whole.Delete(req.String())
	}
	st := p.status
	if done.recreated {
		p.recreation.record(&st, now)
		r.rememberRecreated(req.String(), obs.recreated, p.recreation.scope)
	}
	if done.conflict != nil {
		r.reportConflict(g, &st, done.conflict, now)
	}
	r.tellFallbacks(g, p.fallbacks)
	did := report{removed: done.removed}
	if done.discovered {
		did.started = p.started
	}
	result, statusErr := r.writeStatus(ctx, g, st, did)
	if rc := p.recreation; rc != nil {
		r.announce(g, rc, done.recreated, &st)
		if w := rc.decision.wait; w > 0 && (result.RequeueAfter == 0 || w < result.RequeueAfter) {
			result.RequeueAfter = w
		}
	}
	return result, errors.Join(done.err, statusErr)
}

// group reads the group of req; nil when it is gone (its memories are
// dropped) or being deleted (the garbage collector removes its children).
func (r *Reconciler) group(ctx context.Context, req ctrl.Request) (*rbgsv1.RoleBasedGroup, error) {
	var g rbgsv1.RoleBasedGroup
	if err := r.Client.Get(ctx, req.NamespacedName, &g); err != nil {
		if apierrors.IsNotFound(err) {
			r.Memo.Retain(req.String(), nil)
			r.Statuses.Forget(req.String())
			r.Metrics.GroupPhase(req.String(), "")
			r.delayTold.Delete(req.String())
			r.fallbackTold.Delete(req.String())
			r.recreated.Delete(req.String())
			r.patched.forget(req.String())
			r.whole.Delete(req.String())
		}
		return nil, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return nil, nil
	}
	return &g, nil
}

// recreatedOf are the pods, among those of g the cache shows, that a
// recreation already deleted or emptied. The next reconcile may come
// before the cache has seen the status that recorded the recreation, and
// a status's lastRestart is only as precise as the second, which a pod
// created in the same second cannot be told from: such pods are left
// alone by UID rather than taken for new failures. A pod gone from the
// cache never comes back, so the UIDs are kept only while it shows them.
func (r *Reconciler) recreatedOf(g *rbgsv1.RoleBasedGroup, pods []corev1.Pod) map[types.UID]bool {
	key := client.ObjectKeyFromObject(g).String()
	v, ok := r.recreated.Load(key)
	if !ok {
		return nil
	}
	was, kept := v.(map[types.UID]bool), map[types.UID]bool{}
	for _, p := range pods {
		if was[p.UID] {
			kept[p.UID] = true
		}
	}
	switch {
	case len(kept) == 0:
		r.recreated.Delete(key)
		return nil
	case len(kept) < len(was):
		r.recreated.Store(key, kept)
	}
	return kept
}

// rememberRecreated adds the pods of a recreation just carried out to
// those of group key a recreation dealt with (see recreatedOf).
func (r *Reconciler) rememberRecreated(key string, was map[types.UID]bool, pods []corev1.Pod) {
	next := maps.Clone(was)
	if next == nil {
		next = map[types.UID]bool{}
	}
	for _, p := range pods {
		next[p.UID] = true
	}
	r.recreated.Store(key, next)
}

// driven is g with its roles at the counts of the RoleScalers that drive
// them, for a group not of a set (a set passes its RoleScalers' counts in
// the spec it writes): the spec's own replicas of a driven role never
// reach a workload. A count the group cannot run is not run: the role
// keeps the count it ran (its RoleScaler says it is refused).
func (r *Reconciler) driven(ctx context.Context, g *rbgsv1.RoleBasedGroup) (*rbgsv1.RoleBasedGroup, error) {
	if g.Labels[rbgsv1.LabelSetName] != "" {
		return g, nil
	}
	var l rbgsv1.RoleScalerList
	if err := r.Client.List(ctx, &l, client.InNamespace(g.Namespace),
		client.MatchingFields{scaling.TargetIndex: scaling.TargetKey(rbgsv1.TargetGroup, g.Name)}); err != nil {
		return nil, err
	}
	drivers := scaling.Drivers(l.Items)
	if len(drivers) == 0 {
		return g, nil
	}
	d := g.DeepCopy()
	scaling.Override(d.Spec.Roles, drivers, 1, func() field.ErrorList { return validation.RoleBasedGroup(d) }, func(role string) int32 {
		if rs := roleStatusOf(&g.Status, role); rs != nil {
			return rs.Replicas
		}
		return scaling.RoleOf(g.Spec.Roles, role).ReplicasOrDefault()
	})
	return d, nil
}

// tellFallbacks records an event for each role whose change, which it
// would update in place, replaces its pods instead (fallbacks, see
// plan), once per generation of g and reason.
func (r *Reconciler) tellFallbacks(g *rbgsv1.RoleBasedGroup, fallbacks map[string]string) {
	key := client.ObjectKeyFromObject(g).String()
	if len(fallbacks) == 0 {
		r.fallbackTold.Delete(key)
		return
	}
	told := map[string]string{}
	if prev, ok := r.fallbackTold.Load(key); ok {
		told = prev.(map[string]string)
	}
	now := make(map[string]string, len(fallbacks))
	for _, role := range slices.Sorted(maps.Keys(fallbacks)) {
		now[role] = fmt.Sprintf("%d/%s", g.Generation, fallbacks[role])
		if told[role] != now[role] {
			r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonInPlaceFallback, "Update",
				"role %s: %s; replacing its pods", role, fallbacks[role])
		}
	}
	r.fallbackTold.Store(key, now)
}

// reportConflict tells of a child that could not be created because an
// object not controlled by g holds its name: in st (see markConflict) and
// as a Warning event. The reconcile fails and is retried with backoff until
// the name is free.
func (r *Reconciler) reportConflict(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, c *apply.ConflictError, now metav1.Time) {
	markConflict(st, c, g.Generation, now)
	r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonNameConflict, "Create", "%s", c.Error())
}
