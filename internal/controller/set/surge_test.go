package set

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// surgeStep is one observation of a rollout with surge and the whole plan
// for it.
type surgeStep struct {
	name   string
	groups []groupState
	want   setPlan
}

func runSurgeSteps(t *testing.T, r rollout, steps []surgeStep) {
	t.Helper()
	r.updateRevision = "new"
	for i, s := range steps {
		got := planSet(r, s.groups)
		if diff := cmp.Diff(s.want, got, cmp.AllowUnexported(setPlan{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d (%s): plan (-want +got):\n%s", i, s.name, diff)
		}
	}
}

// gs builds the groups of a step: one state per index, from f.
func gs(n int32, f func(i int32) groupState) []groupState {
	out := make([]groupState, 0, n)
	for i := range n {
		if g := f(i); g.revision != "" {
			out = append(out, g)
		}
	}
	return out
}

// One group, maxSurge 1, maxUnavailable 0: a second group comes up at the
// new revision before the only one moves, and goes once it serves again.
func TestSurgeOfASingleGroup(t *testing.T) {
	r := rollout{replicas: 1, maxUnavailable: 0, maxSurge: 1}
	runSurgeSteps(t, r, []surgeStep{
		{"template changed: a surge group first", []groupState{running(0, "old")}, setPlan{create: []int32{1}, surge: 1}},
		{"the surge group starting: nothing moves", []groupState{running(0, "old"), pending(1, "new")}, setPlan{surge: 1}},
		{"the surge group serves: the old one moves", []groupState{running(0, "old"), running(1, "new")}, setPlan{update: []int32{0}, surge: 1}},
		{"group 0 moving: the surge group stays", []groupState{moving(0, "new"), running(1, "new")}, setPlan{surge: 1}},
		{"group 0 serves at the new revision: the surge group goes", []groupState{running(0, "new"), running(1, "new")}, setPlan{delete: []int32{1}}},
		{"done", []groupState{running(0, "new")}, setPlan{}},
	})
}

// Three groups with maxUnavailable 0 and maxSurge 1: never fewer than 3
// serve, never more than 4 exist.
func TestSurgeNeverBelowReplicas(t *testing.T) {
	r := rollout{replicas: 3, maxUnavailable: 0, maxSurge: 1}
	old := func(i int32) groupState { return running(i, "old") }
	runSurgeSteps(t, r, []surgeStep{
		{"start", gs(3, old), setPlan{create: []int32{3}, surge: 1}},
		{"surge serves: the highest regular group moves", append(gs(3, old), running(3, "new")), setPlan{update: []int32{2}, surge: 1}},
		{"group 2 moving: nothing else", []groupState{old(0), old(1), moving(2, "new"), running(3, "new")}, setPlan{surge: 1}},
		{"group 2 serves", []groupState{old(0), old(1), running(2, "new"), running(3, "new")}, setPlan{update: []int32{1}, surge: 1}},
		{"group 1 serves", []groupState{old(0), running(1, "new"), running(2, "new"), running(3, "new")}, setPlan{update: []int32{0}, surge: 1}},
		// Group 0 reports Running, but at the revision it ran before (its
		// status lags the move): the surge stays.
		{"group 0's status lags", []groupState{lagging(0, "new"), running(1, "new"), running(2, "new"), running(3, "new")}, setPlan{surge: 1}},
		{"every group serves at the new revision", gs(4, func(i int32) groupState { return running(i, "new") }), setPlan{delete: []int32{3}}},
	})
}

// With maxUnavailable 1 and maxSurge 2 two groups go once both surge
// groups serve; a surge group that is not serving holds back the regular
// groups.
func TestSurgeWithUnavailable(t *testing.T) {
	r := rollout{replicas: 4, maxUnavailable: 1, maxSurge: 2}
	old := func(i int32) groupState { return running(i, "old") }
	runSurgeSteps(t, r, []surgeStep{
		{"start", gs(4, old), setPlan{create: []int32{4, 5}, surge: 2}},
		{"one surge group serves", append(gs(4, old), running(4, "new"), pending(5, "new")), setPlan{surge: 2}},
		{"both serve: 3 may go", append(gs(4, old), running(4, "new"), running(5, "new")), setPlan{update: []int32{3, 2, 1}, surge: 2}},
	})
}

// A scale down during a surge keeps the surge at the next indices and
// deletes the rest; a scale up makes a surge group a regular one.
func TestSurgeWithAScale(t *testing.T) {
	r := rollout{replicas: 2, maxUnavailable: 0, maxSurge: 1}
	runSurgeSteps(t, r, []surgeStep{
		{"down from 4 to 2 during a surge: group 2 is the surge, 3 and 4 go",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "old"), running(3, "new"), running(4, "new")},
			setPlan{update: []int32{2}, delete: []int32{3, 4}, surge: 1}},
	})
	r.replicas = 4
	runSurgeSteps(t, r, []surgeStep{
		{"up from 3 to 4: the surge group 3 is a regular group, 4 the surge",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "old"), running(3, "new")},
			setPlan{create: []int32{4}, surge: 1}},
	})
}

// A second edit during a surge: the surge group of the older update
// revision is moved first, and the regular groups wait for it.
func TestSurgeWithASecondEdit(t *testing.T) {
	r := rollout{replicas: 3, maxUnavailable: 0, maxSurge: 1}
	runSurgeSteps(t, r, []surgeStep{
		{"edit while group 2 moved to mid and the surge runs mid",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "mid"), running(3, "mid")},
			setPlan{update: []int32{3}, surge: 1}},
		{"the surge group moving: no regular group goes",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "mid"), moving(3, "new")},
			setPlan{surge: 1}},
		{"the surge serves at new",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "mid"), running(3, "new")},
			setPlan{update: []int32{2}, surge: 1}},
	})
}

// Partition and pause: surge groups exist only while groups from the
// partition up have to move; paused, no surge group is added and those
// that exist stay.
func TestSurgeWithPartitionAndPause(t *testing.T) {
	r := rollout{replicas: 3, maxUnavailable: 0, maxSurge: 2, partition: 2}
	runSurgeSteps(t, r, []surgeStep{
		{"one group to move: one surge group", gs(3, func(i int32) groupState { return running(i, "old") }),
			setPlan{create: []int32{3}, surge: 1}},
		{"group 2 serves at new: the surge goes, groups 0 and 1 keep theirs",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "new"), running(3, "new")},
			setPlan{delete: []int32{3}}},
	})
	r = rollout{replicas: 3, maxUnavailable: 0, maxSurge: 2, paused: true}
	runSurgeSteps(t, r, []surgeStep{
		{"paused before the surge: none added", gs(3, func(i int32) groupState { return running(i, "old") }), setPlan{}},
		{"paused during the surge: it stays, nothing moves",
			[]groupState{running(0, "old"), running(1, "old"), running(2, "new"), running(3, "new")},
			setPlan{surge: 1}},
	})
}
