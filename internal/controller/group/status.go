package group

import (
	"fmt"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/status"
)

// Reasons of conditions and events.
const (
	ReasonStarting      = "Starting"
	ReasonUpdating      = "Updating"
	ReasonScaling       = "Scaling"
	ReasonAllRolesReady = "AllRolesReady"
	ReasonRoleUnready   = "RoleUnready"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonRoleStarted   = "RoleStarted"
	ReasonRoleRemoved   = "RoleRemoved"
	ReasonGroupRunning  = "GroupRunning"
	ReasonNameConflict  = apply.ReasonNameConflict
)

// computeStatus derives the status of g from the plans of its roles.
//
// The phase follows the group's life: Pending until it is Running for the
// first time; Running while every role is ready, and while roles only
// scale and keep serving (see roleState.serving: Ready stays True,
// Progressing is True with reason Scaling); then, when a role is not
// ready, Degraded if the spec is the one it was Running with (something
// broke) or Progressing if the spec changed since (the operator is working
// on it). The previous status tells which: it is the only memory a group
// needs, and it survives restarts.
func computeStatus(g *rbgsv1.RoleBasedGroup, roles []rolePlan, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
	prev := g.Status
	st := rbgsv1.RoleBasedGroupStatus{
		ObservedGeneration: g.Generation,
		DesiredRoles:       int32(len(g.Spec.Roles)),
		Conditions:         cloneConditions(prev.Conditions),
		Restarts:           prev.Restarts,
		RecentRestarts:     prev.RecentRestarts,
		LastRestart:        prev.LastRestart,
		RunningRevision:    prev.RunningRevision,
	}
	var notReady []string
	serving := true
	for i := range roles {
		p := &roles[i]
		st.Roles = append(st.Roles, roleStatus(g, p, &prev, now))
		if p.state.ready {
			st.ReadyRoles++
			continue
		}
		serving = serving && p.state.serving
		notReady = append(notReady, roleNote(p))
	}
	var reason string
	st.Phase, reason = phaseOf(g, &prev, st.ReadyRoles == st.DesiredRoles, serving)
	if st.Phase == rbgsv1.PhaseRunning && reason == ReasonAllRolesReady {
		// The set's rollout reads it: the group serves at this revision.
		st.RunningRevision = g.Labels[rbgsv1.LabelGroupRevision]
	}
	message := "every role is ready"
	switch {
	case reason == ReasonScaling:
		message = "roles scaling: " + strings.Join(notReady, ", ")
	case len(notReady) > 0:
		message = "roles not ready: " + strings.Join(notReady, ", ")
	}
	ready, progressing := metav1.ConditionFalse, metav1.ConditionFalse
	switch {
	case st.Phase == rbgsv1.PhaseRunning:
		ready = metav1.ConditionTrue
		if reason == ReasonScaling {
			progressing = metav1.ConditionTrue
		}
	case st.Phase == rbgsv1.PhasePending, st.Phase == rbgsv1.PhaseProgressing:
		progressing = metav1.ConditionTrue
	}
	for _, c := range []struct {
		t      string
		status metav1.ConditionStatus
	}{{rbgsv1.ConditionReady, ready}, {rbgsv1.ConditionProgressing, progressing}} {
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: c.t, Status: c.status, Reason: reason, Message: message,
			ObservedGeneration: g.Generation, LastTransitionTime: now,
		})
	}
	return st
}

// phaseOf is the phase of g, whose previous status is prev, and its reason,
// given whether every role is ready and whether those that are not only
// scale while they serve.
func phaseOf(g *rbgsv1.RoleBasedGroup, prev *rbgsv1.RoleBasedGroupStatus, allReady, serving bool) (rbgsv1.GroupPhase, string) {
	hasRun := prev.Phase == rbgsv1.PhaseRunning || prev.Phase == rbgsv1.PhaseDegraded || prev.Phase == rbgsv1.PhaseProgressing
	sameSpec := prev.ObservedGeneration == g.Generation
	switch {
	case allReady:
		return rbgsv1.PhaseRunning, ReasonAllRolesReady
	case prev.Phase == rbgsv1.PhaseRunning && serving:
		return rbgsv1.PhaseRunning, ReasonScaling
	case hasRun && sameSpec && prev.Phase != rbgsv1.PhaseProgressing:
		return rbgsv1.PhaseDegraded, ReasonRoleUnready
	case hasRun:
		return rbgsv1.PhaseProgressing, ReasonUpdating
	}
	return rbgsv1.PhasePending, ReasonStarting
}

// roleStatus is the status of role p of g, whose previous status is prev.
func roleStatus(g *rbgsv1.RoleBasedGroup, p *rolePlan, prev *rbgsv1.RoleBasedGroupStatus, now metav1.Time) rbgsv1.RoleStatus {
	rs := rbgsv1.RoleStatus{
		Role:            p.spec.Role,
		Replicas:        p.spec.ReplicasOrDefault(),
		ReadyReplicas:   p.state.readyReplicas,
		UpdatedReplicas: p.state.updatedReplicas,
		WaitingFor:      p.waitingFor,
		WaitsFor:        p.waitsFor,
		RecreateSince:   recreateSince(g, p.spec, prev, now),
	}
	if size := p.spec.SizeOrDefault(); size > 1 {
		rs.Size, rs.ReadyPods = size, p.state.readyPods
	}
	return rs
}

// roleNote says why role p is not ready.
func roleNote(p *rolePlan) string {
	want := p.spec.ReplicasOrDefault()
	counted := ""
	if size := p.spec.SizeOrDefault(); size > 1 {
		counted = fmt.Sprintf(" instances, %d/%d pods", p.state.readyPods, want*size)
	}
	switch {
	case p.blocked:
		return p.spec.Role + " (blocked: its gangs cannot be written, see GangsScheduled)"
	case p.emptied && len(p.waitingFor) > 0:
		return fmt.Sprintf("%s (recreating: waiting for %s)", p.spec.Role, strings.Join(p.waitingFor, ", "))
	case p.emptied:
		return p.spec.Role + " (recreating: waiting for the old pods to go)"
	case len(p.waitingFor) > 0:
		return fmt.Sprintf("%s (waiting for %s)", p.spec.Role, strings.Join(p.waitingFor, ", "))
	case len(p.old) > 0:
		return fmt.Sprintf("%s (moving to a new layout, %d/%d ready)", p.spec.Role, p.state.readyReplicas, want)
	case p.waitsFor != "":
		return fmt.Sprintf("%s (updating: %d/%d updated, waits for %s within the group's maxSkew)", p.spec.Role, p.state.updatedReplicas, want, p.waitsFor)
	case p.state.serving && p.state.readyReplicas > want:
		return fmt.Sprintf("%s (scaling down to %d)", p.spec.Role, want)
	case p.state.readyReplicas >= want && !p.state.serving:
		return p.spec.Role + " (updating)"
	}
	return fmt.Sprintf("%s (%d/%d ready%s)", p.spec.Role, p.state.readyReplicas, want, counted)
}

// markConflict says in st that a child could not be created because an
// object the group does not control holds its name: Ready and Progressing
// turn False with the conflict as their message, and a Running group is
// Degraded, since one of its children is not its own.
func markConflict(st *rbgsv1.RoleBasedGroupStatus, c *apply.ConflictError, generation int64, now metav1.Time) {
	if st.Phase == rbgsv1.PhaseRunning {
		st.Phase = rbgsv1.PhaseDegraded
	}
	c.SetConditions(&st.Conditions, generation, now)
}

// failedStatus is the status of a group whose spec cannot be built: the
// previous one, at the current generation, Failed, with the reason.
func failedStatus(g *rbgsv1.RoleBasedGroup, err error, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
	st := *g.Status.DeepCopy()
	st.DesiredRoles = int32(len(g.Spec.Roles))
	status.Failed(&st.ObservedGeneration, &st.Phase, &st.Conditions, g.Generation, ReasonInvalidSpec, err, now)
	return st
}

func cloneConditions(c []metav1.Condition) []metav1.Condition {
	if c == nil {
		return nil
	}
	return append([]metav1.Condition(nil), c...)
}
