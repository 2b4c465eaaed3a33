package status

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func significant(prev, next rbgsv1.RoleBasedGroupStatus) bool {
	return Significant(prev.ObservedGeneration, next.ObservedGeneration, prev.Phase, next.Phase, prev.Conditions, next.Conditions)
}

// setup returns a writer on a fake API server holding one group, and
// counts of the status writes that reached it and that failed with
// conflict (the first conflicts of them).
func setup(t *testing.T, conflicts int) (*Writer, *rbgsv1.RoleBasedGroup, *clocktesting.FakeClock, *int) {
	t.Helper()
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 1).Obj()
	writes := 0
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).
		WithInterceptorFuncs(wrappers.StatusConflicts(conflicts, &writes)).Build()
	clk := clocktesting.NewFakeClock(t0)
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(g), g); err != nil {
		t.Fatal(err)
	}
	return &Writer{Client: c, Clock: clk}, g, clk, &writes
}

func write(t *testing.T, w *Writer, g *rbgsv1.RoleBasedGroup, next rbgsv1.RoleBasedGroupStatus) (bool, ctrl.Result) {
	t.Helper()
	wrote, res, err := Write(context.Background(), w, g, Change[rbgsv1.RoleBasedGroupStatus]{
		Current: &g.Status, Next: next, Significant: significant, Interval: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return wrote, res
}

func TestWriteCoalescesInsignificantChanges(t *testing.T) {
	w, g, clk, writes := setup(t, 0)
	running := rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhaseRunning, ReadyRoles: 1}
	if wrote, _ := write(t, w, g, running); !wrote || *writes != 1 || g.Status.Phase != rbgsv1.PhaseRunning {
		t.Fatalf("first status: wrote %v, %d writes, phase %s", wrote, *writes, g.Status.Phase)
	}
	if wrote, res := write(t, w, g, running); wrote || res.RequeueAfter != 0 || *writes != 1 {
		t.Errorf("nothing changed: wrote %v, requeue %s, %d writes", wrote, res.RequeueAfter, *writes)
	}
	counts := running
	counts.ReadyRoles = 0
	clk.Step(4 * time.Second)
	if wrote, res := write(t, w, g, counts); wrote || res.RequeueAfter != 6*time.Second || g.Status.ReadyRoles != 1 {
		t.Errorf("a count alone within the interval: wrote %v, requeue %s, status %+v", wrote, res.RequeueAfter, g.Status)
	}
	clk.Step(6 * time.Second)
	if wrote, _ := write(t, w, g, counts); !wrote || *writes != 2 {
		t.Errorf("a count alone after the interval: wrote %v, %d writes", wrote, *writes)
	}
	degraded := counts
	degraded.Phase = rbgsv1.PhaseDegraded
	if wrote, _ := write(t, w, g, degraded); !wrote || *writes != 3 {
		t.Errorf("a phase change right after a write: wrote %v, %d writes", wrote, *writes)
	}
}

// A write lost to a conflict asks to be retried shortly, leaves the status
// as read, and the retry writes it.
func TestWriteRetriesAConflict(t *testing.T) {
	w, g, _, writes := setup(t, 1)
	running := rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhaseRunning}
	wrote, res := write(t, w, g, running)
	if wrote || res.RequeueAfter != ConflictRetry || g.Status.Phase != "" || *writes != 0 {
		t.Fatalf("conflict: wrote %v, requeue %s, phase %q, %d writes", wrote, res.RequeueAfter, g.Status.Phase, *writes)
	}
	// The retry, from a fresh read, writes it.
	if err := w.Client.Get(context.Background(), client.ObjectKeyFromObject(g), g); err != nil {
		t.Fatal(err)
	}
	if wrote, res := write(t, w, g, running); !wrote || res.RequeueAfter != 0 || *writes != 1 {
		t.Errorf("retry: wrote %v, requeue %s, %d writes", wrote, res.RequeueAfter, *writes)
	}
}

func TestSetNotReady(t *testing.T) {
	now := metav1.NewTime(t0)
	conds := []metav1.Condition{{Type: rbgsv1.ConditionReady, Status: metav1.ConditionTrue, Reason: "AllRolesReady"}}
	SetNotReady(&conds, "InvalidSpec", "bad", 3, now)
	if len(conds) != 2 {
		t.Fatalf("conditions %+v", conds)
	}
	for _, c := range conds {
		if c.Status != metav1.ConditionFalse || c.Reason != "InvalidSpec" || c.Message != "bad" || c.ObservedGeneration != 3 {
			t.Errorf("condition %+v", c)
		}
	}
}
