package set

import (
	"slices"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// groupState is what the cache shows of one group of a set.
type groupState struct {
	index    int32
	revision string
	// available: the group reports Running for its current generation.
	available bool
}

// setPlan is what one reconcile does to a set's groups.
type setPlan struct {
	// create lists the missing indices below replicas, created at the
	// update revision.
	create []int32
	// update lists existing groups to move to the update revision now.
	update []int32
	// delete lists groups at indices at or above replicas.
	delete []int32
}

// planSet decides which groups to create, update and delete.
//
// Group scaling: a set of N groups owns the indices 0..N-1; missing ones are
// created, those at N and above are deleted, so scaling down removes the
// highest indices first.
//
// Rollout: a group runs the update revision once the set has applied the
// current template to it. At most maxUnavailable groups below N may be
// unavailable (not Running at their current generation) at a time because
// of the rollout: each reconcile updates outdated groups that are already
// unavailable (that costs nothing), then outdated available ones in index
// order while the budget lasts. The next ones go only when updated groups
// report Running again, which wakes the set through its watch on groups.
// Groups being created by a scale-up do not count: they were never
// available.
func planSet(replicas int32, groups []groupState, updateRevision string, maxUnavailable int32) setPlan {
	var p setPlan
	have := make(map[int32]groupState, len(groups))
	for _, g := range groups {
		have[g.index] = g
		if g.index >= replicas {
			p.delete = append(p.delete, g.index)
		}
	}
	for i := range replicas {
		if _, ok := have[i]; !ok {
			p.create = append(p.create, i)
		}
	}

	unavailable := int32(0)
	var outdatedAvailable []int32
	for _, g := range groups {
		if g.index >= replicas {
			continue
		}
		if !g.available {
			unavailable++
		}
		if g.revision == updateRevision {
			continue
		}
		if g.available {
			outdatedAvailable = append(outdatedAvailable, g.index)
		} else {
			p.update = append(p.update, g.index)
		}
	}
	slices.Sort(outdatedAvailable)
	budget := max(maxUnavailable-unavailable, 0)
	p.update = append(p.update, outdatedAvailable[:min(budget, int32(len(outdatedAvailable)))]...)
	slices.Sort(p.update)
	slices.Sort(p.delete)
	return p
}

// resolveMaxUnavailable turns maxUnavailable (a count or a percentage of
// replicas, rounded down) into a count of at least 1, so a rollout always
// progresses.
func resolveMaxUnavailable(v *intstr.IntOrString, replicas int32) int32 {
	if v == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, int(replicas), false)
	if err != nil || n < 1 {
		return 1
	}
	return int32(n)
}
