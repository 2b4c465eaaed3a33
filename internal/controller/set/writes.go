package set

import (
	"fmt"
	"sync"

	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// groupWrite is one group to write: the group at index, live from the
// cache (nil when absent), intent what its desired state depends on (see
// apply.Memo), build that state, called only when needed.
type groupWrite struct {
	index  int32
	intent string
	live   client.Object
	build  func() client.Object
}

// planWrites plans the writes of the groups of f that moves (see planSet)
// creates or keeps, surge groups included, at the update revision of ro
// while current is the revision of the groups not updated yet. A group at
// the update revision, or moved to it now, gets the set's template; one
// the rollout has not reached keeps its roles and templates and takes the
// set's counts (see scaledSpec); a group created where the rollout does
// not reach (below the partition, or while paused) runs the current
// revision, with the roles of a group that runs it.
//
// It returns the writes and what they are for (intent): while f was last
// written for the same intent, only the groups created, moved and dirty
// (changed by someone since) are compared, not every group. It takes the
// dirty groups from f.
func planWrites(s *rbgsv1.RoleBasedGroupSet, f *fleet, moves setPlan, ro rollout, current string) ([]groupWrite, string) {
	counts := replicaCounts(s)
	updated := sync.OnceValue(func() rbgsv1.RoleBasedGroupSpec { return updatedSpec(s) })
	updatedIntent := fmt.Sprintf("%s/%d/%s/%v", s.UID, s.Generation, ro.updateRevision, counts)
	currentGroup := sync.OnceValue(func() *rbgsv1.RoleBasedGroup {
		if current == ro.updateRevision {
			return nil
		}
		return f.lowestAt(current)
	})
	members, moving := ro.replicas+moves.surge, indicesOf(moves.update)
	var out []groupWrite
	add := func(i int32, live *rbgsv1.RoleBasedGroup) {
		// base is the group whose roles and templates a group not moved
		// to the update revision keeps. A surge group starts at the
		// update revision.
		base := live
		if live == nil && i < ro.replicas && (ro.paused || i < ro.partition) {
			base = currentGroup()
		}
		w := groupWrite{index: i, live: live}
		if base == nil || base.Labels[rbgsv1.LabelGroupRevision] == ro.updateRevision || moving.has(i) {
			w.intent, w.build = updatedIntent, func() client.Object { return desiredGroup(s, i, ro.updateRevision, updated()) }
		} else {
			old := base.Labels[rbgsv1.LabelGroupRevision]
			w.intent = fmt.Sprintf("%s/%d/%s/%d/%v", s.UID, s.Generation, old, base.Generation, counts)
			w.build = func() client.Object { return desiredGroup(s, i, old, scaledSpec(s, base)) }
		}
		if live == nil {
			// A nil pointer is no object to the writer.
			w.live = nil
		}
		out = append(out, w)
	}
	for _, i := range moves.create {
		add(i, nil)
	}
	intent := updatedIntent + "/" + current
	candidates := &f.present
	if f.intent == intent {
		candidates = &f.dirty
		for _, i := range moves.update {
			candidates.add(i)
		}
	}
	candidates.ascend(0, func(i int32) bool {
		if i >= members {
			return false
		}
		if g := f.group(i); g != nil {
			add(i, g)
		}
		return true
	})
	f.dirty = indexSet{}
	return out, intent
}

// replicaCounts lists the replicas of the roles of s's template, which
// its RoleScalers may change without a new generation of s.
func replicaCounts(s *rbgsv1.RoleBasedGroupSet) []int32 {
	out := make([]int32, len(s.Spec.GroupTemplate.Roles))
	for i := range s.Spec.GroupTemplate.Roles {
		out[i] = s.Spec.GroupTemplate.Roles[i].ReplicasOrDefault()
	}
	return out
}
