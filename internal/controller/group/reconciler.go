// Package group reconciles RoleBasedGroups: one StatefulSet (or Deployment)
// and one headless Service per role, started in dependency order, plus the
// two ConfigMaps that tell every pod the group's topology.
//
// A reconcile reads as observe -> plan -> apply -> status: it reads the
// group's children from the cache, decides which roles may run (plan.go,
// pure), creates the desired objects that are missing and applies the
// others with server-side apply, skipping those already as desired
// (internal/apply), deletes what the spec dropped, and
// writes the status once, only when it changed.
package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
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
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/metrics"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/internal/topology"
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

	// delayTold holds, per group, the delayed recreation last told in an
	// event, so a backoff is announced once.
	delayTold sync.Map // keys of groups whose RestartLimitReached event was recorded
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
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch;delete;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=podgroups,verbs=get;list;watch;create;patch;delete

// Reconcile brings one group to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var g rbgsv1.RoleBasedGroup
	if err := r.Client.Get(ctx, req.NamespacedName, &g); err != nil {
		if apierrors.IsNotFound(err) {
			r.Memo.Retain(req.String(), nil)
			r.Statuses.Forget(req.String())
			r.Metrics.GroupPhase(req.String(), "")
			r.delayTold.Delete(req.String())
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the garbage collector removes the children
	}
	now := metav1.NewTime(r.Clock.Now())
	if errs := validation.RoleBasedGroup(&g); len(errs) > 0 {
		return r.writeStatus(ctx, &g, failedStatus(&g, errs.ToAggregate(), now), nil, nil)
	}

	t := topology.Resolve(&g)
	ch, err := r.observe(ctx, &g, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	r.Memo.Retain(req.String(), ch.uids())
	states, instances := observeRoles(&g, t, ch)
	w := &writer{
		Writer:    apply.NewWriter(ctx, r.Client, r.Reader, r.Scheme, r.Memo, req.String(), intent(&g)),
		scheme:    r.Scheme,
		g:         &g,
		t:         t,
		ch:        ch,
		instances: instances,
	}
	files := discovery.Files(t, lingeringFiles(t, ch.pods))
	w.discovery(files)
	if err := w.Err(); err != nil {
		// No pod may start without its discovery files.
		if c, ok := errors.AsType[*apply.ConflictError](err); ok {
			st := computeStatus(&g, states, planRoles(&g, states, nil), now)
			r.reportConflict(&g, &st, c, now)
			_, statusErr := r.writeStatus(ctx, &g, st, nil, nil)
			return ctrl.Result{}, errors.Join(err, statusErr)
		}
		return ctrl.Result{}, err
	}
	// Gangs come before the workloads whose pods join them.
	var served bool
	if len(gangRoles(t)) > 0 {
		served = servesPodGroups(r.Client)
	}
	blocked, gangBlock, replaced := w.podGroups(served, r.Gangs)
	// Existing roles are kept as specified whatever their dependencies do,
	// unless their gangs cannot be written (they keep running as they are).
	// A role whose workload this reconcile changed is not ready: its status
	// describes the old spec.
	existing := slices.DeleteFunc(slices.Clone(g.Spec.Roles), func(r rbgsv1.RoleSpec) bool {
		return !states[r.Role].exists || blocked[r.Role]
	})
	for i, changed := range w.roles(existing) {
		if changed {
			s := states[existing[i].Role]
			s.ready = false
			states[existing[i].Role] = s
		}
	}
	plans := planRoles(&g, states, blocked)
	var starting []rbgsv1.RoleSpec
	for _, p := range plans {
		if p.start && !states[p.role.Role].exists {
			starting = append(starting, *p.role)
		}
	}
	w.roles(starting)
	removed, pruneErr := r.prune(ctx, append(staleObjects(t, ch, files), replaced...))
	labelErr := r.labelWorkers(ctx, ch.pods)
	st := computeStatus(&g, states, plans, now)
	if c := gangsCondition(&g, t, ch.podGroups, gangBlock, now); c != nil {
		apimeta.SetStatusCondition(&st.Conditions, *c)
	} else {
		apimeta.RemoveStatusCondition(&st.Conditions, rbgsv1.ConditionGangsScheduled)
	}
	backoff, restartErr := r.restartIfFailed(ctx, &g, ch.pods, &st, now)
	if c, ok := errors.AsType[*apply.ConflictError](w.Err()); ok {
		r.reportConflict(&g, &st, c, now)
	}
	result, statusErr := r.writeStatus(ctx, &g, st, roleNames(starting), removed)
	if backoff > 0 && (result.RequeueAfter == 0 || backoff < result.RequeueAfter) {
		result.RequeueAfter = backoff
	}
	return result, errors.Join(w.Err(), pruneErr, labelErr, restartErr, statusErr)
}

// reportConflict tells of a child that could not be created because an
// object not controlled by g holds its name: in st (see markConflict) and
// as a Warning event. The reconcile fails and is retried with backoff until
// the name is free.
func (r *Reconciler) reportConflict(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, c *apply.ConflictError, now metav1.Time) {
	markConflict(st, c, g.Generation, now)
	r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonNameConflict, "Create", "%s", c.Error())
}

// intent identifies everything the desired children of g depend on.
func intent(g *rbgsv1.RoleBasedGroup) string {
	return fmt.Sprintf("%s/%d/%x", g.UID, g.Generation, apply.MapHash(g.Labels))
}

func roleNames(roles []rbgsv1.RoleSpec) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Role
	}
	return out
}

// writer writes the children of one group.
type writer struct {
	*apply.Writer
	scheme *runtime.Scheme
	g      *rbgsv1.RoleBasedGroup
	t      *topology.Group
	ch     *children
	// instances are the states of the instances of roles of size > 1.
	instances map[string][]instanceState
}

// discovery writes the discovery ConfigMaps, files by name (see
// discovery.Files), and the env ConfigMap. They come before any workload:
// a new pod mounts its cluster.yaml from them. Files of pods the spec no
// longer has are among files until those pods are gone.
func (w *writer) discovery(files map[string]map[string]string) {
	fileIntent := intent(w.g)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for _, key := range slices.Sorted(maps.Keys(files[name])) {
			fileIntent += "/" + name + "/" + key
		}
	}
	names := slices.Collect(maps.Keys(files))
	apply.Parallel(8, len(names)+1, func(i int) {
		if i == len(names) {
			w.Write(w.ch.configMaps[naming.EnvConfigMap(w.g.Name)], func() client.Object {
				return desiredEnvConfigMap(w.g, w.t)
			})
			return
		}
		name := names[i]
		w.WriteFor(fileIntent, w.ch.configMaps[name], func() client.Object {
			return desiredClusterConfigMap(w.g, name, files[name])
		})
	})
}

// roles writes the Service and the workloads of each role, all at once; it
// reports, per role, whether a workload was written.
func (w *writer) roles(roles []rbgsv1.RoleSpec) []bool {
	type job struct {
		role  int // index in roles of the workload's role; -1 for a Service
		write func() bool
	}
	var jobs []job
	for i := range roles {
		r := &roles[i]
		role := w.t.Role(r.Role)
		jobs = append(jobs, job{-1, func() bool {
			return w.Write(w.ch.services[role.Service], func() client.Object { return desiredService(w.g, r) })
		}})
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			live := w.ch.deployments[role.Service]
			jobs = append(jobs, job{i, func() bool {
				return w.Write(live, func() client.Object { return w.held(desiredDeployment(w.g, r), live) })
			}})
		case role.MultiPod():
			steps := planInstances(w.instances[r.Role], r.InstancesMaxUnavailable())
			for j := range role.Instances {
				in, step, live := &role.Instances[j], steps[j], w.ch.statefulSets[role.Instances[j].Workload]
				jobs = append(jobs, job{i, func() bool {
					// The step depends on the instance's pods, which the
					// memo does not see: it is part of the intent.
					return w.WriteFor(fmt.Sprintf("%s/%d", intent(w.g), step), live, func() client.Object {
						return w.instance(r, role, in, step, live)
					})
				}})
			}
		default:
			live := w.ch.statefulSets[role.Service]
			jobs = append(jobs, job{i, func() bool {
				return w.Write(live, func() client.Object { return w.held(desiredStatefulSet(w.g, r), live) })
			}})
		}
	}
	changed := make([]bool, len(roles))
	var mu sync.Mutex
	apply.Parallel(8, len(jobs), func(k int) {
		if wrote := jobs[k].write(); wrote && jobs[k].role >= 0 {
			mu.Lock()
			changed[jobs[k].role] = true
			mu.Unlock()
		}
	})
	return changed
}

// instance is the StatefulSet of instance in of role r for step (see
// planInstances); live is the instance's StatefulSet from the cache.
func (w *writer) instance(r *rbgsv1.RoleSpec, role *topology.Role, in *topology.Instance, step instanceStep, live *appsv1.StatefulSet) client.Object {
	switch step {
	case holdInstance:
		return heldInstance(desiredInstance(w.g, r, role, in, role.Size), live)
	case emptyInstance:
		return w.held(desiredInstance(w.g, r, role, in, 0), live)
	}
	return w.held(desiredInstance(w.g, r, role, in, role.Size), live)
}

// held is desired with the pod template of live kept when only the
// operator's rendering changed (see holdRendering).
func (w *writer) held(desired, live client.Object) client.Object {
	out, err := holdRendering(desired, live, w.scheme)
	if err != nil {
		return desired
	}
	return out
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

// writeStatus writes status if it changed (see internal/status), then
// records the events of what changed; events follow the write, so they
// never announce a state that was not persisted. Changes of counts and
// messages alone wait for StatusInterval since the group's last status
// write (startupStatusInterval while Pending), and a group of a set may
// leave its first status for later (see firstStatusWait).
func (r *Reconciler) writeStatus(ctx context.Context, g *rbgsv1.RoleBasedGroup, next rbgsv1.RoleBasedGroupStatus, started, removed []string) (ctrl.Result, error) {
	prev := g.Status
	var result ctrl.Result
	if wait := firstStatusWait(g, next, r.Clock.Now()); wait > 0 {
		result.RequeueAfter = wait
	} else {
		interval := r.StatusInterval
		if next.Phase == rbgsv1.PhasePending {
			interval = max(interval, startupStatusInterval)
		}
		var err error
		_, result, err = status.Write(ctx, r.Statuses, g, status.Change[rbgsv1.RoleBasedGroupStatus]{
			Current: &g.Status, Next: next, Significant: significantChange, Interval: interval,
		})
		if err != nil {
			return result, err
		}
	}
	r.recordEvents(g, &prev, started, removed)
	r.recordMetrics(g, prev.Phase, next.Phase, started)
	return result, nil
}

// recordMetrics records the group's phase, its first startup, and how long
// the roles it started waited for their dependencies.
func (r *Reconciler) recordMetrics(g *rbgsv1.RoleBasedGroup, prev, phase rbgsv1.GroupPhase, started []string) {
	if r.Metrics == nil {
		return
	}
	r.Metrics.GroupPhase(client.ObjectKeyFromObject(g).String(), phase)
	age := r.Clock.Since(g.CreationTimestamp.Time)
	if phase == rbgsv1.PhaseRunning && (prev == rbgsv1.PhasePending || prev == "") {
		r.Metrics.GroupStarted(age)
	}
	for _, role := range started {
		if i := slices.IndexFunc(g.Spec.Roles, func(rs rbgsv1.RoleSpec) bool { return rs.Role == role }); i >= 0 && len(g.Spec.Roles[i].Dependencies) > 0 {
			r.Metrics.RoleWaited(role, age)
		}
	}
}

// startupStatusInterval replaces StatusInterval while a group starts for
// the first time: its status then says Pending and what each role waits
// for, and the counts catch up when it turns Running. A group of a set
// says nothing for that long (see firstStatusWait): a fleet of groups
// starting together thus writes one status per group when its startup
// takes less, and two however long it takes.
const startupStatusInterval = 5 * time.Minute

// firstStatusWait is how long a group of a set that starts for the first
// time still leaves its status unwritten: until it turns Running, until
// something other than a routine start is to be said (see routineStart),
// or for startupStatusInterval after its creation. The set lists it as
// Pending meanwhile, so a fleet starting together writes one status per
// group rather than two. Standalone groups say Pending at once.
func firstStatusWait(g *rbgsv1.RoleBasedGroup, next rbgsv1.RoleBasedGroupStatus, now time.Time) time.Duration {
	if g.Labels[rbgsv1.LabelSetName] == "" || reported(&g.Status) || !routineStart(next) {
		return 0
	}
	return startupStatusInterval - now.Sub(g.CreationTimestamp.Time)
}

// reported says whether st was ever written.
func reported(st *rbgsv1.RoleBasedGroupStatus) bool {
	return st.ObservedGeneration != 0 || st.Phase != ""
}

// routineStart reports whether st says only that a group is starting:
// Pending, nothing recreated, and no condition but Ready and Progressing
// (reason Starting) and gangs pending or placed.
func routineStart(st rbgsv1.RoleBasedGroupStatus) bool {
	if st.Phase != rbgsv1.PhasePending || st.Restarts != 0 || st.LastRestart != nil {
		return false
	}
	for _, c := range st.Conditions {
		switch c.Type {
		case rbgsv1.ConditionReady, rbgsv1.ConditionProgressing:
			if c.Reason != ReasonStarting {
				return false
			}
		case rbgsv1.ConditionGangsScheduled:
			if c.Reason != ReasonGangsPending && c.Reason != ReasonGangsScheduled {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// recordEvents tells what a reconcile did, and what changed between the
// status prev and the one g holds now (written, or left as it was). A
// group of a set starting for the first time records nothing routine: at
// fleet scale those events would bury the ones that matter, and the set
// reports the fleet's progress.
func (r *Reconciler) recordEvents(g *rbgsv1.RoleBasedGroup, prev *rbgsv1.RoleBasedGroupStatus, started, removed []string) {
	routine := g.Labels[rbgsv1.LabelSetName] == "" || (prev.Phase != rbgsv1.PhasePending && prev.Phase != "")
	for _, role := range started {
		if !routine {
			break
		}
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
	if limitReached(&g.Status, g.Generation) && !limitReached(prev, g.Generation) {
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonRestartLimitReached, "Recreate", "%s",
			conditionMessage(g.Status, rbgsv1.ConditionRestartLimitReached))
	}
	// A gang that cannot be placed, or cannot be created, is told once.
	if c := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionGangsScheduled); c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason != ReasonGangsPending {
		if p := apimeta.FindStatusCondition(prev.Conditions, rbgsv1.ConditionGangsScheduled); p == nil || p.Reason != c.Reason {
			r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, c.Reason, "Schedule", "%s", c.Message)
		}
	}
	phase := g.Status.Phase
	if phase == prev.Phase {
		return
	}
	ready := conditionMessage(g.Status, rbgsv1.ConditionReady)
	switch phase {
	case rbgsv1.PhaseRunning:
		if routine {
			r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonGroupRunning, "Reconcile", "every role is ready")
		}
	case rbgsv1.PhaseDegraded:
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonRoleUnready, "Reconcile", ready)
	case rbgsv1.PhaseFailed:
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonInvalidSpec, "Reconcile", ready)
	}
}

// significantChange reports whether next differs from prev in what a
// person or another controller acts on: generation, phase, a condition's
// status or reason, a recreation of the pods, or the revision the group
// runs (the set's rollout waits for it).
func significantChange(prev, next rbgsv1.RoleBasedGroupStatus) bool {
	return status.Significant(prev.ObservedGeneration, next.ObservedGeneration, prev.Phase, next.Phase, prev.Conditions, next.Conditions) ||
		prev.Restarts != next.Restarts || prev.RunningRevision != next.RunningRevision || !sameRecreateSince(prev.Roles, next.Roles)
}

// sameRecreateSince reports whether the roles' RecreateSince
// agree: the time a role starts watching for failures must be kept from
// the moment it is taken, or failures in between would be missed.
func sameRecreateSince(prev, next []rbgsv1.RoleStatus) bool {
	since := func(roles []rbgsv1.RoleStatus) map[string]metav1.Time {
		m := map[string]metav1.Time{}
		for _, r := range roles {
			if r.RecreateSince != nil {
				m[r.Role] = *r.RecreateSince
			}
		}
		return m
	}
	return maps.EqualFunc(since(prev), since(next), func(a, b metav1.Time) bool { return a.Equal(&b) })
}

func conditionMessage(st rbgsv1.RoleBasedGroupStatus, t string) string {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

// childChanged filters the events of children down to those a reconcile
// acts on. Creations are skipped: the operator made the child, and at
// start-up every group is reconciled anyway. Updates count when the child's
// spec (generation), labels or annotations changed, or, for workloads, when
// what the group's status reads of them (state) changed; status updates
// that change nothing the group reports are skipped. Deletions always count.
func childChanged(state func(client.Object) roleState) predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld, e.ObjectNew
			if state == nil || o.GetGeneration() != n.GetGeneration() ||
				!maps.Equal(o.GetLabels(), n.GetLabels()) || !maps.Equal(o.GetAnnotations(), n.GetAnnotations()) {
				return true
			}
			return state(o) != state(n)
		},
	}
}

// SetupWithManager registers the reconciler, its owner indexes and watches.
// The group wakes on changes of its spec or labels and on any change of its
// children, StatefulSet status included: that is what starts a dependant
// when its dependencies become ready, with no polling.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	owned := []client.Object{&appsv1.StatefulSet{}, &appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}}
	if r.Gangs {
		owned = append(owned, &schedulingv1beta1.PodGroup{})
	}
	if err := owner.AddIndex(ctx, mgr, owned...); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, PodGroupIndex, IndexPodGroup); err != nil {
		return fmt.Errorf("indexing pods by group: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Gangs {
		// What the scheduler says of a gang.
		b = b.Owns(&schedulingv1beta1.PodGroup{}, builder.WithPredicates(childChanged(func(o client.Object) roleState {
			pg := o.(*schedulingv1beta1.PodGroup)
			c := apimeta.FindStatusCondition(pg.Status.Conditions, schedulingv1beta1.PodGroupInitiallyScheduled)
			return roleState{exists: c != nil, ready: c != nil && c.Status == metav1.ConditionTrue}
		})))
	}
	return b.
		For(&rbgsv1.RoleBasedGroup{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}, builder.WithPredicates(childChanged(func(o client.Object) roleState {
			return statefulSetState(o.(*appsv1.StatefulSet), nil)
		}))).
		Owns(&appsv1.Deployment{}, builder.WithPredicates(childChanged(func(o client.Object) roleState {
			return deploymentState(o.(*appsv1.Deployment))
		}))).
		Owns(&corev1.Service{}, builder.WithPredicates(childChanged(nil))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(childChanged(nil))).
		// Pods are owned by the workloads; their group label names the group.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetLabels()[rbgsv1.LabelGroupName]}}}
		}), builder.WithPredicates(podChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroup").
		Complete(r)
}
