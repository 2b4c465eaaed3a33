package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/metrics"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/test/wrappers"
)

// Status writes: significant changes go at once, counts alone wait for the
// interval, and nothing is written when nothing changed.
func TestWriteStatusCoalescesCounts(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	writes := 0
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).
		WithInterceptorFuncs(interceptor.Funcs{SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, o client.Object, opts ...client.SubResourceUpdateOption) error {
			writes++
			return c.SubResource(sub).Update(ctx, o, opts...)
		}}).Build()
	clk := clocktesting.NewFakeClock(t0.Time)
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: events.NewFakeRecorder(100), Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk},
		Memo: apply.NewMemo(), StatusInterval: 10 * time.Second}
	ctx := context.Background()
	status1 := func(s map[string]roleState) rbgsv1.RoleBasedGroupStatus {
		return statusOf(g, s, t0)
	}
	step := func(name string, s map[string]roleState, wantWrites int, wantRequeue time.Duration) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		res, err := r.writeStatus(ctx, g, status1(s), report{})
		if err != nil {
			t.Fatal(err)
		}
		if writes != wantWrites || res.RequeueAfter != wantRequeue {
			t.Errorf("%s: %d writes, requeue after %s; want %d, %s", name, writes, res.RequeueAfter, wantWrites, wantRequeue)
		}
	}
	starting := map[string]roleState{"prefill": {exists: true}}
	step("first status", starting, 1, 0)
	step("nothing changed", starting, 1, 0)
	clk.Step(3 * time.Second)
	oneReady := map[string]roleState{"prefill": {exists: true, readyReplicas: 1}}
	step("a pod ready while starting: counts only", oneReady, 1, startupStatusInterval-3*time.Second)
	clk.Step(startupStatusInterval)
	step("a long startup shows its counts", oneReady, 2, 0)
	running := map[string]roleState{
		"prefill": {exists: true, ready: true, readyReplicas: 2}, "decode": {exists: true, ready: true, readyReplicas: 2},
	}
	step("Running: at once", running, 3, 0)
	g.Generation = 2 // a role scales: Progressing at once
	step("new generation", map[string]roleState{"prefill": {exists: true, readyReplicas: 2}, "decode": running["decode"]}, 4, 0)
	clk.Step(time.Second)
	step("counts while Progressing wait the interval", map[string]roleState{
		"prefill": {exists: true, readyReplicas: 3}, "decode": running["decode"],
	}, 4, 9*time.Second)
}

// A group of a set says nothing while it only starts: its first status is
// Running when that comes within startupStatusInterval of its creation,
// Pending once that has passed, and anything else at once.
func TestFirstStatusOfASetGroup(t *testing.T) {
	starting := map[string]roleState{"prefill": {exists: true, readyReplicas: 1}}
	ready := roleState{exists: true, ready: true, readyReplicas: 2}
	running := map[string]roleState{"prefill": ready, "decode": ready}
	unschedulable := func(st *rbgsv1.RoleBasedGroupStatus) {
		apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: rbgsv1.ConditionGangsScheduled,
			Status: metav1.ConditionFalse, Reason: schedulingv1beta1.PodGroupReasonUnschedulable, Message: "no rack fits"})
	}
	type step struct {
		after       time.Duration // since the group's creation
		roles       map[string]roleState
		edit        func(*rbgsv1.RoleBasedGroupStatus)
		wantPhase   rbgsv1.GroupPhase // "": nothing written yet
		wantRequeue time.Duration
	}
	for _, tc := range []struct {
		name    string
		inSet   bool
		restart rbgsv1.RestartPolicy
		steps   []step
	}{
		{"a quick start writes Running alone", true, rbgsv1.RestartRecreateGroup, []step{
			{after: time.Second, roles: starting, wantRequeue: startupStatusInterval - time.Second},
			{after: 40 * time.Second, roles: starting, wantRequeue: startupStatusInterval - 40*time.Second},
			{after: 50 * time.Second, roles: running, wantPhase: rbgsv1.PhaseRunning},
		}},
		{"a long start says Pending when the interval has passed", true, "", []step{
			{after: time.Second, roles: starting, wantRequeue: startupStatusInterval - time.Second},
			{after: startupStatusInterval, roles: starting, wantPhase: rbgsv1.PhasePending},
		}},
		{"a gang that cannot be placed is told at once", true, "", []step{
			{after: time.Second, roles: starting, edit: unschedulable, wantPhase: rbgsv1.PhasePending},
		}},
		{"a standalone group says Pending at once", false, "", []step{
			{after: time.Second, roles: starting, wantPhase: rbgsv1.PhasePending},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 2).Role("decode", 2, "prefill")
			if tc.inSet {
				b = b.Label(rbgsv1.LabelSetName, "fleet")
			}
			if tc.restart != "" {
				b = b.RestartPolicy(tc.restart, 3)
			}
			g := b.Obj()
			g.CreationTimestamp = t0
			c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).Build()
			clk := clocktesting.NewFakeClock(t0.Time)
			r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: events.NewFakeRecorder(100), Clock: clk,
				Statuses: &status.Writer{Client: c, Clock: clk}, Memo: apply.NewMemo(), StatusInterval: 10 * time.Second}
			ctx := context.Background()
			for i, s := range tc.steps {
				clk.SetTime(t0.Add(s.after))
				if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
					t.Fatal(err)
				}
				next := statusOf(g, s.roles, metav1.NewTime(clk.Now()))
				if s.edit != nil {
					s.edit(&next)
				}
				res, err := r.writeStatus(ctx, g, next, report{})
				if err != nil {
					t.Fatal(err)
				}
				var stored rbgsv1.RoleBasedGroup
				if err := c.Get(ctx, client.ObjectKeyFromObject(g), &stored); err != nil {
					t.Fatal(err)
				}
				if stored.Status.Phase != s.wantPhase || res.RequeueAfter != s.wantRequeue {
					t.Errorf("step %d: phase %q, requeue after %s; want %q, %s", i, stored.Status.Phase, res.RequeueAfter, s.wantPhase, s.wantRequeue)
				}
				// The policy took effect at the creation, whenever the
				// first status is written.
				for _, rs := range stored.Status.Roles {
					if tc.restart != "" && (rs.RecreateSince == nil || !rs.RecreateSince.Equal(&t0)) {
						t.Errorf("step %d: role %s recreates since %v, want the creation %v", i, rs.Role, rs.RecreateSince, t0)
					}
				}
			}
		})
	}
}

// A group's phases, its first startup and its dependants' waits reach the
// metrics.
func TestWriteStatusRecordsMetrics(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	g.CreationTimestamp = t0
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).Build()
	m := metrics.New()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(t0.Time.Add(30 * time.Second))
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: events.NewFakeRecorder(100), Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk},
		Memo: apply.NewMemo(), Metrics: m}
	ctx := context.Background()
	ready := roleState{exists: true, ready: true, readyReplicas: 1}
	for _, s := range []map[string]roleState{{"prefill": {exists: true}}, {"prefill": ready, "decode": ready}} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		if _, err := r.writeStatus(ctx, g, statusOf(g, s, t0), report{started: []string{"decode"}}); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP rbgs_group_startup_seconds Seconds from a RoleBasedGroup's creation to its first Running.
# TYPE rbgs_group_startup_seconds histogram
rbgs_group_startup_seconds_bucket{le="1"} 0
rbgs_group_startup_seconds_bucket{le="2"} 0
rbgs_group_startup_seconds_bucket{le="5"} 0
rbgs_group_startup_seconds_bucket{le="10"} 0
rbgs_group_startup_seconds_bucket{le="20"} 0
rbgs_group_startup_seconds_bucket{le="30"} 1
rbgs_group_startup_seconds_bucket{le="60"} 1
rbgs_group_startup_seconds_bucket{le="120"} 1
rbgs_group_startup_seconds_bucket{le="300"} 1
rbgs_group_startup_seconds_bucket{le="600"} 1
rbgs_group_startup_seconds_bucket{le="1800"} 1
rbgs_group_startup_seconds_bucket{le="+Inf"} 1
rbgs_group_startup_seconds_sum 30
rbgs_group_startup_seconds_count 1
# HELP rbgs_groups RoleBasedGroups by phase.
# TYPE rbgs_groups gauge
rbgs_groups{phase="Degraded"} 0
rbgs_groups{phase="Failed"} 0
rbgs_groups{phase="Pending"} 0
rbgs_groups{phase="Progressing"} 0
rbgs_groups{phase="Running"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rbgs_group_startup_seconds", "rbgs_groups"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "rbgs_role_dependency_wait_seconds"); n != 1 {
		t.Errorf("%d role wait series, want 1 (decode)", n)
	}
}

// A status write lost to a conflict is retried shortly rather than left to
// the next event, which may never come.
func TestWriteStatusRetriesConflicts(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Generation(1).Role("prefill", 1).Obj()
	g.CreationTimestamp = metav1.NewTime(t0.Add(-10 * time.Second))
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).
		WithInterceptorFuncs(wrappers.StatusConflicts(1, nil)).Build()
	clk := clocktesting.NewFakeClock(t0.Time)
	rec := events.NewFakeRecorder(10)
	m := metrics.New()
	reg := prometheus.NewRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: rec, Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk},
		Memo: apply.NewMemo(), Metrics: m}
	ctx := context.Background()
	ready := map[string]roleState{"prefill": {exists: true, ready: true, readyReplicas: 1}}
	for attempt, wantRequeue := range []time.Duration{status.ConflictRetry, 0} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		res, err := r.writeStatus(ctx, g, statusOf(g, ready, t0), report{})
		if err != nil || res.RequeueAfter != wantRequeue {
			t.Errorf("attempt %d: requeue %s, err %v; want requeue %s", attempt, res.RequeueAfter, err, wantRequeue)
		}
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
		t.Fatal(err)
	}
	if g.Status.Phase != rbgsv1.PhaseRunning {
		t.Errorf("after the retry the status says %q", g.Status.Phase)
	}
	if n := len(rec.Events); n != 1 {
		t.Errorf("%d events; want one GroupRunning, recorded once the status was written", n)
	}
	// The first startup is counted once: by the write that persisted it.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP rbgs_group_startup_seconds Seconds from a RoleBasedGroup's creation to its first Running.
# TYPE rbgs_group_startup_seconds histogram
rbgs_group_startup_seconds_bucket{le="1"} 0
rbgs_group_startup_seconds_bucket{le="2"} 0
rbgs_group_startup_seconds_bucket{le="5"} 0
rbgs_group_startup_seconds_bucket{le="10"} 1
rbgs_group_startup_seconds_bucket{le="20"} 1
rbgs_group_startup_seconds_bucket{le="30"} 1
rbgs_group_startup_seconds_bucket{le="60"} 1
rbgs_group_startup_seconds_bucket{le="120"} 1
rbgs_group_startup_seconds_bucket{le="300"} 1
rbgs_group_startup_seconds_bucket{le="600"} 1
rbgs_group_startup_seconds_bucket{le="1800"} 1
rbgs_group_startup_seconds_bucket{le="+Inf"} 1
rbgs_group_startup_seconds_sum 10
rbgs_group_startup_seconds_count 1
`), "rbgs_group_startup_seconds"); err != nil {
		t.Error(err)
	}
}

// Whether the cluster serves PodGroups is asked at most once per interval.
func TestPodGroupAPIAsksOncePerInterval(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0.Time)
	mapper := &countingMapper{}
	a := &PodGroupAPI{Mapper: mapper, Clock: clk, Interval: time.Minute}
	for range 5 {
		if a.Served() {
			t.Fatal("served without the kind")
		}
	}
	clk.Step(time.Minute)
	a.Served()
	if mapper.asked != 2 {
		t.Errorf("asked the API server %d times over 6 reconciles in one interval and one more, want 2", mapper.asked)
	}
}

// countingMapper knows no kind, and counts how often it is asked.
type countingMapper struct {
	apimeta.RESTMapper
	asked int
}

func (m *countingMapper) RESTMapping(gk schema.GroupKind, _ ...string) (*apimeta.RESTMapping, error) {
	m.asked++
	return nil, &apimeta.NoKindMatchError{GroupKind: gk}
}
