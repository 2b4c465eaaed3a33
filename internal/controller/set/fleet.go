package set

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/util/resourceversion"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
)

// A fleet is what the set controller knows of one set's groups, and the
// counts its plan and status are made of, kept up to date group by group:
// the controller's event handler puts each group it sees change (see
// events.go), so one group's change costs the set constant work, not a
// pass over every group. Counts that depend on the set's spec (its
// replicas, partition and update revision: the view) are counted again,
// once, when the spec changes.
//
// A fleet is not safe for concurrent use; fleets guards it.
type fleet struct {
	members map[int32]*member
	// present and notRunning are the indices of the groups, and of those
	// the set reports other than Running.
	present, notRunning indexSet
	phases              rbgsv1.GroupCounts

	// v is the view the counts below were made for.
	v     view
	below belowCounts
	// outdated counts the groups below replicas at each revision other
	// than the update revision.
	outdated map[string]int32
	// held are the outdated groups below the partition; waiting those
	// from it up (below replicas), and of those, the ones whose move
	// costs nothing and the available ones (see groupState).
	held, waiting, waitingCostless, waitingReady indexSet

	// dirty are the groups whose spec or metadata changed since the set
	// last planned: those its plan writes when its own intent did not
	// change (see intent).
	dirty indexSet
	// written are the groups the set wrote whose write the cache may not
	// show yet: the next reconcile reads them back (see
	// Reconciler.catchUp).
	written indexSet
	// intent is what every group was last written for (see setIntent):
	// while it holds, only new, moved and dirty groups are compared.
	intent string
}

// member is one group of a fleet.
type member struct {
	// g is the cache's object, never modified; nil in planner tests.
	g     *rbgsv1.RoleBasedGroup
	state groupState
	phase rbgsv1.GroupPhase
	// roles are the group's role statuses as the set reports them.
	roles []rbgsv1.RoleStatus
	// meta fingerprints the generation, labels and annotations: a change
	// makes the group dirty.
	meta uint64
}

// memberOf is group g, at index i, as a fleet keeps it.
func memberOf(i int32, g *rbgsv1.RoleBasedGroup) *member {
	return &member{
		g: g, state: stateOf(i, g), phase: groupPhase(g), roles: roleStatuses(g.Status.Roles),
		meta: uint64(g.Generation) ^ apply.MapHash(g.Labels) ^ apply.MapHash(g.Annotations)*31,
	}
}

// view is what of a set's spec the fleet's counts depend on.
type view struct {
	replicas, partition int32
	updateRevision      string
}

func viewOf(r rollout) view {
	return view{replicas: r.replicas, partition: r.partition, updateRevision: r.updateRevision}
}

// belowCounts count the groups below replicas.
type belowCounts struct {
	present, ready, updated int32
	// moving: updated, started and not Running at the update revision yet.
	moving int32
	// tail: present from the partition up; remaining: of those, the ones
	// outdated or not available (see surge).
	tail, remaining int32
}

func newFleet() *fleet {
	return &fleet{members: map[int32]*member{}, outdated: map[string]int32{}}
}

// fleetOf is a fleet of groups, by index.
func fleetOf(groups map[int32]*rbgsv1.RoleBasedGroup) *fleet {
	f := newFleet()
	for i, g := range groups {
		f.put(i, memberOf(i, g))
	}
	return f
}

// put makes m the group at index i. A group the fleet holds in a newer
// version (a late event) is kept. It reports whether the group is new or
// its spec or metadata changed.
func (f *fleet) put(i int32, m *member) bool {
	old := f.members[i]
	if old != nil {
		if old.g != nil && m.g != nil && old.g.UID == m.g.UID {
			if c, err := resourceversion.CompareResourceVersion(m.g.ResourceVersion, old.g.ResourceVersion); err == nil && c < 0 {
				return false
			}
		}
		f.count(i, old, -1)
	}
	f.members[i] = m
	f.count(i, m, 1)
	changed := old == nil || old.meta != m.meta || (old.g != nil && m.g != nil && old.g.UID != m.g.UID)
	if changed {
		f.dirty.add(i)
	}
	return changed
}

// remove drops the group at index i, if it is the one with uid ("" for
// any).
func (f *fleet) remove(i int32, uid string) {
	old := f.members[i]
	if old == nil || (uid != "" && old.g != nil && string(old.g.UID) != uid) {
		return
	}
	f.count(i, old, -1)
	delete(f.members, i)
	f.dirty.remove(i)
	f.written.remove(i)
}

// count adds (sign 1) or takes away (-1) the group m at index i.
func (f *fleet) count(i int32, m *member, sign int32) {
	switch m.phase {
	case rbgsv1.PhasePending:
		f.phases.Pending += sign
	case rbgsv1.PhaseProgressing:
		f.phases.Progressing += sign
	case rbgsv1.PhaseRunning:
		f.phases.Running += sign
	case rbgsv1.PhaseDegraded:
		f.phases.Degraded += sign
	case rbgsv1.PhaseFailed:
		f.phases.Failed += sign
	}
	mark(&f.present, i, sign)
	if m.phase != rbgsv1.PhaseRunning {
		mark(&f.notRunning, i, sign)
	}
	f.countView(i, m, sign)
}

// countView counts what of m at index i depends on the view.
func (f *fleet) countView(i int32, m *member, sign int32) {
	v, st, b := f.v, m.state, &f.below
	if i >= v.replicas {
		return
	}
	b.present += sign
	if st.ready {
		b.ready += sign
	}
	outdated := st.outdated(v.updateRevision)
	if i >= v.partition {
		b.tail += sign
		if outdated || !st.ready {
			b.remaining += sign
		}
	}
	if !outdated {
		b.updated += sign
		if st.started && st.moving && !st.ready {
			b.moving += sign
		}
		return
	}
	if f.outdated[st.revision] += sign; f.outdated[st.revision] == 0 {
		delete(f.outdated, st.revision)
	}
	if i < v.partition {
		mark(&f.held, i, sign)
		return
	}
	mark(&f.waiting, i, sign)
	switch {
	case st.costless():
		mark(&f.waitingCostless, i, sign)
	case st.ready:
		mark(&f.waitingReady, i, sign)
	}
}

// mark adds i to s (sign 1) or takes it out (-1).
func mark(s *indexSet, i int32, sign int32) {
	if sign > 0 {
		s.add(i)
	} else {
		s.remove(i)
	}
}

// setView counts the view-dependent counts for v, afresh when it changed.
func (f *fleet) setView(v view) {
	if v == f.v {
		return
	}
	f.v, f.below, f.outdated = v, belowCounts{}, map[string]int32{}
	f.held, f.waiting, f.waitingCostless, f.waitingReady = indexSet{}, indexSet{}, indexSet{}, indexSet{}
	for i, m := range f.members {
		f.countView(i, m, 1)
	}
}

// group is the group at index i, nil when absent.
func (f *fleet) group(i int32) *rbgsv1.RoleBasedGroup {
	if m := f.members[i]; m != nil {
		return m.g
	}
	return nil
}

// lowestAt is the group of lowest index at revision rev, nil when none
// is.
func (f *fleet) lowestAt(rev string) *rbgsv1.RoleBasedGroup {
	var found *rbgsv1.RoleBasedGroup
	f.present.ascend(0, func(i int32) bool {
		if m := f.members[i]; m.state.revision == rev {
			found = m.g
			return false
		}
		return true
	})
	return found
}

// currentRevision is the revision the groups not updated yet run (for
// view v): the one the set reported before (prev), while some group still
// runs it (a second edit during a rollout does not change it), else the
// one most outdated groups run (ties to the smaller hash), else the
// update revision.
func (f *fleet) currentRevision(prev string, v view) string {
	f.setView(v)
	if len(f.outdated) == 0 {
		return v.updateRevision
	}
	if f.outdated[prev] > 0 {
		return prev
	}
	revs := slices.Collect(maps.Keys(f.outdated))
	slices.SortFunc(revs, func(a, b string) int { return cmp.Or(cmp.Compare(f.outdated[b], f.outdated[a]), cmp.Compare(a, b)) })
	return revs[0]
}

// groupList is the bounded list of the set's groups for its status (see
// boundGroups), under rollout r with surge surge groups, and how many it
// leaves out: at most MaxGroupStatuses, those not Running first, read in
// index order without a pass over the others.
func (f *fleet) groupList(r rollout, surge int32) ([]rbgsv1.GroupStatus, int32) {
	limit := rbgsv1.MaxGroupStatuses
	ix := make([]int32, 0, min(len(f.members), limit))
	take := func(i int32) bool {
		ix = append(ix, i)
		return len(ix) < limit
	}
	if len(f.members) > limit {
		f.notRunning.ascend(0, take)
		if len(ix) < limit {
			f.present.ascend(0, func(i int32) bool { return f.notRunning.has(i) || take(i) })
		}
		slices.Sort(ix)
	} else {
		f.present.ascend(0, take)
	}
	out := make([]rbgsv1.GroupStatus, len(ix))
	for k, i := range ix {
		m := f.members[i]
		out[k] = rbgsv1.GroupStatus{
			GroupID: strconv.Itoa(int(i)), Name: m.g.Name, Phase: m.phase, Updated: m.state.revision == r.updateRevision,
			Surge: i >= r.replicas && i < r.replicas+surge, Roles: m.roles,
		}
	}
	return out, int32(len(f.members) - len(ix))
}
