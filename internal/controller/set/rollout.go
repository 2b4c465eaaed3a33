package set

import (
	"fmt"
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

// currentRevision is the revision the groups below replicas that are not
// at updateRev run (see fleet.currentRevision).
func currentRevision(prev string, groups map[int32]*rbgsv1.RoleBasedGroup, replicas int32, updateRev string) string {
	return fleetOf(groups).currentRevision(prev, view{replicas: replicas, updateRevision: updateRev})
}

// progress counts where a rollout stands, for the set's conditions.
type progress struct {
	updated int32
	// moving: groups the rollout moved to the update revision that are
	// not Running at it yet.
	moving int32
	// waiting: outdated groups from the partition up.
	waiting *indexSet
	// held: outdated groups below the partition.
	held *indexSet
	// surge is the number of surge groups the set runs.
	surge int32
}

// active reports whether the operator is moving groups: some wait for
// their turn and the rollout is not paused.
func (p progress) active(r rollout) bool { return p.waiting.len() > 0 && !r.paused }

// rolling reports whether groups are being moved, or wait to be, or surge
// groups run.
func (p progress) rolling(r rollout) bool { return p.active(r) || p.moving > 0 || p.surge > 0 }

// reason is the reason of the Progressing condition that a running or held
// rollout gives, or "" when every group runs the update revision.
func (p progress) reason(r rollout) string {
	switch {
	case p.waiting.len() > 0 && r.paused:
		return rbgsv1.ReasonRolloutPaused
	case p.rolling(r):
		return rbgsv1.ReasonRollingOut
	case p.held.len() > 0:
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
	case p.waiting.len() > 0 && r.paused:
		fmt.Fprintf(&b, "; rollout paused: groups %s wait (set rolloutStrategy.paused to false to continue)", p.waiting.String())
	case p.waiting.len() > 0 && r.maxSurge > 0:
		fmt.Fprintf(&b, "; groups %s wait their turn (maxUnavailable %d, maxSurge %d)", p.waiting.String(), r.maxUnavailable, r.maxSurge)
	case p.waiting.len() > 0:
		fmt.Fprintf(&b, "; groups %s wait their turn (maxUnavailable %d)", p.waiting.String(), r.maxUnavailable)
	}
	if p.held.len() > 0 {
		fmt.Fprintf(&b, "; groups %s below partition %d keep revision %s", p.held.String(), r.partition, current)
	}
	return b.String()
}
