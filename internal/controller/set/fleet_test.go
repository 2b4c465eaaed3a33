package set

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

var revs = []string{"r0", "r1", "r2"}

// randomGroup is a group of the set demo at index i in a random state:
// any revision, phase, generation lag and running revision.
func randomGroup(rng *rand.Rand, i int32, version int) *rbgsv1.RoleBasedGroup {
	phases := []rbgsv1.GroupPhase{"", rbgsv1.PhasePending, rbgsv1.PhaseProgressing, rbgsv1.PhaseRunning, rbgsv1.PhaseRunning,
		rbgsv1.PhaseDegraded, rbgsv1.PhaseFailed}
	g := group(i, revs[rng.IntN(len(revs))], phases[rng.IntN(len(phases))])
	g.UID = types.UID(fmt.Sprintf("uid-%d", i))
	g.ResourceVersion = strconv.Itoa(version)
	g.Generation = 1 + rng.Int64N(2)
	g.Status.ObservedGeneration = 1 + rng.Int64N(2)
	if rng.IntN(3) > 0 {
		g.Status.RunningRevision = revs[rng.IntN(len(revs))]
	}
	g.Status.Roles[0].ReadyReplicas = rng.Int32N(3)
	return g
}

// randomRollout is a rollout of a set of up to 160 groups.
func randomRollout(rng *rand.Rand) rollout {
	replicas := rng.Int32N(160)
	return rollout{
		replicas: replicas, updateRevision: revs[rng.IntN(len(revs))],
		maxUnavailable: rng.Int32N(20), maxSurge: rng.Int32N(5) * rng.Int32N(2),
		partition: rng.Int32N(replicas + 10), paused: rng.IntN(5) == 0,
	}
}

// randomGroups are up to 190 groups at indices below 200, with gaps.
func randomGroups(rng *rand.Rand) map[int32]*rbgsv1.RoleBasedGroup {
	groups := map[int32]*rbgsv1.RoleBasedGroup{}
	for range rng.IntN(190) {
		i := rng.Int32N(200)
		groups[i] = randomGroup(rng, i, 1)
	}
	return groups
}

// samePlan reports whether two plans are the same.
func samePlan(a, b setPlan) bool {
	return a.surge == b.surge && slices.Equal(a.create, b.create) && slices.Equal(a.update, b.update) && slices.Equal(a.delete, b.delete)
}

// diffPlans is the difference of two plans.
func diffPlans(a, b setPlan) string {
	return cmp.Diff(a, b, cmp.AllowUnexported(setPlan{}), cmpopts.EquateEmpty())
}

// planAndStatus are what a reconcile reads of f under r: its plan, its
// status and current revision.
func planAndStatus(f *fleet, r rollout) (setPlan, rbgsv1.RoleBasedGroupSetStatus, string) {
	s := &rbgsv1.RoleBasedGroupSet{}
	s.Name, s.Generation, s.Spec.Replicas = "demo", 3, &r.replicas
	current := f.currentRevision("r1", viewOf(r))
	p := f.plan(r)
	return p, f.status(s, r, p.surge, current, t0), current
}

// The fleet's plan, status and current revision are exactly those of a
// pass over every group, whatever the groups, the gaps between them and
// the rollout.
func TestFleetMatchesAPassOverEveryGroup(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range 3000 {
		groups, r := randomGroups(rng), randomRollout(rng)
		states := make([]groupState, 0, len(groups))
		for i, g := range groups {
			states = append(states, stateOf(i, g))
		}
		want := passPlan(r, states)
		gotPlan, gotStatus, gotCurrent := planAndStatus(fleetOf(groups), r)
		if !samePlan(want, gotPlan) {
			t.Fatalf("case %d, rollout %+v: plan (-pass +fleet):\n%s", k, r, diffPlans(want, gotPlan))
		}
		s := &rbgsv1.RoleBasedGroupSet{}
		s.Name, s.Generation, s.Spec.Replicas = "demo", 3, &r.replicas
		if want := passCurrentRevision("r1", groups, r.replicas, r.updateRevision); gotCurrent != want {
			t.Fatalf("case %d: current revision %q, want %q", k, gotCurrent, want)
		}
		wantStatus := passStatus(s, groups, r, want.surge, gotCurrent, t0)
		if !equality.Semantic.DeepEqual(wantStatus, gotStatus) {
			t.Fatalf("case %d, rollout %+v: status (-pass +fleet):\n%s", k, r, cmp.Diff(wantStatus, gotStatus, cmpopts.EquateEmpty()))
		}
	}
}

// A fleet kept change by change (groups put, replaced by later versions,
// reported late, removed, and the view changing between them) answers as
// a fleet made afresh from the same groups.
func TestFleetKeptByChangesMatchesAFreshOne(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for run := range 40 {
		f := newFleet()
		groups := map[int32]*rbgsv1.RoleBasedGroup{}
		version := 1000
		for step := range 400 {
			i := rng.Int32N(120)
			switch op := rng.IntN(10); {
			case op < 6:
				version++
				g := randomGroup(rng, i, version)
				if old := groups[i]; old != nil && rng.IntN(4) == 0 {
					// A late event: an older version of the group.
					stored, _ := strconv.Atoi(old.ResourceVersion)
					late := randomGroup(rng, i, stored-1)
					f.put(i, memberOf(i, late))
					continue
				}
				groups[i] = g
				f.put(i, memberOf(i, g))
			case op < 8:
				delete(groups, i)
				f.remove(i, fmt.Sprintf("uid-%d", i))
			default:
				r := randomRollout(rng)
				gotPlan, gotStatus, _ := planAndStatus(f, r)
				wantPlan, wantStatus, _ := planAndStatus(fleetOf(groups), r)
				if !samePlan(wantPlan, gotPlan) {
					t.Fatalf("run %d step %d: plan (-fresh +kept):\n%s", run, step, diffPlans(wantPlan, gotPlan))
				}
				if !equality.Semantic.DeepEqual(wantStatus, gotStatus) {
					t.Fatalf("run %d step %d: status (-fresh +kept):\n%s", run, step, cmp.Diff(wantStatus, gotStatus, cmpopts.EquateEmpty()))
				}
			}
		}
	}
}

// A group is dirty when it is new or its spec or metadata changed, not
// when only its status did; a group of another UID at its index is new.
func TestFleetDirty(t *testing.T) {
	f := newFleet()
	g := group(0, "r1", rbgsv1.PhasePending)
	g.UID, g.ResourceVersion = "a", "1"
	if !f.put(0, memberOf(0, g)) || !f.dirty.has(0) {
		t.Fatalf("a new group is not dirty")
	}
	f.dirty = indexSet{}
	status := g.DeepCopy()
	status.ResourceVersion, status.Status.Phase = "2", rbgsv1.PhaseRunning
	if f.put(0, memberOf(0, status)) || f.dirty.has(0) {
		t.Errorf("a change of status alone made the group dirty")
	}
	labeled := status.DeepCopy()
	labeled.ResourceVersion, labeled.Labels["team"] = "3", "a"
	if !f.put(0, memberOf(0, labeled)) || !f.dirty.has(0) {
		t.Errorf("a new label did not make the group dirty")
	}
	f.dirty = indexSet{}
	again := labeled.DeepCopy()
	again.UID, again.ResourceVersion = "b", "1"
	if !f.put(0, memberOf(0, again)) || !f.dirty.has(0) {
		t.Errorf("a group made again under the same name is not dirty")
	}
	f.remove(0, "a")
	if f.group(0) == nil {
		t.Errorf("removing the former group's UID removed the new one")
	}
	f.remove(0, "b")
	if f.group(0) != nil || f.present.len() != 0 || f.phases != (rbgsv1.GroupCounts{}) {
		t.Errorf("a removed group is still counted: %+v", f.phases)
	}
}

// The set's groups are read through their owner reference, index label and
// name.
func TestMemberKeyOf(t *testing.T) {
	s := &rbgsv1.RoleBasedGroupSet{}
	s.Name, s.Namespace, s.UID = "demo", "ns", "set-uid"
	g := desiredGroup(s, 4, "r1", rbgsv1.RoleBasedGroupSpec{})
	if k := memberKeyOf(g); k.uid != "set-uid" || k.index != 4 || k.set.Name != "demo" {
		t.Errorf("group 4 of demo: %+v", k)
	}
	g.Labels[rbgsv1.LabelGroupIndex] = "5"
	if k := memberKeyOf(g); k.uid != "set-uid" || k.index != -1 {
		t.Errorf("a group whose index does not match its name: %+v, want the set with no index", k)
	}
	g.OwnerReferences = nil
	if k := memberKeyOf(g); k.uid != "" {
		t.Errorf("a group no set controls: %+v", k)
	}
}

// The index set walks, counts and names its members as a list would.
func TestIndexSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		var s indexSet
		in := map[int32]bool{}
		for range rng.IntN(300) {
			i := rng.Int32N(400)
			if rng.IntN(4) == 0 {
				s.remove(i)
				delete(in, i)
			} else {
				s.add(i)
				in[i] = true
			}
		}
		var sorted []int32
		for i := range in {
			sorted = append(sorted, i)
		}
		slices.Sort(sorted)
		if got := s.list(1 << 30); !slices.Equal(got, sorted) || s.len() != int32(len(sorted)) {
			t.Fatalf("list %v (len %d), want %v", got, s.len(), sorted)
		}
		if got, want := s.String(), listRanges(sorted); got != want {
			t.Fatalf("String %q, want %q", got, want)
		}
		below := rng.Int32N(420)
		var down []int32
		s.descend(below, func(i int32) bool { down = append(down, i); return true })
		var want []int32
		for _, i := range slices.Backward(sorted) {
			if i < below {
				want = append(want, i)
			}
		}
		if !slices.Equal(down, want) || s.countBelow(below) != int32(len(want)) {
			t.Fatalf("below %d: descend %v, count %d; want %v", below, down, s.countBelow(below), want)
		}
		from := rng.Int32N(420)
		var up []int32
		s.ascend(from, func(i int32) bool { up = append(up, i); return true })
		if want := slices.DeleteFunc(slices.Clone(sorted), func(i int32) bool { return i < from }); !slices.Equal(up, want) {
			t.Fatalf("from %d: ascend %v, want %v", from, up, want)
		}
	}
}

// One group's change costs the set the same at 1,000 groups as at 10,000:
// the event's put, the plan and the status of a reconcile.
func BenchmarkFleetChange(b *testing.B) {
	for _, n := range []int32{1000, 10000} {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			f := newFleet()
			for i := range n {
				g := group(i, "r1", rbgsv1.PhaseRunning)
				g.Name = naming.Group("demo", i)
				f.put(i, memberOf(i, g))
			}
			s := &rbgsv1.RoleBasedGroupSet{}
			s.Name, s.Generation, s.Spec.Replicas = "demo", 1, &n
			r := rollout{replicas: n, updateRevision: "r1", maxUnavailable: n / 4}
			running, degraded := memberOf(7, group(7, "r1", rbgsv1.PhaseRunning)), memberOf(7, group(7, "r1", rbgsv1.PhaseDegraded))
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				if k++; k%2 == 0 {
					f.put(7, running)
				} else {
					f.put(7, degraded)
				}
				p := f.plan(r)
				f.status(s, r, p.surge, f.currentRevision("r1", viewOf(r)), t0)
			}
		})
	}
}

// listRanges is indexSet.String written as a walk over a sorted list: the
// reference the bit walk is checked against.
func listRanges(ix []int32) string {
	sorted := slices.Sorted(slices.Values(ix))
	var parts []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if len(parts) == maxRanges {
			parts = append(parts, fmt.Sprintf("and %d more", len(sorted)-i))
			break
		}
		part := strconv.Itoa(int(sorted[i]))
		if j > i {
			part += "-" + strconv.Itoa(int(sorted[j]))
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
