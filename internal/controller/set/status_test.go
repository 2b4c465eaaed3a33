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
			st := computeStatus(s, tc.groups, "r1", t0)
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
	st := computeStatus(s, gs, "new", t0)
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
	st := computeStatus(s, gs, "r1", t0)
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
