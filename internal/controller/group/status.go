package group

import (
	"fmt"
	"strings"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
)

// Reasons of conditions and events.
const (
	ReasonAllRolesReady          = "AllRolesReady"
	ReasonWaitingForDependencies = "WaitingForDependencies"
	ReasonRolesNotReady          = "RolesNotReady"
	ReasonRoleUnready            = "RoleUnready"
	ReasonInvalidSpec            = "InvalidSpec"
	ReasonRoleStarted            = "RoleStarted"
	ReasonRoleRemoved            = "RoleRemoved"
	ReasonGroupRunning           = "GroupRunning"
)

// computeStatus derives the status of g from its roles' states and plans.
// prev is the status before this reconcile: a group that was Running at the
// current generation and has lost a role's readiness is Degraded (something
// broke), while one whose spec changed since is Progressing (we are working
// on it).
func computeStatus(g *rbgsv1.RoleBasedGroup, states map[string]roleState, plans []rolePlan, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
	prev := g.Status
	st := rbgsv1.RoleBasedGroupStatus{
		ObservedGeneration: g.Generation,
		DesiredRoles:       int32(len(g.Spec.Roles)),
		Conditions:         cloneConditions(prev.Conditions),
	}
	var notReady, waiting []string
	anyReady := false
	for _, p := range plans {
		s := states[p.role.Role]
		want := discovery.ReplicasOf(p.role)
		st.Roles = append(st.Roles, rbgsv1.RoleStatus{
			Role:            p.role.Role,
			Replicas:        want,
			ReadyReplicas:   s.readyReplicas,
			UpdatedReplicas: s.updatedReplicas,
			WaitingFor:      p.waitingFor,
		})
		anyReady = anyReady || s.readyReplicas > 0
		switch {
		case s.ready:
			st.ReadyRoles++
		case len(p.waitingFor) > 0:
			waiting = append(waiting, fmt.Sprintf("%s (waiting for %s)", p.role.Role, strings.Join(p.waitingFor, ", ")))
		case s.readyReplicas >= want:
			notReady = append(notReady, p.role.Role+" (updating)")
		default:
			notReady = append(notReady, fmt.Sprintf("%s (%d/%d ready)", p.role.Role, s.readyReplicas, want))
		}
	}
	wasRunning := prev.ObservedGeneration == g.Generation &&
		(prev.Phase == rbgsv1.PhaseRunning || prev.Phase == rbgsv1.PhaseDegraded)
	switch {
	case st.ReadyRoles == st.DesiredRoles:
		st.Phase = rbgsv1.PhaseRunning
	case wasRunning:
		st.Phase = rbgsv1.PhaseDegraded
	case anyReady:
		st.Phase = rbgsv1.PhaseProgressing
	default:
		st.Phase = rbgsv1.PhasePending
	}

	ready := metav1.Condition{Type: rbgsv1.ConditionReady, ObservedGeneration: g.Generation, LastTransitionTime: now}
	progressing := metav1.Condition{Type: rbgsv1.ConditionProgressing, ObservedGeneration: g.Generation, LastTransitionTime: now}
	message := "roles not ready: " + strings.Join(append(notReady, waiting...), ", ")
	switch st.Phase {
	case rbgsv1.PhaseRunning:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionTrue, ReasonAllRolesReady, "every role is ready"
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionFalse, ReasonAllRolesReady, "every role is ready"
	case rbgsv1.PhaseDegraded:
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonRoleUnready, message
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionFalse, ReasonRoleUnready, message
	default:
		reason := ReasonRolesNotReady
		if len(notReady) == 0 {
			reason = ReasonWaitingForDependencies
		}
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, reason, message
		progressing.Status, progressing.Reason, progressing.Message = metav1.ConditionTrue, reason, message
	}
	apimeta.SetStatusCondition(&st.Conditions, ready)
	apimeta.SetStatusCondition(&st.Conditions, progressing)
	return st
}

// failedStatus is the status of a group whose spec cannot be built.
func failedStatus(g *rbgsv1.RoleBasedGroup, err error, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
	st := rbgsv1.RoleBasedGroupStatus{
		ObservedGeneration: g.Generation,
		Phase:              rbgsv1.PhaseFailed,
		DesiredRoles:       int32(len(g.Spec.Roles)),
		Roles:              g.Status.Roles,
		ReadyRoles:         g.Status.ReadyRoles,
		Conditions:         cloneConditions(g.Status.Conditions),
	}
	for _, t := range []string{rbgsv1.ConditionReady, rbgsv1.ConditionProgressing} {
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: metav1.ConditionFalse, Reason: ReasonInvalidSpec,
			Message: err.Error(), ObservedGeneration: g.Generation, LastTransitionTime: now,
		})
	}
	return st
}

func cloneConditions(c []metav1.Condition) []metav1.Condition {
	if c == nil {
		return nil
	}
	return append([]metav1.Condition(nil), c...)
}
