package set

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPlanScaling(t *testing.T) {
	cases := []struct {
		name     string
		replicas int32
		have     []int32
		want     setPlan
	}{
		{"create from nothing", 2, nil, setPlan{create: []int32{0, 1}}},
		{"scale up adds the next indices", 3, []int32{0, 1}, setPlan{create: []int32{2}}},
		{"scale down removes the highest", 1, []int32{0, 1, 2}, setPlan{delete: []int32{1, 2}}},
		{"a deleted group in the middle comes back", 3, []int32{0, 2}, setPlan{create: []int32{1}}},
		{"to zero", 0, []int32{0, 1}, setPlan{delete: []int32{0, 1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var groups []groupState
			for _, i := range tc.have {
				groups = append(groups, running(i, "r1"))
			}
			got := planSet(rollout{replicas: tc.replicas, updateRevision: "r1", maxUnavailable: 1}, groups)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(setPlan{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// Group states as the set reads them.

// running: Running at its current generation, at revision rev.
func running(i int32, rev string) groupState {
	return groupState{index: i, revision: rev, ready: true, started: true}
}

// lagging: the set just wrote the group (a scale, restart settings) without
// moving it; its status still describes the previous generation, or says
// Progressing while it scales. It serves as before.
func lagging(i int32, rev string) groupState {
	return groupState{index: i, revision: rev, started: true}
}

// moving: moved to rev, not Running at it yet.
func moving(i int32, rev string) groupState {
	return groupState{index: i, revision: rev, started: true, moving: true}
}

// down: Degraded or Failed at its current generation.
func down(i int32, rev string) groupState {
	return groupState{index: i, revision: rev, started: true, down: true}
}

// pending: never Running yet.
func pending(i int32, rev string) groupState {
	return groupState{index: i, revision: rev, moving: true}
}

type step struct {
	groups []groupState
	update []int32
}

// runSteps plans each step of a rollout to revision "new" and checks the
// groups it moves.
func runSteps(t *testing.T, r rollout, steps []step) {
	t.Helper()
	r.updateRevision = "new"
	for i, s := range steps {
		got := planSet(r, s.groups).update
		if diff := cmp.Diff(s.update, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d: moved groups (-want +got):\n%s", i, diff)
		}
	}
}

// A rollout across four groups with maxUnavailable 1, step by step, from
// the highest index down.
func TestPlanRolloutSteps(t *testing.T) {
	runSteps(t, rollout{replicas: 4, maxUnavailable: 1}, []step{
		// template changed: the highest group goes first
		{[]groupState{running(0, "old"), running(1, "old"), running(2, "old"), running(3, "old")}, []int32{3}},
		// group 3 restarting: nobody else may go
		{[]groupState{running(0, "old"), running(1, "old"), running(2, "old"), moving(3, "new")}, nil},
		// group 3 Running again: the next goes
		{[]groupState{running(0, "old"), running(1, "old"), running(2, "old"), running(3, "new")}, []int32{2}},
		// an outdated group fails on its own: moving it costs nothing, the
		// unavailable group in flight holds back the rest
		{[]groupState{down(0, "old"), running(1, "old"), moving(2, "new"), running(3, "new")}, []int32{0}},
		{[]groupState{moving(0, "new"), running(1, "old"), moving(2, "new"), running(3, "new")}, nil},
		{[]groupState{running(0, "new"), running(1, "old"), running(2, "new"), running(3, "new")}, []int32{1}},
		{[]groupState{running(0, "new"), running(1, "new"), running(2, "new"), running(3, "new")}, nil},
	})
}

// The edits users make in one go, each from a set of six Running groups
// with maxUnavailable 1. The set applies replica counts and restart
// settings to every group at once, which makes every group's status lag
// its generation: none of that may open the budget.
func TestPlanRolloutBudgetHoldsForEveryEdit(t *testing.T) {
	six := func(f func(i int32) groupState) []groupState {
		out := make([]groupState, 6)
		for i := range int32(6) {
			out[i] = f(i)
		}
		return out
	}
	allRunning := six(func(i int32) groupState { return running(i, "old") })
	r := rollout{replicas: 6, maxUnavailable: 1}

	t.Run("template and a role's replicas in one edit", func(t *testing.T) {
		runSteps(t, r, []step{
			{allRunning, []int32{5}},
			// group 5 moved; the others got the new replica count and their
			// statuses lag: they serve, and must not move for free
			{six(func(i int32) groupState {
				if i == 5 {
					return moving(i, "new")
				}
				return lagging(i, "old")
			}), nil},
			// the scale done, group 5 still moving
			{six(func(i int32) groupState {
				if i == 5 {
					return moving(i, "new")
				}
				return running(i, "old")
			}), nil},
			{six(func(i int32) groupState {
				if i == 5 {
					return running(i, "new")
				}
				return running(i, "old")
			}), []int32{4}},
		})
	})

	t.Run("restartPolicy or maxRestarts changed with the template", func(t *testing.T) {
		// Restart settings reach every group at once, like replicas: the
		// same lag, the same rule.
		runSteps(t, r, []step{
			{six(func(i int32) groupState { return lagging(i, "old") }), nil},
			{allRunning, []int32{5}},
		})
	})

	t.Run("replica-only edit during a rollout", func(t *testing.T) {
		runSteps(t, r, []step{
			// groups 5 moved and 4 moving; the scale reaches everyone
			{six(func(i int32) groupState {
				switch i {
				case 5:
					return lagging(i, "new")
				case 4:
					return moving(i, "new")
				}
				return lagging(i, "old")
			}), nil},
			{six(func(i int32) groupState {
				if i >= 4 {
					return running(i, "new")
				}
				return running(i, "old")
			}), []int32{3}},
		})
	})

	t.Run("edit during an edit", func(t *testing.T) {
		// Revision "mid" was rolling out: group 5 runs it, group 4 is on its
		// way. The second edit makes "new".
		runSteps(t, r, []step{
			// group 4 is already down for the first edit: moving it on costs
			// nothing; group 5 serves "mid" and waits for the budget
			{six(func(i int32) groupState {
				switch i {
				case 5:
					return running(i, "mid")
				case 4:
					return moving(i, "mid")
				}
				return running(i, "old")
			}), []int32{4}},
			{six(func(i int32) groupState {
				switch i {
				case 5:
					return running(i, "mid")
				case 4:
					return running(i, "new")
				}
				return running(i, "old")
			}), []int32{5}},
		})
	})

	t.Run("edit during an edit with a scale", func(t *testing.T) {
		// As above, and the second edit also changed replicas: group 5 runs
		// "mid" and is being scaled; it still serves.
		runSteps(t, r, []step{
			{six(func(i int32) groupState {
				switch i {
				case 5:
					return lagging(i, "mid")
				case 4:
					return moving(i, "mid")
				}
				return lagging(i, "old")
			}), []int32{4}},
		})
	})

	t.Run("a fix for a rollout that never became Running", func(t *testing.T) {
		// "bad" left group 5 Progressing for good; the fix must reach it
		// without waiting for a budget it holds itself.
		runSteps(t, r, []step{
			{six(func(i int32) groupState {
				if i == 5 {
					return moving(i, "bad")
				}
				return running(i, "old")
			}), []int32{5}},
		})
	})

	t.Run("groups that never served cost nothing, and serve nothing", func(t *testing.T) {
		// 4 of 6 serve, fewer than replicas - maxUnavailable: the pending
		// groups move, no serving one goes until enough serve.
		runSteps(t, r, []step{
			{six(func(i int32) groupState {
				if i < 2 {
					return pending(i, "old")
				}
				return running(i, "old")
			}), []int32{1, 0}},
			{six(func(i int32) groupState {
				if i == 0 {
					return pending(i, "new")
				}
				if i == 1 {
					return running(i, "new")
				}
				return running(i, "old")
			}), nil},
			{six(func(i int32) groupState {
				if i < 2 {
					return running(i, "new")
				}
				return running(i, "old")
			}), []int32{5}},
		})
	})
}

func TestPlanRolloutBudget(t *testing.T) {
	var groups []groupState
	for i := range int32(10) {
		groups = append(groups, running(i, "old"))
	}
	r := rollout{replicas: 10, updateRevision: "new", maxUnavailable: 3}
	if got := planSet(r, groups).update; !cmp.Equal(got, []int32{9, 8, 7}) {
		t.Errorf("maxUnavailable 3 moves %v", got)
	}
	groups[2] = lagging(2, "old")
	if got := planSet(r, groups).update; !cmp.Equal(got, []int32{9, 8}) {
		t.Errorf("with group 2 being scaled, moves %v", got)
	}
	groups[2] = down(2, "old")
	if got := planSet(r, groups).update; !cmp.Equal(got, []int32{9, 8, 2}) {
		t.Errorf("with group 2 down on its own, moves %v", got)
	}
	// groups above replicas are being deleted and do not count
	groups = append(groups, down(10, "old"))
	if got := planSet(r, groups); !cmp.Equal(got.update, []int32{9, 8, 2}) || !cmp.Equal(got.delete, []int32{10}) {
		t.Errorf("plan %+v", got)
	}
}

// Canary the highest groups with partition, then lower it to continue.
func TestPlanRolloutPartition(t *testing.T) {
	old := func() []groupState {
		var gs []groupState
		for i := range int32(6) {
			gs = append(gs, running(i, "old"))
		}
		return gs
	}
	runSteps(t, rollout{replicas: 6, maxUnavailable: 2, partition: 5}, []step{
		{old(), []int32{5}},
	})
	gs := old()
	gs[5] = running(5, "new")
	gs[1] = down(1, "old")
	runSteps(t, rollout{replicas: 6, maxUnavailable: 2, partition: 5}, []step{
		// below the partition nothing moves, not even a group that is down
		{gs, nil},
	})
	runSteps(t, rollout{replicas: 6, maxUnavailable: 2, partition: 2}, []step{
		// lowered: group 1 is down and counts, so one more goes
		{gs, []int32{4}},
	})
}

func TestPlanRolloutPaused(t *testing.T) {
	gs := []groupState{running(0, "old"), down(1, "old"), moving(2, "mid"), running(3, "new")}
	r := rollout{replicas: 5, updateRevision: "new", maxUnavailable: 4, paused: true}
	got := planSet(r, gs)
	if diff := cmp.Diff(setPlan{create: []int32{4}}, got, cmp.AllowUnexported(setPlan{}), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("paused: nothing moves, scaling goes on (-want +got):\n%s", diff)
	}
	r.paused = false
	if got := planSet(r, gs).update; !cmp.Equal(got, []int32{2, 1, 0}) {
		t.Errorf("resumed: moves %v", got)
	}
}
