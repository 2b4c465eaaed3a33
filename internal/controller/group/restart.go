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

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
	"github.com/openpatio/rbgs/internal/scaling"
)

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
	scope podScope
	// reason classifies the failure (metrics.Restart*).
	reason string
	// wait is the backoff left before the group may be recreated.
	wait time.Duration
	// limited: maxRestarts recreations in a row already happened.
	limited bool
	// recent is the number of recreations in a row before this one.
	recent int32
	// disrupted: the failure is a disruption of an instance (see
	// firstDisruption), which is recreated at once and counts toward no
	// limit.
	disrupted bool
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

// scopeOf is the scope of the recreation a failure of pod p, of a role
// with policy, asks for: the whole group, or p's instance (p's ordinal,
// for a role of size 1).
func scopeOf(p *corev1.Pod, policy rbgsv1.RestartPolicy) podScope {
	if policy != rbgsv1.RestartRecreateInstance {
		return podScope{}
	}
	role := p.Labels[rbgsv1.LabelRole]
	if i, ok, err := labelIndex(p, rbgsv1.LabelInstance); ok && err == nil {
		return instanceScope(role, i)
	}
	k, _, _ := labelIndex(p, appsv1.PodIndexLabel)
	return ordinalScope(role, k)
}

// scopeOfRestart is the scope of the recreation r recorded, in g.
func scopeOfRestart(g *rbgsv1.RoleBasedGroup, r *rbgsv1.GroupRestart) podScope {
	if r.Role == "" || r.Instance == nil {
		return podScope{}
	}
	if i := slices.IndexFunc(g.Spec.Roles, func(s rbgsv1.RoleSpec) bool { return s.Role == r.Role }); i >= 0 && g.Spec.Roles[i].SizeOrDefault() == 1 {
		return ordinalScope(r.Role, *r.Instance)
	}
	return instanceScope(r.Role, *r.Instance)
}

// limitReached is the RestartLimitReached condition of st when it holds
// for generation: the operator stopped recreating the group.
func limitReached(st *rbgsv1.RoleBasedGroupStatus, generation int64) bool {
	c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionRestartLimitReached)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

// decideRestart looks at the pods of g, whose status so far is st, for a
// failure a restart policy reacts to: a pod of a role that recreates pods
// that failed or restarted a container. Pods being deleted, pods older
// than the last recreation of their scope (a cache that has not seen
// their deletion yet), and failures from before the policy took effect
// for the pod's role (st.roles[].recreateSince) do not count.
func decideRestart(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod, whole wholeInstances, now time.Time) restartDecision {
	last := st.LastRestart
	sticky := limitReached(st, g.Generation)
	d := restartDecision{recent: st.RecentRestarts}
	if last != nil && now.Sub(last.Time.Time) >= restartResetAfter && !sticky {
		d.recent = 0
	}
	failed, why := firstDisruption(g, st, pods, whole)
	d.disrupted = failed != nil
	if !d.disrupted {
		failed, why = firstFailure(g, st, pods)
	}
	if failed == nil {
		return d
	}
	policy := rbgsv1.RestartNone
	if r := scaling.RoleOf(g.Spec.Roles, failed.Labels[rbgsv1.LabelRole]); r != nil {
		policy = restartPolicyOf(g, r)
	}
	d.scope = scopeOf(failed, policy)
	d.failure = fmt.Sprintf("pod %s of role %s %s", failed.Name, failed.Labels[rbgsv1.LabelRole], why)
	switch {
	case d.disrupted:
		// Recreated at once, counted toward no limit.
		d.reason = metrics.RestartDisrupted
		return d
	case failed.Status.Phase == corev1.PodFailed:
		d.reason = metrics.RestartPodFailed
	default:
		d.reason = metrics.RestartContainerRestarted
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

// recreatedPods are the pods the restart policies of g, whose status is
// st, watch: those of roles that recreate pods, but pods the last
// recreation of their scope deleted (a cache that has not seen their
// deletion yet), in name order.
func recreatedPods(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod) []*corev1.Pod {
	since := map[string]bool{}
	for _, rs := range st.Roles {
		since[rs.Role] = rs.RecreateSince != nil
	}
	last := st.LastRestart
	var lastScope podScope
	if last != nil {
		lastScope = scopeOfRestart(g, last)
	}
	var out []*corev1.Pod
	for i := range pods {
		p := &pods[i]
		if since[p.Labels[rbgsv1.LabelRole]] && (last == nil || !lastScope.contains(p) || !p.CreationTimestamp.Before(&last.Time)) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// firstFailure is the failed pod, first by name (the same failure is
// reported however the cache orders pods), that the restart policies of
// g, whose status is st, react to, and how it failed.
func firstFailure(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod) (*corev1.Pod, string) {
	since := map[string]time.Time{}
	for _, rs := range st.Roles {
		if rs.RecreateSince != nil {
			since[rs.Role] = rs.RecreateSince.Time
		}
	}
	for _, p := range recreatedPods(g, st, pods) {
		why := podFailure(p)
		if p.DeletionTimestamp != nil || why == "" {
			continue
		}
		if from := since[p.Labels[rbgsv1.LabelRole]]; p.CreationTimestamp.Time.Before(from) {
			// The pod ran before the policy took effect: only a failure
			// since then counts.
			if at, ok := failedAt(p); !ok || at.Before(from) {
				continue
			}
		}
		return p, why
	}
	return nil, ""
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
	// Restarts an in-place update caused are not failures.
	expected := expectedRestarts(p)
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range statuses {
			if c.RestartCount > expected[c.Name] {
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

// recreation is what the restart policies ask of one reconcile: a
// decision, and the pods it deletes now (none while the backoff or the
// limit holds it back), or the StatefulSet of the instance of size > 1 it
// empties: the instance comes back once none of its pods is left, all
// its pods created together (see planInstances), so no new pod ever
// joins an old one that is still going. scope are the pods it deals
// with, to be left out of the decisions that follow.
type recreation struct {
	decision restartDecision
	pods     []corev1.Pod
	instance *appsv1.StatefulSet
	scope    []corev1.Pod
}

// now reports whether the recreation deletes pods in this reconcile.
func (rc *recreation) now() bool { return len(rc.pods) > 0 || rc.instance != nil }

// planRestart applies the restart policies of g, whose pods are pods, to
// st, the status the plan computed: past maxRestarts it sets
// RestartLimitReached, which holds until the spec changes (or someone
// removes it). It returns the recreation to carry out, nil when no pod
// failed. instance is the StatefulSet of the instance of size > 1 of a
// scope, nil for other scopes, and whether it asks for no pods already.
// A scope whose pods are all going already (an instance emptied, pods
// being deleted) is recreated already: nothing is done or counted again.
func planRestart(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod, whole wholeInstances, now metav1.Time,
	instance func(podScope) (*appsv1.StatefulSet, bool)) *recreation {
	if c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionRestartLimitReached); c != nil && c.ObservedGeneration != g.Generation {
		// The spec changed since the limit was reached: count afresh.
		apimeta.RemoveStatusCondition(&st.Conditions, rbgsv1.ConditionRestartLimitReached)
		st.RecentRestarts = 0
	}
	if !recreates(g) {
		return nil
	}
	d := decideRestart(g, st, pods, whole, now.Time)
	switch {
	case d.failure == "":
		return nil
	case d.limited:
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: rbgsv1.ConditionRestartLimitReached, Status: metav1.ConditionTrue, Reason: ReasonRestartLimitReached,
			Message: fmt.Sprintf("%s; not recreating the group: %d recreations in a row reached maxRestarts. "+
				"Failed pods are left to their workloads until the spec changes (for example a higher maxRestarts)", d.failure, d.recent),
			ObservedGeneration: g.Generation, LastTransitionTime: now,
		})
		return &recreation{decision: d}
	case d.wait > 0:
		return &recreation{decision: d}
	}
	rc := &recreation{decision: d, scope: d.scope.of(pods)}
	switch s, emptied := instance(d.scope); {
	case emptied:
	case s != nil:
		rc.instance = s
	default:
		rc.pods = slices.DeleteFunc(slices.Clone(rc.scope), func(p corev1.Pod) bool { return p.DeletionTimestamp != nil })
	}
	return rc
}

// record writes into st the recreation carried out at now.
func (rc *recreation) record(st *rbgsv1.RoleBasedGroupStatus, now metav1.Time) {
	d := rc.decision
	st.Restarts++
	reason := d.failure
	if d.disrupted {
		// A disruption counts toward no limit.
		reason += ": recreated at once, not counted toward maxRestarts"
	} else {
		st.RecentRestarts = d.recent + 1
	}
	st.LastRestart = &rbgsv1.GroupRestart{Time: now, Reason: reason}
	if d.scope.role != "" {
		st.LastRestart.Role, st.LastRestart.Instance = d.scope.role, new(*d.scope.instance)
	}
}

// announce records the events of a recreation: carried out (recorded in
// st), or held back by the backoff (told once per failure, see
// Reconciler.delayTold).
func (r *Reconciler) announce(g *rbgsv1.RoleBasedGroup, rc *recreation, done bool, st *rbgsv1.RoleBasedGroupStatus) {
	d, key := rc.decision, client.ObjectKeyFromObject(g).String()
	switch {
	case done:
		r.delayTold.Delete(key)
		r.Metrics.GroupRestarted(d.reason)
		what, reason := "every pod of the group", ReasonGroupRecreated
		if d.scope.role != "" {
			what, reason = fmt.Sprintf("the pods of instance %d of role %s", *d.scope.instance, d.scope.role), ReasonInstanceRecreated
		}
		if d.disrupted {
			r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, reason, "Recreate",
				"%s: recreating %s at once (a disruption: no backoff, not counted toward maxRestarts)", d.failure, what)
			break
		}
		r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, reason, "Recreate", "%s: recreating %s (%d in a row)", d.failure, what, st.RecentRestarts)
	case d.wait > 0:
		told := d.failure
		if st.LastRestart != nil {
			told += st.LastRestart.Time.String()
		}
		if prev, ok := r.delayTold.Swap(key, told); !ok || prev != told {
			r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonRecreationDelayed, "Recreate",
				"%s: recreating the group in %s (backoff after %d recreations in a row)", d.failure, d.wait.Round(time.Second), d.recent)
		}
	}
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
