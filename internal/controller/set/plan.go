package set

import (
	"cmp"
	"slices"
)

// groupState is what the set reads of one of its groups.
type groupState struct {
	index int32
	// revision is the revision the set last applied to the group.
	revision string
	// ready: the group reports Running for its current generation.
	ready bool
	// started: the group has been Running at some point (its phase is
	// not Pending): until then it serves nothing.
	started bool
	// moving: the set moved the group to its revision and the group has
	// not been Running at it yet (status.runningRevision differs).
	moving bool
	// down: the group's status, at its current generation, says Degraded
	// or Failed: it is unavailable on its own, not because of a change.
	down bool
}

// outdated reports whether g runs another revision than rev.
func (g groupState) outdated(rev string) bool { return g.revision != rev }

// unavailable: g served once and does not now. A group that is being
// scaled, or whose status has not caught up with a write yet, counts too:
// nothing proves it serves.
func (g groupState) unavailable() bool { return g.started && !g.ready }

// costless: moving g to a new revision takes nothing more down. It never
// served; or it is down on its own; or it is still on its way to a
// revision the set no longer wants. A group that is unavailable only
// because it is being scaled (or its status lags a write) is not
// costless: it still serves what it served.
func (g groupState) costless() bool {
	return !g.ready && (!g.started || g.moving || g.down)
}

// rollout is what a set's spec says of the rollout.
type rollout struct {
	replicas       int32
	updateRevision string
	maxUnavailable int32
	// partition: groups below it keep their revision.
	partition int32
	// paused: no group starts moving.
	paused bool
}

// setPlan is what one reconcile does to a set's groups.
type setPlan struct {
	// create lists the missing indices below replicas.
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
// Rollout: what counts against maxUnavailable is decided here and only
// here. A group is unavailable when it served once and is not Running at
// its current generation, whatever the cause: a rollout, a scale, a
// failure, or a status that has not caught up with a write yet. Each
// reconcile moves outdated groups from partition up to the update
// revision, highest index first (as a StatefulSet does):
//   - at once, those whose move costs nothing (see costless): groups that
//     never served, groups down on their own, and groups still on their
//     way to a revision an edit since replaced;
//   - then Running ones, while the budget lasts: maxUnavailable minus the
//     groups unavailable now.
//
// Outdated groups that are unavailable for any other reason (being scaled,
// or a status behind a write) wait: they still serve, and moving them would
// take down one group more than the budget allows. While paused, nothing
// moves. The next groups go when moved ones report Running, which wakes the
// set through its watch on groups.
func planSet(r rollout, groups []groupState) setPlan {
	var p setPlan
	have := make(map[int32]bool, len(groups))
	unavailable := int32(0)
	var costless, running []int32
	for _, g := range groups {
		have[g.index] = true
		if g.index >= r.replicas {
			p.delete = append(p.delete, g.index)
			continue
		}
		if g.unavailable() {
			unavailable++
		}
		if !g.outdated(r.updateRevision) || g.index < r.partition {
			continue
		}
		switch {
		case g.costless():
			costless = append(costless, g.index)
		case g.ready:
			running = append(running, g.index)
		}
	}
	for i := range r.replicas {
		if !have[i] {
			p.create = append(p.create, i)
		}
	}
	slices.Sort(p.delete)
	if r.paused {
		return p
	}
	highestFirst := func(a, b int32) int { return cmp.Compare(b, a) }
	slices.SortFunc(running, highestFirst)
	budget := max(r.maxUnavailable-unavailable, 0)
	p.update = append(costless, running[:min(budget, int32(len(running)))]...)
	slices.SortFunc(p.update, highestFirst)
	return p
}
