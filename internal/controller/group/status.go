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
	ReasonAllRolesReady = "AllRolesReady"
	ReasonRoleUnready   = "RoleUnready"
	ReasonInvalidSpec   = "InvalidSpec"
	ReasonRoleStarted   = "RoleStarted"
	ReasonRoleRemoved   = "RoleRemoved"
	ReasonGroupRunning  = "GroupRunning"
	ReasonNameConflict  = apply.ReasonNameConflict
)

// computeStatus derives the status of g from its roles' states and plans.
//
// The phase follows the group's life: Pending until it is Running for the
// first time; Running while every role is ready; then, when a role is not
// ready, Degraded if the spec is the one it was Running with (something
// broke) or Progressing if the spec changed since (the operator is working
// on it). The previous status tells which: it is the only memory a group
// needs, and it survives restarts.
func computeStatus(g *rbgsv1.RoleBasedGroup, states map[string]roleState, plans []rolePlan, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
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
	for _, p := range plans {
		s := states[p.role.Role]
		want := p.role.ReplicasOrDefault()
		rs := rbgsv1.RoleStatus{
			Role:            p.role.Role,
			Replicas:        want,
			ReadyReplicas:   s.readyReplicas,
			UpdatedReplicas: s.updatedReplicas,
			WaitingFor:      p.waitingFor,
			RecreateSince:   recreateSince(g, p.role, &prev, now),
		}
		counted := ""
		if size := p.role.SizeOrDefault(); size > 1 {
			rs.Size, rs.ReadyPods = size, s.readyPods
			counted = fmt.Sprintf(" instances, %d/%d pods", s.readyPods, want*size)
		}
		st.Roles = append(st.Roles, rs)
		switch {
		case s.ready:
			st.ReadyRoles++
		case p.blocked:
			notReady = append(notReady, p.role.Role+" (held: its gangs cannot be written, see GangsScheduled)")
		case len(p.waitingFor) > 0:
			notReady = append(notReady, fmt.Sprintf("%s (waiting for %s)", p.role.Role, strings.Join(p.waitingFor, ", ")))
		case s.readyReplicas >= want:
			notReady = append(notReady, p.role.Role+" (updating)")
		default:
			notReady = append(notReady, fmt.Sprintf("%s (%d/%d ready%s)", p.role.Role, s.readyReplicas, want, counted))
		}
	}
	hasRun := prev.Phase == rbgsv1.PhaseRunning || prev.Phase == rbgsv1.PhaseDegraded || prev.Phase == rbgsv1.PhaseProgressing
	sameSpec := prev.ObservedGeneration == g.Generation
	var reason string
	switch {
	case st.ReadyRoles == st.DesiredRoles:
		st.Phase, reason = rbgsv1.PhaseRunning, ReasonAllRolesReady
		// The set's rollout reads it: the group serves at this revision.
		st.RunningRevision = g.Labels[rbgsv1.LabelGroupRevision]
	case hasRun && sameSpec && prev.Phase != rbgsv1.PhaseProgressing:
		st.Phase, reason = rbgsv1.PhaseDegraded, ReasonRoleUnready
	case hasRun:
		st.Phase, reason = rbgsv1.PhaseProgressing, ReasonUpdating
	default:
		st.Phase, reason = rbgsv1.PhasePending, ReasonStarting
	}

	message := "every role is ready"
	if len(notReady) > 0 {
		message = "roles not ready: " + strings.Join(notReady, ", ")
	}
	ready, progressing := metav1.ConditionFalse, metav1.ConditionFalse
	switch st.Phase {
	case rbgsv1.PhaseRunning:
		ready = metav1.ConditionTrue
	case rbgsv1.PhasePending, rbgsv1.PhaseProgressing:
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
	st.ObservedGeneration = g.Generation
	st.Phase = rbgsv1.PhaseFailed
	st.DesiredRoles = int32(len(g.Spec.Roles))
	status.SetNotReady(&st.Conditions, ReasonInvalidSpec, err.Error(), g.Generation, now)
	return st
}

func cloneConditions(c []metav1.Condition) []metav1.Condition {
	if c == nil {
		return nil
	}
	return append([]metav1.Condition(nil), c...)
}
