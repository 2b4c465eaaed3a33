package inspect

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// rolloutSet is set demo of 6 groups at generation 3, its status observed
// at generation observed, with counts ready and updated (all 6 groups
// exist), revisions def -> abc, and a Progressing condition of reason at
// generation reasonGen (none when reason is "").
func rolloutSet(observed int64, ready, updated int32, reason string, reasonGen int64) *rbgsv1.RoleBasedGroupSet {
	s := wrappers.MakeSet("demo", "ns").Replicas(6).Role("a", 1).Obj()
	s.Generation = 3
	s.Status = rbgsv1.RoleBasedGroupSetStatus{
		ObservedGeneration: observed, Replicas: 6, ReadyGroups: ready, UpdatedGroups: updated,
		CurrentRevision: "def", UpdateRevision: "abc",
	}
	if reason != "" {
		s.Status.Conditions = []metav1.Condition{{Type: rbgsv1.ConditionProgressing, Status: metav1.ConditionTrue, Reason: reason, ObservedGeneration: reasonGen}}
	}
	return s
}

func TestRollout(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  *rbgsv1.RoleBasedGroupSet
		want RolloutState
	}{{
		name: "status of an older generation",
		set:  rolloutSet(2, 6, 6, "", 0),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: generation 3 not observed yet..."},
	}, {
		name: "every group updated and ready",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 6, 6, "AllGroupsReady", 3)
			s.Status.CurrentRevision = "abc"
			return s
		}(),
		want: RolloutState{RolloutComplete, "rollout of demo complete: 6 groups at revision abc"},
	}, {
		name: "a paused set whose groups are all updated is complete",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 6, 6, rbgsv1.ReasonRolloutPaused, 3)
			s.Spec.RolloutStrategy.Paused = true
			return s
		}(),
		want: RolloutState{RolloutComplete, "rollout of demo complete: 6 groups at revision abc"},
	}, {
		name: "updated but one group not ready",
		set:  rolloutSet(3, 5, 6, rbgsv1.ReasonRollingOut, 3),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 5 of 6 updated groups ready..."},
	}, {
		name: "groups moving",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 5, 2, rbgsv1.ReasonRollingOut, 3)
			s.Status.Groups = []rbgsv1.GroupStatus{
				{GroupID: "4", Name: "demo-4", Phase: rbgsv1.PhaseProgressing, Updated: true},
				{GroupID: "0", Name: "demo-0", Phase: rbgsv1.PhaseRunning},
				{GroupID: "5", Name: "demo-5", Phase: rbgsv1.PhaseRunning, Updated: true},
			}
			return s
		}(),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 2 of 6 groups updated, 1 moving..."},
	}, {
		name: "groups waiting their turn, none moving",
		set:  rolloutSet(3, 6, 2, rbgsv1.ReasonRollingOut, 3),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 2 of 6 groups updated..."},
	}, {
		name: "paused",
		set:  rolloutSet(3, 6, 2, rbgsv1.ReasonRolloutPaused, 3),
		want: RolloutState{RolloutPaused, "rollout of demo is paused (2 of 6 groups updated): kubectl rbgs rollout resume demo"},
	}, {
		name: "paused at an older generation is not paused now",
		set:  rolloutSet(3, 6, 2, rbgsv1.ReasonRolloutPaused, 2),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 2 of 6 groups updated..."},
	}, {
		name: "partitioned and every group ready",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 6, 2, rbgsv1.ReasonRolloutPartitioned, 3)
			s.Spec.RolloutStrategy.Partition = new(int32(4))
			return s
		}(),
		want: RolloutState{RolloutPartitioned, "partitioned rollout of demo complete: 2 groups at revision abc, 4 below partition 4 keep revision def"},
	}, {
		name: "partitioned but a group not ready",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 5, 2, rbgsv1.ReasonRolloutPartitioned, 3)
			s.Spec.RolloutStrategy.Partition = new(int32(4))
			return s
		}(),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 2 of 6 groups updated..."},
	}, {
		name: "scaled down, old groups still there",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 6, 6, "Scaling", 3)
			s.Status.Replicas = 8
			return s
		}(),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 2 old groups pending deletion..."},
	}, {
		name: "scaled up, groups not created yet",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 6, 6, "Scaling", 3)
			s.Spec.Replicas = new(int32(7))
			s.Status.Replicas = 6
			return s
		}(),
		want: RolloutState{RolloutProgressing, "Waiting for rollout of demo to finish: 6 of 7 groups updated..."},
	}, {
		name: "a group that cannot be built",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 5, 6, "InvalidSpec", 3)
			s.Status.Phase = rbgsv1.PhaseFailed
			s.Status.Conditions = append(s.Status.Conditions, metav1.Condition{Type: rbgsv1.ConditionReady, Status: metav1.ConditionFalse,
				Reason: "InvalidSpec", Message: "1 groups cannot be built as specified; see their status"})
			return s
		}(),
		want: RolloutState{RolloutFailed, "rollout of demo failed: 1 groups cannot be built as specified; see their status"},
	}, {
		name: "no groups wanted",
		set: func() *rbgsv1.RoleBasedGroupSet {
			s := rolloutSet(3, 0, 0, "AllGroupsReady", 3)
			s.Spec.Replicas = new(int32(0))
			s.Status.Replicas = 0
			return s
		}(),
		want: RolloutState{RolloutComplete, "rollout of demo complete: 0 groups at revision abc"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := Rollout(tc.set)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Rollout (-want +got):\n%s", diff)
			}
			if want := tc.want.Phase == RolloutComplete || tc.want.Phase == RolloutPartitioned; got.Done() != want {
				t.Errorf("Done() = %v, want %v", got.Done(), want)
			}
		})
	}
}

func TestIndexRanges(t *testing.T) {
	for _, tc := range []struct {
		in   []int32
		want string
	}{
		{nil, ""},
		{[]int32{7}, "7"},
		{[]int32{0, 1}, "0-1"},
		{[]int32{0, 1, 2, 3, 7}, "0-3, 7"},
		{[]int32{0, 2, 4, 5, 6, 9, 10}, "0, 2, 4-6, 9-10"},
	} {
		if got := IndexRanges(tc.in); got != tc.want {
			t.Errorf("IndexRanges(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGetSet(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(
		wrappers.MakeSet("demo", "ns").Obj(),
		setGroup("0", rbgsv1.PhaseRunning),
		wrappers.MakeGroup("alone", "ns").Role("a", 1).Obj(),
	).Build()
	if s, err := GetSet(context.Background(), c, "ns", "demo"); err != nil || s.Name != "demo" {
		t.Errorf("set demo: %v, %v", s, err)
	}
	for name, want := range map[string]string{
		"demo-0":  "demo-0 is a RoleBasedGroup of set demo: rollouts belong to RoleBasedGroupSets (kubectl rbgs rollout ... demo)",
		"alone":   "alone is a RoleBasedGroup: rollouts belong to RoleBasedGroupSets",
		"nothing": "no RoleBasedGroupSet ns/nothing",
	} {
		if _, err := GetSet(context.Background(), c, "ns", name); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", name, err, want)
		}
	}
}
