package set

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// rolloutOf reads the rollout settings of s, whose update revision is rev.
func rolloutOf(s *rbgsv1.RoleBasedGroupSet, rev string) rollout {
	replicas := *s.Spec.Replicas
	maxUnavailable, maxSurge := s.Spec.RolloutStrategy.Budget(replicas)
	return rollout{
		replicas:       replicas,
		updateRevision: rev,
		maxUnavailable: maxUnavailable,
		maxSurge:       maxSurge,
		partition:      s.Spec.RolloutStrategy.PartitionOrZero(),
		paused:         s.Spec.RolloutStrategy.Paused,
	}
}

// stateOf is what the planner needs to know of group g at index i.
func stateOf(i int32, g *rbgsv1.RoleBasedGroup) groupState {
	rev := g.Labels[rbgsv1.LabelGroupRevision]
	st := &g.Status
	started := st.Phase != "" && st.Phase != rbgsv1.PhasePending
	moving := !started
	if st.RunningRevision != "" {
		moving = st.RunningRevision != rev
	}
	return groupState{
		index:    i,
		revision: rev,
		ready:    available(g),
		started:  started,
		moving:   moving,
		down: st.ObservedGeneration == g.Generation &&
			(st.Phase == rbgsv1.PhaseDegraded || st.Phase == rbgsv1.PhaseFailed),
	}
}

// currentRevision is the revision the groups not updated yet run: the one
// the set reported before, while some group still runs it (a second edit
// during a rollout does not change it), else the one most outdated groups
// run (ties to the smaller hash), else the update revision.
func currentRevision(prev string, groups map[int32]*rbgsv1.RoleBasedGroup, replicas int32, updateRev string) string {
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

// progress counts where a rollout stands, for the set's conditions.
type progress struct {
	updated int32
	// moving: groups the rollout moved to the update revision that are
	// not Running at it yet.
	moving int32
	// waiting: outdated groups from the partition up.
	waiting []int32
	// held: outdated groups below the partition.
	held []int32
	// surge is the number of surge groups the set runs.
	surge int32
}

// progressOf counts the groups of a set with rollout r.
func progressOf(r rollout, groups map[int32]*rbgsv1.RoleBasedGroup) progress {
	var p progress
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

// active reports whether the operator is moving groups: some wait for
// their turn and the rollout is not paused.
func (p progress) active(r rollout) bool { return len(p.waiting) > 0 && !r.paused }

// rolling reports whether groups are being moved, or wait to be, or surge
// groups run.
func (p progress) rolling(r rollout) bool { return p.active(r) || p.moving > 0 || p.surge > 0 }

// reason is the reason of the Progressing condition that a running or held
// rollout gives, or "" when every group runs the update revision.
func (p progress) reason(r rollout) string {
	switch {
	case len(p.waiting) > 0 && r.paused:
		return rbgsv1.ReasonRolloutPaused
	case p.rolling(r):
		return rbgsv1.ReasonRollingOut
	case len(p.held) > 0:
		return rbgsv1.ReasonRolloutPartitioned
	}
	return ""
}

// message tells where the rollout stands, with counts.
func (p progress) message(r rollout, current string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d/%d groups at revision %s", p.updated, r.replicas, r.updateRevision)
	if p.moving > 0 {
		fmt.Fprintf(&b, ", %d moving", p.moving)
	}
	switch {
	case p.surge == 1:
		b.WriteString(", 1 surge group")
	case p.surge > 1:
		fmt.Fprintf(&b, ", %d surge groups", p.surge)
	}
	switch {
	case len(p.waiting) > 0 && r.paused:
		fmt.Fprintf(&b, "; rollout paused: groups %s wait (set rolloutStrategy.paused to false to continue)", indices(p.waiting))
	case len(p.waiting) > 0 && r.maxSurge > 0:
		fmt.Fprintf(&b, "; groups %s wait their turn (maxUnavailable %d, maxSurge %d)", indices(p.waiting), r.maxUnavailable, r.maxSurge)
	case len(p.waiting) > 0:
		fmt.Fprintf(&b, "; groups %s wait their turn (maxUnavailable %d)", indices(p.waiting), r.maxUnavailable)
	}
	if len(p.held) > 0 {
		fmt.Fprintf(&b, "; groups %s below partition %d keep revision %s", indices(p.held), r.partition, current)
	}
	return b.String()
}
