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
	// maxSurge bounds the groups run above replicas during a rollout.
	maxSurge int32
	// partition: groups below it keep their revision.
	partition int32
	// paused: no group starts moving, and no surge group is added.
	paused bool
}

// setPlan is what one reconcile does to a set's groups.
type setPlan struct {
	// create lists the missing indices below replicas + surge.
	create []int32
	// update lists existing groups to move to the update revision now.
	update []int32
	// delete lists groups at indices at or above replicas + surge.
	delete []int32
	// surge is how many surge groups the set runs: indices replicas ..
	// replicas+surge-1.
	surge int32
}

// planSet decides which groups to create, update and delete.
//
// Group scaling: a set of N groups owns the indices 0..N-1; missing ones are
// created, those above are deleted, so scaling down removes the highest
// indices first.
//
// Surge: while groups from the partition up (below replicas) do not serve
// at the update revision yet, the set may run up to maxSurge surge groups
// at the next indices (see surgeOf), created at the update revision. They
// stay until every such group serves at it, then go, highest index first.
//
// Rollout: the budget is decided here and only here. The set keeps at
// least replicas - maxUnavailable groups available (Running at the
// revision it gave them), counting surge groups; every other group may be
// moved. Each reconcile moves outdated groups (from the partition up, and
// surge groups of an older update revision) to the update revision,
// highest index first (as a StatefulSet does):
//   - at once, those whose move costs nothing (see costless): groups that
//     never served, groups down on their own, and groups still on their
//     way to a revision an edit since replaced;
//   - then available ones, while the budget lasts: the available groups
//     beyond replicas - maxUnavailable, and none below replicas while a
//     surge group is not available yet.
//
// A group that only scales keeps serving and stays available (see
// available), so a scale never opens or closes the budget. While paused,
// nothing moves. The next groups go when moved ones report Running, which
// wakes the set through its watch on groups.
func planSet(r rollout, groups []groupState) setPlan {
	f := newFleet()
	for _, g := range groups {
		f.put(g.index, &member{state: g})
	}
	return f.plan(r)
}

// plan is planSet for the groups of f, reading only the groups it moves,
// creates or deletes, and the surge groups.
func (f *fleet) plan(r rollout) setPlan {
	f.setView(viewOf(r))
	p := setPlan{surge: f.surge(r)}
	members := r.replicas + p.surge
	if f.presentBelow(r, members) < members {
		for i := range members {
			if !f.present.has(i) {
				p.create = append(p.create, i)
			}
		}
	}
	f.present.ascend(members, func(i int32) bool {
		p.delete = append(p.delete, i)
		return true
	})
	if r.paused {
		return p
	}
	p.update = f.moves(r, members)
	return p
}

// presentBelow counts the groups below members (replicas and the surge
// groups above them).
func (f *fleet) presentBelow(r rollout, members int32) int32 {
	n := f.below.present
	for i := r.replicas; i < members; i++ {
		if f.present.has(i) {
			n++
		}
	}
	return n
}

// surge is how many surge groups the set runs: none once every group
// from the partition up serves at the update revision; else maxSurge, no
// more than the groups still to serve at it, and no fewer than the surge
// groups that exist (they stay until the rollout is done). While paused,
// no surge group is added.
func (f *fleet) surge(r rollout) int32 {
	remaining := int32(0)
	if r.partition < r.replicas {
		// Those absent, and those outdated or not available.
		remaining = r.replicas - r.partition - f.below.tail + f.below.remaining
	}
	if remaining == 0 || r.maxSurge == 0 {
		return 0
	}
	existing := int32(0)
	for existing < r.maxSurge && f.present.has(r.replicas+existing) {
		existing++
	}
	if r.paused {
		return existing
	}
	return max(min(r.maxSurge, remaining), existing)
}

// moves lists the member groups (indices below members) to move to the
// update revision now, highest index first.
func (f *fleet) moves(r rollout, members int32) []int32 {
	available := f.below.ready
	surgeServing := true
	var costless, serving []int32
	for i := r.replicas; i < members; i++ {
		m := f.members[i]
		if m == nil {
			surgeServing = false
			continue
		}
		g := m.state
		if g.ready {
			available++
		} else {
			surgeServing = false
		}
		if !g.outdated(r.updateRevision) || i < r.partition {
			continue
		}
		switch {
		case g.costless():
			costless = append(costless, i)
		case g.ready:
			serving = append(serving, i)
		}
	}
	costless = append(costless, f.waitingCostless.list(r.replicas)...)
	budget := max(available-(r.replicas-r.maxUnavailable), 0)
	out := costless
	take := func(i int32) bool {
		if budget == 0 || (i < r.replicas && !surgeServing) {
			return false
		}
		out = append(out, i)
		budget--
		return true
	}
	// Surge groups are above every other: highest first.
	slices.SortFunc(serving, highestFirst)
	done := false
	for _, i := range serving {
		if !take(i) {
			done = true
			break
		}
	}
	if !done {
		f.waitingReady.descend(r.replicas, take)
	}
	slices.SortFunc(out, highestFirst)
	return out
}

func highestFirst(a, b int32) int { return cmp.Compare(b, a) }
