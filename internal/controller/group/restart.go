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

// Reasons of the events (and condition) of restartPolicy RecreateGroup.
const (
	ReasonGroupRecreated      = "GroupRecreated"
	ReasonRecreationDelayed   = "RecreationDelayed"
	ReasonRestartLimitReached = rbgsv1.ConditionRestartLimitReached
)

// restartDecision is what restartPolicy RecreateGroup asks of a group.
type restartDecision struct {
	// failure describes the failed pod to react to; "" when none.
	failure string
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

// usesRecreateGroup reports whether any role of g has restartPolicy
// RecreateGroup.
func usesRecreateGroup(g *rbgsv1.RoleBasedGroup) bool {
	return slices.ContainsFunc(g.Spec.Roles, func(r rbgsv1.RoleSpec) bool {
		return restartPolicyOf(g, &r) == rbgsv1.RestartRecreateGroup
	})
}

func restartPolicyOf(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) rbgsv1.RestartPolicy {
	return cmp.Or(r.RestartPolicy, g.Spec.RestartPolicy, rbgsv1.RestartNone)
}

// recreateGroupSince is when RecreateGroup took effect for role r of g,
// whose previous status is prev: kept from prev, now when it just did, nil
// when the role does not use it.
func recreateGroupSince(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, prev *rbgsv1.RoleBasedGroupStatus, now metav1.Time) *metav1.Time {
	if restartPolicyOf(g, r) != rbgsv1.RestartRecreateGroup {
		return nil
	}
	for _, rs := range prev.Roles {
		if rs.Role == r.Role && rs.RecreateGroupSince != nil {
			return rs.RecreateGroupSince
		}
	}
	return &now
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
// (st.roles[].recreateGroupSince) do not count.
func decideRestart(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod, now time.Time) restartDecision {
	since := map[string]time.Time{}
	for _, rs := range st.Roles {
		if rs.RecreateGroupSince != nil {
			since[rs.Role] = rs.RecreateGroupSince.Time
		}
	}
	last := st.LastRestart
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
		if !recreating || p.DeletionTimestamp != nil ||
			(last != nil && p.CreationTimestamp.Before(&last.Time)) || (failed != nil && p.Name > failed.Name) {
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
	if !usesRecreateGroup(g) {
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
	if err := r.deletePods(ctx, pods); err != nil {
		return 0, fmt.Errorf("recreating the pods of %s: %w", g.Name, err)
	}
	r.delayTold.Delete(key)
	r.Metrics.GroupRestarted(d.reason)
	st.Restarts++
	st.RecentRestarts = d.recent + 1
	st.LastRestart = &rbgsv1.GroupRestart{Time: now, Reason: d.failure}
	r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, ReasonGroupRecreated, "Recreate",
		"%s: recreating every pod of the group (%d in a row)", d.failure, st.RecentRestarts)
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
		CreateFunc: func(e event.CreateEvent) bool { return podFailure(e.Object.(*corev1.Pod)) != "" },
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
// group (index and watch), its role, its StatefulSet revision and ordinal.
func keptPodLabels(l map[string]string) map[string]string {
	out := make(map[string]string, 4)
	for _, k := range []string{rbgsv1.LabelGroupName, rbgsv1.LabelRole, appsv1.ControllerRevisionHashLabelKey, appsv1.PodIndexLabel} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}
