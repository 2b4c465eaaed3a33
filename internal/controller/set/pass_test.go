package set

// A straightforward pass over every group, as the set computed its plan
// and status before it kept counts (see fleet.go): the reference the
// fleet's answers are checked against.

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// passProgressList is progress with lists of indices.
type passProgressList struct {
	updated, moving int32
	waiting, held   []int32
}

// passProgress is passProgressLists as progress.
func passProgress(r rollout, groups map[int32]*rbgsv1.RoleBasedGroup) progress {
	l := passProgressLists(r, groups)
	return progress{updated: l.updated, moving: l.moving, waiting: indicesOf(l.waiting), held: indicesOf(l.held)}
}

func passPlan(r rollout, groups []groupState) setPlan {
	byIndex := make(map[int32]groupState, len(groups))
	for _, g := range groups {
		byIndex[g.index] = g
	}
	p := setPlan{surge: passSurge(r, byIndex)}
	members := r.replicas + p.surge
	for i := range members {
		if _, ok := byIndex[i]; !ok {
			p.create = append(p.create, i)
		}
	}
	for _, g := range groups {
		if g.index >= members {
			p.delete = append(p.delete, g.index)
		}
	}
	slices.Sort(p.delete)
	if r.paused {
		return p
	}
	p.update = passMoves(r, byIndex, members)
	return p
}

// surgeOf is how many surge groups the set runs: none once every group
// from the partition up serves at the update revision; else maxSurge, no
// more than the groups still to serve at it, and no fewer than the surge
// groups that exist (they stay until the rollout is done). While paused,
// no surge group is added.
func passSurge(r rollout, groups map[int32]groupState) int32 {
	remaining := int32(0)
	for i := r.partition; i < r.replicas; i++ {
		if g, ok := groups[i]; !ok || g.outdated(r.updateRevision) || !g.ready {
			remaining++
		}
	}
	if remaining == 0 || r.maxSurge == 0 {
		return 0
	}
	existing := int32(0)
	for existing < r.maxSurge {
		if _, ok := groups[r.replicas+existing]; !ok {
			break
		}
		existing++
	}
	if r.paused {
		return existing
	}
	return max(min(r.maxSurge, remaining), existing)
}

// moves lists the member groups (indices below members) to move to the
// update revision now, highest index first.
func passMoves(r rollout, groups map[int32]groupState, members int32) []int32 {
	available := int32(0)
	surgeServing := true
	var costless, serving []int32
	for i := range members {
		g, ok := groups[i]
		if !ok {
			if i >= r.replicas {
				surgeServing = false
			}
			continue
		}
		if g.ready {
			available++
		} else if i >= r.replicas {
			surgeServing = false
		}
		if !g.outdated(r.updateRevision) || (i < r.partition) {
			continue
		}
		switch {
		case g.costless():
			costless = append(costless, i)
		case g.ready:
			serving = append(serving, i)
		}
	}
	highestFirst := func(a, b int32) int { return cmp.Compare(b, a) }
	slices.SortFunc(serving, highestFirst)
	budget := max(available-(r.replicas-r.maxUnavailable), 0)
	out := costless
	for _, i := range serving {
		if budget == 0 || (i < r.replicas && !surgeServing) {
			break
		}
		out = append(out, i)
		budget--
	}
	slices.SortFunc(out, highestFirst)
	return out
}

func passStatus(s *rbgsv1.RoleBasedGroupSet, groups map[int32]*rbgsv1.RoleBasedGroup, r rollout, surge int32, current string, now metav1.Time) rbgsv1.RoleBasedGroupSetStatus {
	st := rbgsv1.RoleBasedGroupSetStatus{
		ObservedGeneration: s.Generation,
		Replicas:           int32(len(groups)),
		UpdateRevision:     r.updateRevision,
		CurrentRevision:    current,
		Selector:           labels.SelectorFromSet(labels.Set{rbgsv1.LabelSetName: s.Name}).String(),
		Conditions:         slices.Clone(s.Status.Conditions),
	}
	st.Groups, st.GroupsOmitted = passTally(&st, groups, r, surge)
	p := passProgress(r, groups)
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
func passTally(st *rbgsv1.RoleBasedGroupSetStatus, groups map[int32]*rbgsv1.RoleBasedGroup, r rollout, surge int32) ([]rbgsv1.GroupStatus, int32) {
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
	return passBound(entries, rbgsv1.MaxGroupStatuses)
}

// boundGroups keeps at most limit entries, in index order: every group that
// is not Running comes before Running ones, since those are the ones a
// person looks for. It returns the kept entries and how many it left out.
func passBound(entries []rbgsv1.GroupStatus, limit int) ([]rbgsv1.GroupStatus, int32) {
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

func passCurrentRevision(prev string, groups map[int32]*rbgsv1.RoleBasedGroup, replicas int32, updateRev string) string {
	outdated := map[string]int{}
	for i, g := range groups {
		if rev := g.Labels[rbgsv1.LabelGroupRevision]; i < replicas && rev != updateRev {
			outdated[rev]++
		}
	}
	if len(outdated) == 0 {
		return updateRev
	}
	if outdated[prev] > 0 {
		return prev
	}
	revs := slices.Collect(maps.Keys(outdated))
	slices.SortFunc(revs, func(a, b string) int { return cmp.Or(cmp.Compare(outdated[b], outdated[a]), cmp.Compare(a, b)) })
	return revs[0]
}

// passProgressLists counts the groups of a set with rollout r.
func passProgressLists(r rollout, groups map[int32]*rbgsv1.RoleBasedGroup) passProgressList {
	var p passProgressList
	for i, g := range groups {
		if i >= r.replicas {
			continue
		}
		switch {
		case g.Labels[rbgsv1.LabelGroupRevision] == r.updateRevision:
			p.updated++
			if s := stateOf(i, g); s.started && s.moving && !s.ready {
				p.moving++
			}
		case i < r.partition:
			p.held = append(p.held, i)
		default:
			p.waiting = append(p.waiting, i)
		}
	}
	return p
}
