package group

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/test/wrappers"
)

var t0 = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

// A group's life: created, prefill starting, prefill ready, decode ready
// (Running), prefill loses pods (Degraded), recovers (Running), then its
// spec changes (Progressing, not Degraded), a pod fails while it updates
// (still Progressing), and it is Running again.
func TestStatusThroughALifetime(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	ready := roleState{exists: true, ready: true, readyReplicas: 2}
	steps := []struct {
		generation int64
		states     map[string]roleState
		phase      rbgsv1.GroupPhase
		reason     string
		message    string
	}{
		{1, map[string]roleState{}, rbgsv1.PhasePending, ReasonStarting,
			"roles not ready: prefill (0/2 ready), decode (waiting for prefill)"},
		{1, map[string]roleState{"prefill": {exists: true, readyReplicas: 1}}, rbgsv1.PhasePending, ReasonStarting,
			"roles not ready: prefill (1/2 ready), decode (waiting for prefill)"},
		{1, map[string]roleState{"prefill": ready, "decode": {exists: true}}, rbgsv1.PhasePending, ReasonStarting,
			"roles not ready: decode (0/2 ready)"},
		{1, map[string]roleState{"prefill": ready, "decode": ready}, rbgsv1.PhaseRunning, ReasonAllRolesReady, "every role is ready"},
		{1, map[string]roleState{"prefill": {exists: true, readyReplicas: 1}, "decode": ready}, rbgsv1.PhaseDegraded, ReasonRoleUnready,
			"roles not ready: prefill (1/2 ready)"},
		{1, map[string]roleState{"prefill": {exists: true}, "decode": ready}, rbgsv1.PhaseDegraded, ReasonRoleUnready,
			"roles not ready: prefill (0/2 ready)"},
		{1, map[string]roleState{"prefill": ready, "decode": ready}, rbgsv1.PhaseRunning, ReasonAllRolesReady, "every role is ready"},
		{2, map[string]roleState{"prefill": {exists: true, readyReplicas: 2}, "decode": ready}, rbgsv1.PhaseProgressing, ReasonUpdating,
			"roles not ready: prefill (updating)"},
		{2, map[string]roleState{"prefill": {exists: true, readyReplicas: 1}, "decode": ready}, rbgsv1.PhaseProgressing, ReasonUpdating,
			"roles not ready: prefill (1/2 ready)"},
		{2, map[string]roleState{"prefill": ready, "decode": ready}, rbgsv1.PhaseRunning, ReasonAllRolesReady, "every role is ready"},
	}
	for i, s := range steps {
		g.Generation = s.generation
		st := statusOf(g, s.states, t0)
		g.Status = st
		c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady)
		wantReady := metav1.ConditionFalse
		if s.phase == rbgsv1.PhaseRunning {
			wantReady = metav1.ConditionTrue
		}
		if st.Phase != s.phase || c.Status != wantReady || c.Reason != s.reason || c.Message != s.message || c.ObservedGeneration != s.generation {
			t.Errorf("step %d: phase %s, Ready %s/%s %q (gen %d); want %s, %s/%s %q",
				i, st.Phase, c.Status, c.Reason, c.Message, c.ObservedGeneration, s.phase, wantReady, s.reason, s.message)
		}
		p := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionProgressing)
		wantProgressing := metav1.ConditionFalse
		if s.phase == rbgsv1.PhasePending || s.phase == rbgsv1.PhaseProgressing {
			wantProgressing = metav1.ConditionTrue
		}
		if p.Status != wantProgressing || p.Reason != s.reason {
			t.Errorf("step %d: Progressing %s/%s, want %s/%s", i, p.Status, p.Reason, wantProgressing, s.reason)
		}
		if st.Conditions[0].Type != rbgsv1.ConditionReady {
			t.Errorf("step %d: conditions out of order: %v", i, st.Conditions)
		}
	}
}

func TestStatusRoles(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(3).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	states := map[string]roleState{"prefill": {exists: true, readyReplicas: 1, updatedReplicas: 2}}
	st := statusOf(g, states, t0)
	want := []rbgsv1.RoleStatus{
		{Role: "prefill", Replicas: 2, ReadyReplicas: 1, UpdatedReplicas: 2},
		{Role: "decode", Replicas: 2, WaitingFor: []string{"prefill"}},
	}
	if diff := cmp.Diff(want, st.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
	if st.ObservedGeneration != 3 || st.DesiredRoles != 2 || st.ReadyRoles != 0 {
		t.Errorf("status %+v", st)
	}
}

// The transition time of a condition moves only when its status does.
func TestStatusKeepsTransitionTimes(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("a", 1).Obj()
	s := map[string]roleState{"a": {exists: true}}
	g.Status = statusOf(g, s, t0)
	later := metav1.NewTime(t0.Add(time.Minute))
	s = map[string]roleState{"a": {exists: true, readyReplicas: 0}}
	st := statusOf(g, s, later)
	if c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady); !c.LastTransitionTime.Equal(&t0) {
		t.Errorf("Ready moved to %v without a status change", c.LastTransitionTime)
	}
}

func TestFailedStatus(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(4).Role("a", 1, "a").Obj()
	st := failedStatus(g, errors.New("roles: role a depends on itself"), t0)
	c := apimeta.FindStatusCondition(st.Conditions, rbgsv1.ConditionReady)
	if st.Phase != rbgsv1.PhaseFailed || c.Reason != ReasonInvalidSpec || c.Message != "roles: role a depends on itself" || st.ObservedGeneration != 4 {
		t.Errorf("failed status %+v", st)
	}
}

// A name conflict turns Ready and Progressing False with the conflict as
// their message; a group that was Running is Degraded, one starting stays
// Pending.
func TestMarkConflict(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(2).Role("prefill", 1).Obj()
	c := &apply.ConflictError{Kind: "Service", Key: client.ObjectKey{Namespace: "ns", Name: "g-prefill"},
		Owner: &metav1.OwnerReference{Kind: "RoleBasedGroup", Name: "g"}}
	for _, tc := range []struct {
		ready bool
		want  rbgsv1.GroupPhase
	}{{true, rbgsv1.PhaseDegraded}, {false, rbgsv1.PhasePending}} {
		s := map[string]roleState{"prefill": {exists: true, ready: tc.ready, readyReplicas: 1}}
		st := statusOf(g, s, t0)
		markConflict(&st, c, g.Generation, t0)
		if st.Phase != tc.want {
			t.Errorf("ready %v: phase %s, want %s", tc.ready, st.Phase, tc.want)
		}
		for _, typ := range []string{rbgsv1.ConditionReady, rbgsv1.ConditionProgressing} {
			cond := apimeta.FindStatusCondition(st.Conditions, typ)
			if cond.Status != metav1.ConditionFalse || cond.Reason != ReasonNameConflict || cond.Message != c.Error() || cond.ObservedGeneration != 2 {
				t.Errorf("ready %v: %s condition %+v", tc.ready, typ, cond)
			}
		}
	}
}

// A group of a set records the revision it turned Running with; moving it
// to another revision leaves the record until it is Running again.
func TestStatusRunningRevision(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Label(rbgsv1.LabelGroupRevision, "r1").Role("prefill", 2).Obj()
	ready := map[string]roleState{"prefill": {exists: true, ready: true, readyReplicas: 2}}
	updating := map[string]roleState{"prefill": {exists: true, readyReplicas: 1}}
	steps := []struct {
		revision string
		states   map[string]roleState
		want     string
	}{
		{"r1", updating, ""},
		{"r1", ready, "r1"},
		{"r2", updating, "r1"},
		{"r2", ready, "r2"},
	}
	for i, s := range steps {
		g.Labels[rbgsv1.LabelGroupRevision] = s.revision
		g.Status = statusOf(g, s.states, t0)
		if g.Status.RunningRevision != s.want {
			t.Errorf("step %d: runningRevision %q, want %q", i, g.Status.RunningRevision, s.want)
		}
	}
	if !significantChange(rbgsv1.RoleBasedGroupStatus{RunningRevision: "r1"}, rbgsv1.RoleBasedGroupStatus{RunningRevision: "r2"}) {
		t.Error("a new running revision waits for the status interval; the set's rollout waits for it")
	}
}
