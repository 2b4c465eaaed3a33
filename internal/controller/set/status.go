package set

import (
	"cmp"
	"fmt"
	"slices"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
)

// Reasons of the set's conditions and events.
const (
	ReasonAllGroupsReady = "AllGroupsReady"
	ReasonScaling        = "Scaling"
	ReasonRollingOut     = rbgsv1.ReasonRollingOut
	ReasonGroupsNotReady = "GroupsNotReady"
	ReasonGroupDegraded  = "GroupDegraded"
	ReasonInvalidSpec    = "InvalidSpec"
	ReasonGroupsCreated  = "GroupsCreated"
	ReasonGroupsDeleted  = "GroupsDeleted"
	ReasonRolloutStep    = "RolloutStep"
	ReasonSetReady       = "SetReady"
	ReasonNameConflict   = apply.ReasonNameConflict
)

// available: the group serves at the revision the set gave it: it
// reports Running at its current generation, or Running at that revision
// while the set's last write, of counts alone, has not reached its status
// yet (a scale changes no revision, and a group that scales keeps
// serving: see the group's Scaling reason).
func available(g *rbgsv1.RoleBasedGroup) bool {
	st := &g.Status
	if st.Phase != rbgsv1.PhaseRunning {
		return false
	}
	if st.RunningRevision == "" {
		return st.ObservedGeneration == g.Generation
	}
	return st.RunningRevision == g.Labels[rbgsv1.LabelGroupRevision]
}

// groupPhase is the phase the set reports for one of its groups: a group
// whose status does not describe its current generation yet is
// Progressing, unless it serves (see available).
func groupPhase(g *rbgsv1.RoleBasedGroup) rbgsv1.GroupPhase {
	switch {
	case g.Status.Phase == "":
		return rbgsv1.PhasePending
	case available(g):
		return rbgsv1.PhaseRunning
	case g.Status.ObservedGeneration != g.Generation && g.Status.Phase != rbgsv1.PhasePending:
		return rbgsv1.PhaseProgressing
	}
	return g.Status.Phase
}

// computeStatus summarises the set from its groups (indexed by group
// index), under rollout r from revision current, with surge groups above
// replicas.
func computeStatus(s *rbgsv1.RoleBasedGroupSet, groups map[int32]*rbgsv1.RoleBasedGroup, r rollout, surge int32, current string, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	return fleetOf(groups).status(s, r, surge, current, now)
}

// status summarises the set s from the counts of its groups f keeps,
// under rollout r from revision current, with surge groups above
// replicas: no pass over the groups.
func (f *fleet) status(s *rbgsv1.RoleBasedGroupSet, r rollout, surge int32, current string, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	f.setView(viewOf(r))
	st := rbgsv1.RoleBasedGroupSetStatus{
		ObservedGeneration: s.Generation,
		Replicas:           int32(len(f.members)),
		UpdateRevision:     r.updateRevision,
		CurrentRevision:    current,
		Selector:           labels.SelectorFromSet(labels.Set{rbgsv1.LabelSetName: s.Name}).String(),
		Conditions:         slices.Clone(s.Status.Conditions),
		GroupCounts:        f.phases,
		ReadyGroups:        f.below.ready,
		UpdatedGroups:      f.below.updated,
	}
	st.Groups, st.GroupsOmitted = f.groupList(r, surge)
	p := progress{updated: f.below.updated, moving: f.below.moving, waiting: &f.waiting, held: &f.held, surge: surge}
	ready, progressing := setConditions(&st, r, p, current, now)
	ready.ObservedGeneration, progressing.ObservedGeneration = s.Generation, s.Generation
	apimeta.SetStatusCondition(&st.Conditions, ready)
	apimeta.SetStatusCondition(&st.Conditions, progressing)
	return st
}

// setConditions are the Ready and Progressing conditions of the set whose
// counts st holds, under rollout r at progress p, and its phase (in st).
func setConditions(st *rbgsv1.RoleBasedGroupSetStatus, r rollout, p progress, current string, now metav1.Time) (ready, progressing metav1.Condition) {
	replicas := r.replicas
	ready = metav1.Condition{Type: rbgsv1.ConditionReady, LastTransitionTime: now}
	progressing = metav1.Condition{Type: rbgsv1.ConditionProgressing, LastTransitionTime: now}
	summary := fmt.Sprintf("%d/%d groups ready, %d/%d updated", st.ReadyGroups, replicas, st.UpdatedGroups, replicas)
	progressMessage := summary
	if p.reason(r) != "" {
		progressMessage = p.message(r, current)
	}
	scaling, rolling := st.Replicas != replicas+p.surge, p.rolling(r)
	switch {
	case st.GroupCounts.Failed > 0:
		st.Phase = rbgsv1.PhaseFailed
		ready.Status, ready.Reason = metav1.ConditionFalse, ReasonInvalidSpec
		progressing.Status, progressing.Reason = metav1.ConditionFalse, ReasonInvalidSpec
		summary = fmt.Sprintf("%d groups cannot be built as specified; see their status", st.GroupCounts.Failed)
		progressMessage = summary
	case st.ReadyGroups == replicas && !scaling && !rolling:
		// Every group serves; a paused or partitioned rollout may hold some
		// at the current revision.
		st.Phase = rbgsv1.PhaseRunning
		ready.Status, ready.Reason = metav1.ConditionTrue, ReasonAllGroupsReady
		progressing.Status, progressing.Reason = metav1.ConditionFalse, cmp.Or(p.reason(r), ReasonAllGroupsReady)
	default:
		reason := ReasonGroupsNotReady
		switch {
		case rolling, r.paused && p.waiting.len() > 0:
			reason = p.reason(r)
		case scaling:
			reason = ReasonScaling
		}
		ready.Status, ready.Reason = metav1.ConditionFalse, reason
		progressing.Status, progressing.Reason = metav1.ConditionTrue, reason
		switch {
		case st.GroupCounts.Degraded > 0:
			st.Phase = rbgsv1.PhaseDegraded
			ready.Reason = ReasonGroupDegraded
			if !scaling && !rolling {
				progressing.Status, progressing.Reason = metav1.ConditionFalse, cmp.Or(p.reason(r), ReasonGroupDegraded)
			}
		case st.GroupCounts.Running == 0 && st.GroupCounts.Progressing == 0 && st.GroupCounts.Degraded == 0:
			st.Phase = rbgsv1.PhasePending
		default:
			st.Phase = rbgsv1.PhaseProgressing
		}
	}
	ready.Message, progressing.Message = summary, progressMessage
	return ready, progressing
}

// roleStatuses is a group's role statuses as its set reports them: counts
// and waits, without the group's own bookkeeping.
func roleStatuses(roles []rbgsv1.RoleStatus) []rbgsv1.RoleStatus {
	out := slices.Clone(roles)
	for i := range out {
		out[i].RecreateSince = nil
	}
	return out
}
