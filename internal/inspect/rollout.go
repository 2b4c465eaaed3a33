package inspect

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// RolloutPhase is where a set's rollout stands, as `kubectl rbgs rollout
// status` sees it.
type RolloutPhase string

const (
	// RolloutProgressing: the operator has not observed the spec yet, or
	// groups are still moving to the update revision or becoming ready.
	RolloutProgressing RolloutPhase = "Progressing"
	// RolloutPaused: rolloutStrategy.paused holds outdated groups back.
	RolloutPaused RolloutPhase = "Paused"
	// RolloutPartitioned: every group from rolloutStrategy.partition up runs
	// the update revision and every group is ready; the groups below keep
	// their revision.
	RolloutPartitioned RolloutPhase = "Partitioned"
	// RolloutComplete: every group runs the update revision and is ready.
	RolloutComplete RolloutPhase = "Complete"
	// RolloutFailed: a group cannot be built as specified; waiting will not
	// change that, a new spec will.
	RolloutFailed RolloutPhase = "Failed"
)

// RolloutState is a set's rollout phase and the line that tells it.
type RolloutState struct {
	Phase   RolloutPhase
	Message string
}

// Done reports whether the rollout went as far as the spec lets it:
// complete, or complete up to the partition.
func (r RolloutState) Done() bool {
	return r.Phase == RolloutComplete || r.Phase == RolloutPartitioned
}

// Rollout says where the rollout of set s stands, from its spec and status
// alone:
//
//   - until status.observedGeneration reaches metadata.generation, the
//     status describes an older spec: Progressing;
//   - a Failed set: Failed;
//   - updatedGroups, readyGroups and replicas (the groups that exist) all
//     equal spec.replicas: Complete;
//   - the Progressing condition, at the current generation, says
//     RolloutPartitioned and every group is ready: Partitioned; says
//     RolloutPaused: Paused;
//   - otherwise Progressing, counting the groups updated, moving (updated
//     but not Running yet) and ready.
func Rollout(s *rbgsv1.RoleBasedGroupSet) RolloutState {
	st := &s.Status
	want := ptr.Deref(s.Spec.Replicas, 1)
	waiting := func(format string, a ...any) RolloutState {
		return RolloutState{RolloutProgressing, fmt.Sprintf("Waiting for rollout of %s to finish: ", s.Name) + fmt.Sprintf(format, a...) + "..."}
	}
	if st.ObservedGeneration < s.Generation {
		return waiting("generation %d not observed yet", s.Generation)
	}
	if st.Phase == rbgsv1.PhaseFailed {
		why := "a group cannot be built as specified"
		if c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady); c != nil && c.Message != "" {
			why = c.Message
		}
		return RolloutState{RolloutFailed, fmt.Sprintf("rollout of %s failed: %s", s.Name, why)}
	}
	if st.UpdatedGroups == want && st.ReadyGroups == want && st.Replicas == want {
		return RolloutState{RolloutComplete, fmt.Sprintf("rollout of %s complete: %s at revision %s", s.Name, groups(want), st.UpdateRevision)}
	}
	reason := ""
	if c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionProgressing); c != nil && c.ObservedGeneration == s.Generation {
		reason = c.Reason
	}
	switch {
	case reason == rbgsv1.ReasonRolloutPartitioned && st.ReadyGroups == want:
		return RolloutState{RolloutPartitioned, fmt.Sprintf("partitioned rollout of %s complete: %s at revision %s, %d below partition %d keep revision %s",
			s.Name, groups(st.UpdatedGroups), st.UpdateRevision, want-st.UpdatedGroups, ptr.Deref(s.Spec.RolloutStrategy.Partition, 0), st.CurrentRevision)}
	case reason == rbgsv1.ReasonRolloutPaused:
		return RolloutState{RolloutPaused, fmt.Sprintf("rollout of %s is paused (%d of %d groups updated): kubectl rbgs rollout resume %s",
			s.Name, st.UpdatedGroups, want, s.Name)}
	case st.UpdatedGroups < want:
		moving := 0
		for _, g := range st.Groups {
			if g.Updated && g.Phase != rbgsv1.PhaseRunning {
				moving++
			}
		}
		if moving > 0 {
			return waiting("%d of %d groups updated, %d moving", st.UpdatedGroups, want, moving)
		}
		return waiting("%d of %d groups updated", st.UpdatedGroups, want)
	case st.ReadyGroups < want:
		return waiting("%d of %d updated groups ready", st.ReadyGroups, want)
	case st.Replicas > want:
		return waiting("%d old groups pending deletion", st.Replicas-want)
	}
	return waiting("%d of %d groups created", st.Replicas, want)
}

func groups(n int32) string {
	if n == 1 {
		return "1 group"
	}
	return fmt.Sprintf("%d groups", n)
}

// IndexRanges writes ascending indices as ranges: [0 1 2 3 7 9 10] is
// "0-3, 7, 9-10".
func IndexRanges(indices []int32) string {
	var b strings.Builder
	for i := 0; i < len(indices); {
		j := i
		for j+1 < len(indices) && indices[j+1] == indices[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(int(indices[i])))
		if j > i {
			b.WriteString("-" + strconv.Itoa(int(indices[j])))
		}
		i = j + 1
	}
	return b.String()
}

// GetSet reads set namespace/name for a rollout command. A group of that
// name gets an error saying that rollouts belong to sets.
func GetSet(ctx context.Context, c client.Reader, namespace, name string) (*rbgsv1.RoleBasedGroupSet, error) {
	var s rbgsv1.RoleBasedGroupSet
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	if !apierrors.IsNotFound(err) {
		return &s, err
	}
	var g rbgsv1.RoleBasedGroup
	if gerr := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &g); gerr != nil {
		if apierrors.IsNotFound(gerr) {
			return nil, fmt.Errorf("no RoleBasedGroupSet %s/%s", namespace, name)
		}
		return nil, gerr
	}
	if set := g.Labels[rbgsv1.LabelSetName]; set != "" {
		return nil, fmt.Errorf("%s is a RoleBasedGroup of set %s: rollouts belong to RoleBasedGroupSets (kubectl rbgs rollout ... %s)", name, set, set)
	}
	return nil, fmt.Errorf("%s is a RoleBasedGroup: rollouts belong to RoleBasedGroupSets (a group on its own applies a changed spec at once)", name)
}
