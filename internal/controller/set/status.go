package set

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"

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
	st := rbgsv1.RoleBasedGroupSetStatus{
		ObservedGeneration: s.Generation,
		Replicas:           int32(len(groups)),
		UpdateRevision:     r.updateRevision,
		CurrentRevision:    current,
		Selector:           labels.SelectorFromSet(labels.Set{rbgsv1.LabelSetName: s.Name}).String(),
		Conditions:         slices.Clone(s.Status.Conditions),
	}
	st.Groups, st.GroupsOmitted = tallyGroups(&st, groups, r, surge)
	p := progressOf(r, groups)
	p.surge = surge
	st.UpdatedGroups = p.updated
	ready, progressing := setConditions(&st, r, p, current, now)
	ready.ObservedGeneration, progressing.ObservedGeneration = s.Generation, s.Generation
	apimeta.SetStatusCondition(&st.Conditions, ready)
	apimeta.SetStatusCondition(&st.Conditions, progressing)
	return st
}

// tallyGroups counts the groups by phase and the ready ones into st, and
// returns the bounded list of groups (see boundGroups).
func tallyGroups(st *rbgsv1.RoleBasedGroupSetStatus, groups map[int32]*rbgsv1.RoleBasedGroup, r rollout, surge int32) ([]rbgsv1.GroupStatus, int32) {
	entries := make([]rbgsv1.GroupStatus, 0, len(groups))
	for i, g := range groups {
		phase := groupPhase(g)
		switch phase {
		case rbgsv1.PhasePending:
			st.GroupCounts.Pending++
		case rbgsv1.PhaseProgressing:
			st.GroupCounts.Progressing++
		case rbgsv1.PhaseRunning:
			st.GroupCounts.Running++
		case rbgsv1.PhaseDegraded:
			st.GroupCounts.Degraded++
		case rbgsv1.PhaseFailed:
			st.GroupCounts.Failed++
		}
		if i < r.replicas && available(g) {
			st.ReadyGroups++
		}
		entries = append(entries, rbgsv1.GroupStatus{
			GroupID: strconv.Itoa(int(i)), Name: g.Name, Phase: phase, Updated: g.Labels[rbgsv1.LabelGroupRevision] == r.updateRevision,
			Surge: i >= r.replicas && i < r.replicas+surge, Roles: roleStatuses(g.Status.Roles),
		})
	}
	return boundGroups(entries, rbgsv1.MaxGroupStatuses)
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
		case rolling, r.paused && len(p.waiting) > 0:
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

// boundGroups keeps at most limit entries, in index order: every group that
// is not Running comes before Running ones, since those are the ones a
// person looks for. It returns the kept entries and how many it left out.
func boundGroups(entries []rbgsv1.GroupStatus, limit int) ([]rbgsv1.GroupStatus, int32) {
	byIndex := func(a, b rbgsv1.GroupStatus) int {
		ai, _ := strconv.Atoi(a.GroupID)
		bi, _ := strconv.Atoi(b.GroupID)
		return cmp.Compare(ai, bi)
	}
	if len(entries) <= limit {
		slices.SortFunc(entries, byIndex)
		return entries, 0
	}
	slices.SortFunc(entries, func(a, b rbgsv1.GroupStatus) int {
		aRun, bRun := a.Phase == rbgsv1.PhaseRunning, b.Phase == rbgsv1.PhaseRunning
		if aRun != bRun {
			if aRun {
				return 1
			}
			return -1
		}
		return byIndex(a, b)
	})
	kept := entries[:limit]
	slices.SortFunc(kept, byIndex)
	return kept, int32(len(entries) - limit)
}
