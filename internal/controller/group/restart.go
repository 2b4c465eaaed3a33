package group

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
)

// PodGroupIndex indexes pods by the group they belong to (their
// LabelGroupName).
const PodGroupIndex = "rbgs.group"

// Restart backoff: a recreation that follows another within
// restartResetAfter waits restartBackoff, doubled for each recreation in a
// row, at most maxRestartBackoff.
const (
	restartBackoff    = 10 * time.Second
	maxRestartBackoff = 5 * time.Minute
	restartResetAfter = 10 * time.Minute
)

// Reasons of the events (and condition) of the restart policies.
const (
	ReasonGroupRecreated      = "GroupRecreated"
	ReasonInstanceRecreated   = "InstanceRecreated"
	ReasonRecreationDelayed   = "RecreationDelayed"
	ReasonRestartLimitReached = rbgsv1.ConditionRestartLimitReached
)

// restartDecision is what the restart policies ask of a group.
type restartDecision struct {
	// failure describes the failed pod to react to; "" when none.
	failure string
	// scope is what to recreate: the group, or the failed pod's instance.
	scope restartScope
	// reason classifies the failure (metrics.Restart*).
	reason string
	// wait is the backoff left before the group may be recreated.
	wait time.Duration
	// limited: maxRestarts recreations in a row already happened.
	limited bool
	// recent is the number of recreations in a row before this one.
	recent int32
}

// recreate reports whether the group's pods are to be deleted now.
func (d restartDecision) recreate() bool { return d.failure != "" && !d.limited && d.wait <= 0 }

// recreates reports whether any role of g has a restart policy that
// recreates pods.
func recreates(g *rbgsv1.RoleBasedGroup) bool {
	return slices.ContainsFunc(g.Spec.Roles, func(r rbgsv1.RoleSpec) bool {
		return restartPolicyOf(g, &r) != rbgsv1.RestartNone
	})
}

// restartPolicyOf is the restart policy of role r of g: its own, else
// RecreateGroup when the group says so, else RecreateInstance for a role
// of size > 1 (its ranks cannot carry on without one of theirs), else the
// group's.
func restartPolicyOf(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) rbgsv1.RestartPolicy {
	switch {
	case r.RestartPolicy != "":
		return r.RestartPolicy
	case g.Spec.RestartPolicy == rbgsv1.RestartRecreateGroup:
		return rbgsv1.RestartRecreateGroup
	case r.SizeOrDefault() > 1:
		return rbgsv1.RestartRecreateInstance
	}
	return cmp.Or(g.Spec.RestartPolicy, rbgsv1.RestartNone)
}

// recreateSince is when the restart policy of role r of g took effect,
// whose previous status is prev: kept from prev, the group's creation when
// it has no status yet (it may not write one at once, see
// firstStatusWait), now when it just did, nil when the role recreates
// nothing.
func recreateSince(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, prev *rbgsv1.RoleBasedGroupStatus, now metav1.Time) *metav1.Time {
	if restartPolicyOf(g, r) == rbgsv1.RestartNone {
		return nil
	}
	for _, rs := range prev.Roles {
		if rs.Role == r.Role && rs.RecreateSince != nil {
			return rs.RecreateSince
		}
	}
	if !reported(prev) && !g.CreationTimestamp.IsZero() {
		created := g.CreationTimestamp
		return &created
	}
	return &now
}

// restartScope is what one recreation deletes: every pod of the group, or
// the pods of one instance of a role.
type restartScope struct {
	role     string // "": the whole group
	instance int32
}

// scopeOf is the scope of the recreation a failure of pod p, of a role
// with policy, asks for.
func scopeOf(p *corev1.Pod, policy rbgsv1.RestartPolicy) restartScope {
	if policy != rbgsv1.RestartRecreateInstance {
		return restartScope{}
	}
	instance, _ := instanceOf(p)
	return restartScope{role: p.Labels[rbgsv1.LabelRole], instance: instance}
}

// scopeOfRestart is the scope of the recreation r recorded.
func scopeOfRestart(r *rbgsv1.GroupRestart) restartScope {
	if r.Role == "" || r.Instance == nil {
		return restartScope{}
	}
	return restartScope{role: r.Role, instance: *r.Instance}
}

// contains reports whether p is in the scope.
func (s restartScope) contains(p *corev1.Pod) bool {
	if s.role == "" {
		return true
	}
	i, ok := instanceOf(p)
	return ok && p.Labels[rbgsv1.LabelRole] == s.role && i == s.instance
}

// instanceOf is the instance of a StatefulSet pod: its instance label (size
// > 1), else its ordinal (size 1).
func instanceOf(p *corev1.Pod) (int32, bool) {
	for _, key := range []string{rbgsv1.LabelInstance, appsv1.PodIndexLabel} {
		if i, ok, err := labelIndex(p, key); ok && err == nil {
			return i, true
		}
	}
	return 0, false
}

// limitReached is the RestartLimitReached condition of st when it holds
// for generation: the operator stopped recreating the group.
func limitReached(st *rbgsv1.RoleBasedGroupStatus, generation int64) bool {
	c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionRestartLimitReached)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// decideRestart looks at the pods of g, whose status so far is st, for a
// failure that restartPolicy RecreateGroup reacts to: a pod of a role that
// uses it that failed or restarted a container. Pods being deleted, pods
// older than the last recreation (a cache that has not seen their deletion
// yet), and failures from before the policy took effect for the pod's role
// (st.roles[].recreateSince) do not count.
func decideRestart(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod, now time.Time) restartDecision {
	since := map[string]time.Time{}
	for _, rs := range st.Roles {
		if rs.RecreateSince != nil {
			since[rs.Role] = rs.RecreateSince.Time
		}
	}
	policies := map[string]rbgsv1.RestartPolicy{}
	for i := range g.Spec.Roles {
		policies[g.Spec.Roles[i].Role] = restartPolicyOf(g, &g.Spec.Roles[i])
	}
	last := st.LastRestart
	var lastScope restartScope
	if last != nil {
		lastScope = scopeOfRestart(last)
	}
	sticky := limitReached(st, g.Generation)
	d := restartDecision{recent: st.RecentRestarts}
	if last != nil && now.Sub(last.Time.Time) >= restartResetAfter && !sticky {
		d.recent = 0
	}
	// The failed pod first by name: the same failure is reported however the
	// cache orders pods.
	var failed *corev1.Pod
	var why string
	for i := range pods {
		p := &pods[i]
		from, recreating := since[p.Labels[rbgsv1.LabelRole]]
		if !recreating || p.DeletionTimestamp != nil || (failed != nil && p.Name > failed.Name) ||
			(last != nil && lastScope.contains(p) && p.CreationTimestamp.Before(&last.Time)) {
			continue
		}
		w := podFailure(p)
		if w == "" {
			continue
		}
		if p.CreationTimestamp.Time.Before(from) {
			// The pod ran before the policy took effect: only a failure
			// since then counts.
			if at, ok := failedAt(p); !ok || at.Before(from) {
				continue
			}
		}
		failed, why = p, w
	}
	if failed != nil {
		d.scope = scopeOf(failed, policies[failed.Labels[rbgsv1.LabelRole]])
		d.failure = fmt.Sprintf("pod %s of role %s %s", failed.Name, failed.Labels[rbgsv1.LabelRole], why)
		d.reason = metrics.RestartContainerRestarted
		if failed.Status.Phase == corev1.PodFailed {
			d.reason = metrics.RestartPodFailed
		}
	}
	if d.failure == "" {
		return d
	}
	maxRestarts := int32(rbgsv1.DefaultMaxRestarts)
	if g.Spec.MaxRestarts != nil {
		maxRestarts = *g.Spec.MaxRestarts
	}
	d.limited = sticky || d.recent >= maxRestarts
	if !d.limited && last != nil && d.recent > 0 {
		d.wait = backoff(d.recent) - now.Sub(last.Time.Time)
	}
	return d
}

// backoff is the wait after the n-th recreation in a row (n >= 1).
func backoff(n int32) time.Duration {
	d := restartBackoff
	for i := int32(1); i < n && d < maxRestartBackoff; i++ {
		d *= 2
	}
	return min(d, maxRestartBackoff)
}

// podFailure says how p failed; "" when it did not.
func podFailure(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed {
		if p.Status.Reason != "" {
			return "failed (" + p.Status.Reason + ")"
		}
		return "failed"
	}
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range statuses {
			if c.RestartCount > 0 {
				return fmt.Sprintf("restarted container %s (%d restarts)", c.Name, c.RestartCount)
			}
		}
	}
	return ""
}

// failedAt is when a container of p last terminated, as its kubelet
// reports it; false when no termination time is known.
func failedAt(p *corev1.Pod) (time.Time, bool) {
	var at time.Time
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range statuses {
			for _, t := range []*corev1.ContainerStateTerminated{c.State.Terminated, c.LastTerminationState.Terminated} {
				if t != nil && t.FinishedAt.After(at) {
					at = t.FinishedAt.Time
				}
			}
		}
	}
	return at, !at.IsZero()
}

// restartIfFailed applies restartPolicy RecreateGroup to g, whose pods are
// pods: it deletes them all when decideRestart asks for it, and records the
// recreation in st; past maxRestarts it sets RestartLimitReached in st,
// which holds until the spec changes (or someone removes it). It returns
// how long until the backoff allows the next recreation (0: nothing to
// wait for).
func (r *Reconciler) restartIfFailed(ctx context.Context, g *rbgsv1.RoleBasedGroup, pods []corev1.Pod, st *rbgsv1.RoleBasedGroupStatus, now metav1.Time) (time.Duration, error) {
	if c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionRestartLimitReached); c != nil && c.ObservedGeneration != g.Generation {
		// The spec changed since the limit was reached: count afresh.
		apimeta.RemoveStatusCondition(&st.Conditions, rbgsv1.ConditionRestartLimitReached)
		st.RecentRestarts = 0
	}
	if !recreates(g) {
		return 0, nil
	}
	d := decideRestart(g, st, pods, now.Time)
	key := client.ObjectKeyFromObject(g).String()
	switch {
	case d.failure == "":
		return 0, nil
	case d.limited:
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: rbgsv1.ConditionRestartLimitReached, Status: metav1.ConditionTrue, Reason: ReasonRestartLimitReached,
			Message: fmt.Sprintf("%s; not recreating the group: %d recreations in a row reached maxRestarts. "+
				"Failed pods are left to their workloads until the spec changes (for example a higher maxRestarts)", d.failure, d.recent),
			ObservedGeneration: g.Generation, LastTransitionTime: now,
		})
		return 0, nil
	case d.wait > 0:
		told := d.failure
		if st.LastRestart != nil {
			told += st.LastRestart.Time.String()
		}
		if prev, ok := r.delayTold.Swap(key, told); !ok || prev != told {
			r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonRecreationDelayed, "Recreate",
				"%s: recreating the group in %s (backoff after %d recreations in a row)", d.failure, d.wait.Round(time.Second), d.recent)
		}
		return d.wait, nil
	}
	scoped := slices.DeleteFunc(slices.Clone(pods), func(p corev1.Pod) bool { return !d.scope.contains(&p) })
	if err := r.deletePods(ctx, scoped); err != nil {
		return 0, fmt.Errorf("recreating the pods of %s: %w", g.Name, err)
	}
	r.delayTold.Delete(key)
	r.Metrics.GroupRestarted(d.reason)
	st.Restarts++
	st.RecentRestarts = d.recent + 1
	st.LastRestart = &rbgsv1.GroupRestart{Time: now, Reason: d.failure}
	what, reason := "every pod of the group", ReasonGroupRecreated
	if d.scope.role != "" {
		st.LastRestart.Role, st.LastRestart.Instance = d.scope.role, new(d.scope.instance)
		what, reason = fmt.Sprintf("the pods of instance %d of role %s", d.scope.instance, d.scope.role), ReasonInstanceRecreated
	}
	r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, reason, "Recreate", "%s: recreating %s (%d in a row)", d.failure, what, st.RecentRestarts)
	return 0, nil
}

// deletePods deletes pods side by side, each only if it is still the pod
// that was listed (UID precondition).
func (r *Reconciler) deletePods(ctx context.Context, pods []corev1.Pod) error {
	errs := make([]error, len(pods))
	apply.Parallel(16, len(pods), func(i int) {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			return
		}
		uid := p.UID
		errs[i] = client.IgnoreNotFound(r.Client.Delete(ctx, p, client.Preconditions{UID: &uid}))
	})
	return errors.Join(errs...)
}

// podChanged passes the pod events a group acts on: a pod that failed or
// restarted a container since the last event (restartPolicy), whose
// readiness changed (role readiness, see statefulSetState), or that is gone
// (discovery).
func podChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			p := e.Object.(*corev1.Pod)
			return podFailure(p) != "" || len(unlabelledWorkers([]corev1.Pod{*p})) > 0
		},
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
			return podReady(o) != podReady(n) || (podFailure(n) != "" && podFailure(o) != podFailure(n))
		},
		// A pod gone may free the cluster.yaml file it kept (see
		// lingeringFiles).
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// IndexPodGroup is the PodGroupIndex function.
func IndexPodGroup(o client.Object) []string {
	if g := o.GetLabels()[rbgsv1.LabelGroupName]; g != "" {
		return []string{g}
	}
	return nil
}

// TrimPod keeps of a pod only what the group reads (labels, readiness,
// phase, restart counts and termination times), so that caching every pod of every group costs
// little memory.
func TrimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels:            keptPodLabels(p.Labels),
			CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: p.Status.Phase, Reason: p.Status.Reason},
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			trimmed.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	for _, s := range []struct {
		from []corev1.ContainerStatus
		to   *[]corev1.ContainerStatus
	}{{p.Status.InitContainerStatuses, &trimmed.Status.InitContainerStatuses}, {p.Status.ContainerStatuses, &trimmed.Status.ContainerStatuses}} {
		for _, c := range s.from {
			kept := corev1.ContainerStatus{Name: c.Name, RestartCount: c.RestartCount}
			if t := c.State.Terminated; t != nil {
				kept.State.Terminated = &corev1.ContainerStateTerminated{FinishedAt: t.FinishedAt}
			}
			if t := c.LastTerminationState.Terminated; t != nil {
				kept.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: t.FinishedAt}
			}
			*s.to = append(*s.to, kept)
		}
	}
	return trimmed, nil
}

// keptPodLabels are the labels of a pod the group reconciler reads: its
// group (index and watch), its role, its instance and worker index, its
// StatefulSet revision and ordinal.
func keptPodLabels(l map[string]string) map[string]string {
	out := make(map[string]string, 6)
	for _, k := range []string{rbgsv1.LabelGroupName, rbgsv1.LabelRole, rbgsv1.LabelInstance, rbgsv1.LabelWorkerIndex,
		appsv1.ControllerRevisionHashLabelKey, appsv1.PodIndexLabel} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}
