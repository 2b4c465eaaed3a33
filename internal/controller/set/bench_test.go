package set

import (
	"testing"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	groupctrl "github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/test/wrappers"
)

const fleetSize = 1000

// BenchmarkPlanSet plans a rollout step of a 1,000-group set.
func BenchmarkPlanSet(b *testing.B) {
	states := make([]groupState, fleetSize)
	for i := range states {
		states[i] = running(int32(i), "old")
		if i%7 == 0 {
			states[i] = lagging(int32(i), "old")
		}
	}
	r := rollout{replicas: fleetSize, updateRevision: "new", maxUnavailable: 100}
	b.ReportAllocs()
	for b.Loop() {
		planSet(r, states)
	}
}

// BenchmarkSetStatus summarises a 1,000-group set.
func BenchmarkSetStatus(b *testing.B) {
	s := wrappers.MakeSet("demo", "ns").Replicas(fleetSize).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	gs := groups(fleetSize, "r1", rbgsv1.PhaseRunning)
	b.ReportAllocs()
	for b.Loop() {
		computeStatus(s, gs, rolloutOf(s, "r1"), 0, "r1", t0)
	}
}

// BenchmarkRenderSet renders every group of a 1,000-group set and every
// child of those groups.
func BenchmarkRenderSet(b *testing.B) {
	s := wrappers.MakeSet("demo", "ns").Replicas(fleetSize).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	rev := revision(s)
	b.ReportAllocs()
	for b.Loop() {
		spec := updatedSpec(s)
		for i := range int32(fleetSize) {
			groupctrl.Render(desiredGroup(s, i, rev, spec))
		}
	}
}
