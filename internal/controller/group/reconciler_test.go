package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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
	statusOf := func(s map[string]roleState) rbgsv1.RoleBasedGroupStatus {
		return computeStatus(g, s, planRoles(g, s, nil), t0)
	}
	step := func(name string, s map[string]roleState, wantWrites int, wantRequeue time.Duration) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		res, err := r.writeStatus(ctx, g, statusOf(s), nil, nil)
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
		if _, err := r.writeStatus(ctx, g, computeStatus(g, s, planRoles(g, s, nil), t0), []string{"decode"}, nil); err != nil {
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
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).WithStatusSubresource(g).
		WithInterceptorFuncs(wrappers.StatusConflicts(1, nil)).Build()
	clk := clocktesting.NewFakeClock(t0.Time)
	rec := events.NewFakeRecorder(10)
	r := &Reconciler{Client: c, Scheme: wrappers.Scheme(), Recorder: rec, Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk},
		Memo: apply.NewMemo()}
	ctx := context.Background()
	ready := map[string]roleState{"prefill": {exists: true, ready: true, readyReplicas: 1}}
	for attempt, wantRequeue := range []time.Duration{status.ConflictRetry, 0} {
		if err := c.Get(ctx, client.ObjectKeyFromObject(g), g); err != nil {
			t.Fatal(err)
		}
		res, err := r.writeStatus(ctx, g, computeStatus(g, ready, planRoles(g, ready, nil), t0), nil, nil)
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
}
