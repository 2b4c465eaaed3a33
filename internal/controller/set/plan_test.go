package set

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/util/intstr"
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
				groups = append(groups, groupState{index: i, revision: "r1", available: true})
			}
			got := planSet(tc.replicas, groups, "r1", 1)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(setPlan{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// A rollout across four groups with maxUnavailable 1, step by step: each
// step is what the cache shows and which groups the plan updates.
func TestPlanRolloutSteps(t *testing.T) {
	g := func(i int32, rev string, avail bool) groupState {
		return groupState{index: i, revision: rev, available: avail}
	}
	steps := []struct {
		groups []groupState
		update []int32
	}{
		// template changed: one group goes first
		{[]groupState{g(0, "old", true), g(1, "old", true), g(2, "old", true), g(3, "old", true)}, []int32{0}},
		// group 0 restarting: nobody else may go
		{[]groupState{g(0, "new", false), g(1, "old", true), g(2, "old", true), g(3, "old", true)}, nil},
		// group 0 Running again: the next goes
		{[]groupState{g(0, "new", true), g(1, "old", true), g(2, "old", true), g(3, "old", true)}, []int32{1}},
		// an outdated group fails on its own: updating it costs nothing, the
		// unavailable group in flight holds back the rest
		{[]groupState{g(0, "new", true), g(1, "new", false), g(2, "old", true), g(3, "old", false)}, []int32{3}},
		{[]groupState{g(0, "new", true), g(1, "new", true), g(2, "old", true), g(3, "new", false)}, nil},
		{[]groupState{g(0, "new", true), g(1, "new", true), g(2, "old", true), g(3, "new", true)}, []int32{2}},
		{[]groupState{g(0, "new", true), g(1, "new", true), g(2, "new", true), g(3, "new", true)}, nil},
	}
	for i, s := range steps {
		got := planSet(4, s.groups, "new", 1).update
		if diff := cmp.Diff(s.update, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("step %d: updated groups (-want +got):\n%s", i, diff)
		}
	}
}

func TestPlanRolloutBudget(t *testing.T) {
	var groups []groupState
	for i := range int32(10) {
		groups = append(groups, groupState{index: i, revision: "old", available: true})
	}
	if got := planSet(10, groups, "new", 3).update; !cmp.Equal(got, []int32{0, 1, 2}) {
		t.Errorf("maxUnavailable 3 updates %v", got)
	}
	groups[7].available = false
	if got := planSet(10, groups, "new", 3).update; !cmp.Equal(got, []int32{0, 1, 7}) {
		t.Errorf("with group 7 down, updates %v", got)
	}
	// groups above replicas are being deleted and do not count
	groups = append(groups, groupState{index: 10, revision: "old", available: false})
	if got := planSet(10, groups, "new", 3); !cmp.Equal(got.update, []int32{0, 1, 7}) || !cmp.Equal(got.delete, []int32{10}) {
		t.Errorf("plan %+v", got)
	}
}

func TestResolveMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		v        *intstr.IntOrString
		replicas int32
		want     int32
	}{
		{nil, 10, 1},
		{new(intstr.FromInt32(3)), 10, 3},
		{new(intstr.FromString("25%")), 10, 2},
		{new(intstr.FromString("5%")), 10, 1},
		{new(intstr.FromString("100%")), 7, 7},
		{new(intstr.FromInt32(5)), 0, 5},
	} {
		if got := resolveMaxUnavailable(tc.v, tc.replicas); got != tc.want {
			t.Errorf("resolveMaxUnavailable(%v, %d) = %d, want %d", tc.v, tc.replicas, got, tc.want)
		}
	}
}
