package group

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/status"
)

// report is what a reconcile did, for the events that follow its status
// write: the roles whose workloads it created, and the children it
// deleted.
type report struct {
	started []string
	removed []objectRef
}

// writeStatus writes status if it changed (see internal/status), then
// records the events of what changed; events follow the write, so they
// never announce a state that was not persisted. Changes of counts and
// messages alone wait for StatusInterval since the group's last status
// write (startupStatusInterval while Pending), and a group of a set may
// leave its first status for later (see firstStatusWait).
func (r *Reconciler) writeStatus(ctx context.Context, g *rbgsv1.RoleBasedGroup, next rbgsv1.RoleBasedGroupStatus, did report) (ctrl.Result, error) {
	prev := g.Status
	var result ctrl.Result
	shown := next.Phase // the set lists a group that has not reported as Pending
	if wait := firstStatusWait(g, next, r.Clock.Now()); wait > 0 {
		result.RequeueAfter = wait
	} else {
		shown = ""
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
	r.recordEvents(g, &prev, did)
	r.recordMetrics(g, prev.Phase, cmp.Or(shown, g.Status.Phase), did.started)
	return result, nil
}

// recordMetrics records the group's phase as shown, its first startup
// once its status says so (a status write lost to a conflict records
// nothing), and how long the roles it started waited for their
// dependencies.
func (r *Reconciler) recordMetrics(g *rbgsv1.RoleBasedGroup, prev, shown rbgsv1.GroupPhase, started []string) {
	if r.Metrics == nil {
		return
	}
	phase := g.Status.Phase
	r.Metrics.GroupPhase(client.ObjectKeyFromObject(g).String(), shown)
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
func (r *Reconciler) recordEvents(g *rbgsv1.RoleBasedGroup, prev *rbgsv1.RoleBasedGroupStatus, did report) {
	routine := g.Labels[rbgsv1.LabelSetName] == "" || (prev.Phase != rbgsv1.PhasePending && prev.Phase != "")
	for _, role := range did.started {
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
	for _, o := range did.removed {
		r.Recorder.Eventf(g, nil, corev1.EventTypeNormal, ReasonRoleRemoved, "Delete", "deleted %s %s: %s", o.kind, o.obj.GetName(), o.why)
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
