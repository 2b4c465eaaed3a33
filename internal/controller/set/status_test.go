package set

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/test/wrappers"
)

var t0 = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func group(i int32, rev string, phase rbgsv1.GroupPhase) *rbgsv1.RoleBasedGroup {
	g := wrappers.MakeGroup(naming.Group("demo", i), "ns").Generation(1).
		Label(rbgsv1.LabelGroupRevision, rev).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: phase, Roles: []rbgsv1.RoleStatus{
		{Role: "prefill", Replicas: 2, ReadyReplicas: 2}, {Role: "decode", Replicas: 2, ReadyReplicas: 2},
	}}
	return g
}

func groups(n int32, rev string, phase rbgsv1.GroupPhase) map[int32]*rbgsv1.RoleBasedGroup {
	m := map[int32]*rbgsv1.RoleBasedGroup{}
	for i := range n {
		m[i] = group(i, rev, phase)
	}
	return m
}

func TestSetStatusPhases(t *testing.T) {
	s := wrappers.MakeSet("demo", "ns").Replicas(2).Role("prefill", 2).Obj()
	s.Generation = 5
	cases := []struct {
		name     string
		replicas int32
		groups   map[int32]*rbgsv1.RoleBasedGroup
		phase    rbgsv1.GroupPhase
		ready    metav1.ConditionStatus
		reason   string
	}{
		{"all running", 2, groups(2, "r1", rbgsv1.PhaseRunning), rbgsv1.PhaseRunning, "True", ReasonAllGroupsReady},
		{"fresh", 2, groups(2, "r1", rbgsv1.PhasePending), rbgsv1.PhasePending, "False", ReasonGroupsNotReady},
		{"scaling up", 3, groups(2, "r1", rbgsv1.PhaseRunning), rbgsv1.PhaseProgressing, "False", ReasonScaling},
		{"rolling out", 2, map[int32]*rbgsv1.RoleBasedGroup{0: group(0, "r1", rbgsv1.PhaseRunning), 1: group(1, "r0", rbgsv1.PhaseRunning)},
			rbgsv1.PhaseProgressing, "False", ReasonRollingOut},
		{"degraded", 2, map[int32]*rbgsv1.RoleBasedGroup{0: group(0, "r1", rbgsv1.PhaseRunning), 1: group(1, "r1", rbgsv1.PhaseDegraded)},
			rbgsv1.PhaseDegraded, "False", ReasonGroupDegraded},
		{"failed", 2, groups(2, "r1", rbgsv1.PhaseFailed), rbgsv1.PhaseFailed, "False", ReasonInvalidSpec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s.Spec.Replicas = &tc.replicas
			st := computeStatus(s, tc.groups, rolloutOf(s, "r1"), 0, "r1", t0)
			c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady)
			if st.Phase != tc.phase || c.Status != tc.ready || c.Reason != tc.reason || c.ObservedGeneration != 5 {
				t.Errorf("phase %s, Ready %s/%s; want %s, %s/%s", st.Phase, c.Status, c.Reason, tc.phase, tc.ready, tc.reason)
			}
		})
	}
}

func TestSetStatusCounts(t *testing.T) {
	s := wrappers.MakeSet("demo", "ns").Replicas(3).Role("prefill", 2).Obj()
	gs := map[int32]*rbgsv1.RoleBasedGroup{
		0: group(0, "new", rbgsv1.PhaseRunning),
		1: group(1, "old", rbgsv1.PhaseRunning),
		2: group(2, "old", rbgsv1.PhaseRunning),
	}
	gs[0].Generation = 2 // updated, its status not caught up yet
	st := computeStatus(s, gs, rolloutOf(s, "new"), 0, currentRevision("", gs, 3, "new"), t0)
	if st.Replicas != 3 || st.ReadyGroups != 2 || st.UpdatedGroups != 1 || st.CurrentRevision != "old" ||
		st.UpdateRevision != "new" || st.Selector != "patio.io/rbgs-name=demo" {
		t.Errorf("status %+v", st)
	}
	if st.Groups[0].Phase != rbgsv1.PhaseProgressing || !st.Groups[0].Updated || st.Groups[1].Updated {
		t.Errorf("groups %+v", st.Groups)
	}
	if st.GroupCounts != (rbgsv1.GroupCounts{Progressing: 1, Running: 2}) {
		t.Errorf("counts %+v", st.GroupCounts)
	}
}

// Past MaxGroupStatuses the list keeps every group that is not Running,
// then Running ones, in index order, and its size stays far below the
// object size limit.
func TestSetStatusBounded(t *testing.T) {
	const n = 5000
	s := wrappers.MakeSet("demo", "ns").Replicas(n).Role("prefill", 2).Obj()
	gs := groups(n, "r1", rbgsv1.PhaseRunning)
	for _, i := range []int32{7, 4999, 2500} {
		gs[i].Status.Phase = rbgsv1.PhaseDegraded
	}
	st := computeStatus(s, gs, rolloutOf(s, "r1"), 0, "r1", t0)
	if len(st.Groups) != rbgsv1.MaxGroupStatuses || st.GroupsOmitted != n-rbgsv1.MaxGroupStatuses {
		t.Fatalf("kept %d, omitted %d", len(st.Groups), st.GroupsOmitted)
	}
	var ids []int
	for _, g := range st.Groups {
		id, _ := strconv.Atoi(g.GroupID)
		ids = append(ids, id)
	}
	if ids[0] != 0 || ids[7] != 7 || ids[len(ids)-3] != 97 || ids[len(ids)-2] != 2500 || ids[len(ids)-1] != 4999 {
		t.Errorf("kept groups %v; want the 3 degraded ones (7, 2500, 4999) and Running 0..97", ids)
	}
	if st.GroupCounts.Degraded != 3 || st.GroupCounts.Running != n-3 {
		t.Errorf("counts %+v", st.GroupCounts)
	}
	raw, _ := json.Marshal(st)
	if len(raw) > 64<<10 {
		t.Errorf("status of %d groups takes %d bytes", n, len(raw))
	}
}

// The Progressing condition says whether a rollout runs, is paused or is
// held by the partition, with counts.
func TestSetStatusRollout(t *testing.T) {
	at := func(i int32, rev string, phase rbgsv1.GroupPhase) *rbgsv1.RoleBasedGroup {
		g := group(i, rev, phase)
		g.Status.RunningRevision = rev
		return g
	}
	movingTo := func(i int32, rev string) *rbgsv1.RoleBasedGroup {
		g := group(i, rev, rbgsv1.PhaseProgressing)
		g.Status.RunningRevision = "old"
		return g
	}
	cases := []struct {
		name        string
		partition   int32
		paused      bool
		groups      map[int32]*rbgsv1.RoleBasedGroup
		phase       rbgsv1.GroupPhase
		ready       metav1.ConditionStatus
		progressing metav1.ConditionStatus
		reason      string
		message     string
	}{
		{"rolling out", 0, false,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "old", rbgsv1.PhaseRunning), 1: at(1, "old", rbgsv1.PhaseRunning), 2: movingTo(2, "new"), 3: at(3, "new", rbgsv1.PhaseRunning)},
			rbgsv1.PhaseProgressing, "False", "True", rbgsv1.ReasonRollingOut,
			"2/4 groups at revision new, 1 moving; groups 0-1 wait their turn (maxUnavailable 1)"},
		{"paused with every group Running", 0, true,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "old", rbgsv1.PhaseRunning), 1: at(1, "old", rbgsv1.PhaseRunning), 2: at(2, "old", rbgsv1.PhaseRunning), 3: at(3, "new", rbgsv1.PhaseRunning)},
			rbgsv1.PhaseRunning, "True", "False", rbgsv1.ReasonRolloutPaused,
			"1/4 groups at revision new; rollout paused: groups 0-2 wait (set rolloutStrategy.paused to false to continue)"},
		{"paused while a group finishes its move", 0, true,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "old", rbgsv1.PhaseRunning), 1: at(1, "old", rbgsv1.PhaseRunning), 2: at(2, "old", rbgsv1.PhaseRunning), 3: movingTo(3, "new")},
			rbgsv1.PhaseProgressing, "False", "True", rbgsv1.ReasonRolloutPaused,
			"1/4 groups at revision new, 1 moving; rollout paused: groups 0-2 wait (set rolloutStrategy.paused to false to continue)"},
		{"paused while a group created by a scale-up starts", 0, true,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "old", rbgsv1.PhaseRunning), 1: at(1, "old", rbgsv1.PhaseRunning), 2: at(2, "new", rbgsv1.PhaseRunning), 3: group(3, "old", rbgsv1.PhasePending)},
			rbgsv1.PhaseProgressing, "False", "True", rbgsv1.ReasonRolloutPaused,
			"1/4 groups at revision new; rollout paused: groups 0-1, 3 wait (set rolloutStrategy.paused to false to continue)"},
		{"partitioned", 2, false,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "old", rbgsv1.PhaseRunning), 1: at(1, "old", rbgsv1.PhaseRunning), 2: at(2, "new", rbgsv1.PhaseRunning), 3: at(3, "new", rbgsv1.PhaseRunning)},
			rbgsv1.PhaseRunning, "True", "False", rbgsv1.ReasonRolloutPartitioned,
			"2/4 groups at revision new; groups 0-1 below partition 2 keep revision old"},
		{"done", 0, false,
			map[int32]*rbgsv1.RoleBasedGroup{0: at(0, "new", rbgsv1.PhaseRunning), 1: at(1, "new", rbgsv1.PhaseRunning), 2: at(2, "new", rbgsv1.PhaseRunning), 3: at(3, "new", rbgsv1.PhaseRunning)},
			rbgsv1.PhaseRunning, "True", "False", ReasonAllGroupsReady, "4/4 groups ready, 4/4 updated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := wrappers.MakeSet("demo", "ns").Replicas(4).Role("prefill", 2).Obj()
			s.Spec.RolloutStrategy.Partition, s.Spec.RolloutStrategy.Paused = &tc.partition, tc.paused
			r := rolloutOf(s, "new")
			st := computeStatus(s, tc.groups, r, 0, currentRevision("", tc.groups, 4, "new"), t0)
			ready := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady)
			p := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionProgressing)
			if st.Phase != tc.phase || ready.Status != tc.ready || p.Status != tc.progressing || p.Reason != tc.reason || p.Message != tc.message {
				t.Errorf("phase %s, Ready %s, Progressing %s/%s %q\nwant %s, %s, %s/%s %q",
					st.Phase, ready.Status, p.Status, p.Reason, p.Message, tc.phase, tc.ready, tc.progressing, tc.reason, tc.message)
			}
		})
	}
}

func TestCurrentRevision(t *testing.T) {
	gs := map[int32]*rbgsv1.RoleBasedGroup{
		0: group(0, "a", rbgsv1.PhaseRunning), 1: group(1, "b", rbgsv1.PhaseRunning), 2: group(2, "b", rbgsv1.PhaseRunning),
		3: group(3, "new", rbgsv1.PhaseRunning), 4: group(4, "c", rbgsv1.PhaseRunning),
	}
	for _, tc := range []struct{ prev, want string }{
		{"", "b"},  // most outdated groups
		{"a", "a"}, // the one reported before, while a group runs it
		{"z", "b"}, // reported before, but no group runs it any more
		{"c", "b"}, // group 4 is being deleted (replicas 4)
	} {
		if got := currentRevision(tc.prev, gs, 4, "new"); got != tc.want {
			t.Errorf("currentRevision(%q) = %q, want %q", tc.prev, got, tc.want)
		}
	}
	if got := currentRevision("a", map[int32]*rbgsv1.RoleBasedGroup{0: group(0, "new", rbgsv1.PhaseRunning)}, 1, "new"); got != "new" {
		t.Errorf("every group updated: %q", got)
	}
}

func TestStateOf(t *testing.T) {
	g := group(0, "new", rbgsv1.PhaseRunning)
	g.Status.RunningRevision = "new"
	if s := stateOf(0, g); !s.ready || !s.started || s.moving || s.down {
		t.Errorf("Running at its revision: %+v", s)
	}
	g.Generation = 2 // a scale the group has not seen yet: it serves as before
	if s := stateOf(0, g); !s.ready || !s.started || s.moving || s.down || s.unavailable() || s.costless() {
		t.Errorf("lagging a scale: %+v", s)
	}
	if groupPhase(g) != rbgsv1.PhaseRunning {
		t.Errorf("a group lagging a scale is listed %s", groupPhase(g))
	}
	g.Labels[rbgsv1.LabelGroupRevision] = "newer"
	if s := stateOf(0, g); s.ready || !s.moving || !s.costless() || groupPhase(g) != rbgsv1.PhaseProgressing {
		t.Errorf("moved on: %+v, listed %s", s, groupPhase(g))
	}
	g.Labels[rbgsv1.LabelGroupRevision] = "new"
	g.Status.ObservedGeneration, g.Status.Phase = 2, rbgsv1.PhaseDegraded
	if s := stateOf(0, g); !s.down || !s.costless() {
		t.Errorf("degraded: %+v", s)
	}
	g.Status.RunningRevision, g.Status.Phase = "", rbgsv1.PhaseProgressing
	if s := stateOf(0, g); s.moving || s.costless() {
		t.Errorf("running revision unknown (a group from before it was recorded): %+v", s)
	}
	g.Status.Phase = rbgsv1.PhasePending
	if s := stateOf(0, g); s.started || !s.costless() || s.unavailable() {
		t.Errorf("never Running: %+v", s)
	}
}
