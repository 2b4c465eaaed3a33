package group

import (
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// step is one observation of a startup and what the plan must do with it.
type step struct {
	states map[string]roleState
	start  []string            // roles whose workload is applied
	wait   map[string][]string // role -> dependencies it waits for
}

var (
	absent   = roleState{}
	starting = roleState{exists: true}
	ready    = roleState{exists: true, ready: true}
)

func runSteps(t *testing.T, g *rbgsv1.RoleBasedGroup, steps []step) {
	t.Helper()
	for i, s := range steps {
		var start []string
		wait := map[string][]string{}
		for _, p := range planRoles(g, viewsOf(g, s.states), nil) {
			if p.write {
				start = append(start, p.spec.Role)
			}
			if len(p.waitingFor) > 0 {
				wait[p.spec.Role] = p.waitingFor
			}
		}
		if s.wait == nil {
			s.wait = map[string][]string{}
		}
		if diff := cmp.Diff(s.start, start); diff != "" {
			t.Errorf("step %d: started roles (-want +got):\n%s", i, diff)
		}
		if diff := cmp.Diff(s.wait, wait); diff != "" {
			t.Errorf("step %d: waiting (-want +got):\n%s", i, diff)
		}
	}
}

func TestPlanChainStartsStrictlyInOrder(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("a", 1).Role("b", 1, "a").Role("c", 1, "b").Obj()
	runSteps(t, g, []step{
		{states: map[string]roleState{}, start: []string{"a"}, wait: map[string][]string{"b": {"a"}, "c": {"b"}}},
		{states: map[string]roleState{"a": starting}, start: []string{"a"}, wait: map[string][]string{"b": {"a"}, "c": {"b"}}},
		{states: map[string]roleState{"a": ready}, start: []string{"a", "b"}, wait: map[string][]string{"c": {"b"}}},
		{states: map[string]roleState{"a": ready, "b": starting}, start: []string{"a", "b"}, wait: map[string][]string{"c": {"b"}}},
		{states: map[string]roleState{"a": ready, "b": ready}, start: []string{"a", "b", "c"}},
	})
}

func TestPlanIndependentRolesStartTogether(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 2).Role("router", 1, "prefill", "decode").Obj()
	runSteps(t, g, []step{
		{states: map[string]roleState{}, start: []string{"prefill", "decode"}, wait: map[string][]string{"router": {"prefill", "decode"}}},
		{states: map[string]roleState{"prefill": ready, "decode": starting}, start: []string{"prefill", "decode"}, wait: map[string][]string{"router": {"decode"}}},
		{states: map[string]roleState{"prefill": ready, "decode": ready}, start: []string{"prefill", "decode", "router"}},
	})
}

func TestPlanParallelStartsEverything(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").StartupPolicy(rbgsv1.StartupParallel).Role("a", 1).Role("b", 1, "a").Obj()
	runSteps(t, g, []step{{states: map[string]roleState{}, start: []string{"a", "b"}}})
}

// A dependency that turns unready after startup neither removes nor freezes
// its dependants.
func TestPlanKeepsRunningDependants(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	runSteps(t, g, []step{
		{states: map[string]roleState{"prefill": starting, "decode": ready}, start: []string{"prefill", "decode"}},
		{states: map[string]roleState{"prefill": absent, "decode": ready}, start: []string{"prefill", "decode"}},
	})
}

// A role added to a running group waits for its dependencies like any other.
func TestPlanAddedRoleWaits(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 2, "prefill").Role("postprocess", 1, "decode").Obj()
	runSteps(t, g, []step{
		{states: map[string]roleState{"prefill": ready, "decode": starting}, start: []string{"prefill", "decode"},
			wait: map[string][]string{"postprocess": {"decode"}}},
		{states: map[string]roleState{"prefill": ready, "decode": ready}, start: []string{"prefill", "decode", "postprocess"}},
	})
}

func TestStaleObjects(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 1).Role("router", 1).Workload(rbgsv1.WorkloadDeployment).Obj()
	g.Spec.Roles = append(g.Spec.Roles, wrappers.RoleSpec("decode", 2))
	g.Spec.Roles[2].Size = new(int32(4))
	sts := statefulSets("g-prefill", "g-router", "g-old", "g-decode", "g-decode-0", "g-decode-1", "g-decode-2")
	for i, role := range []string{"prefill", "router", "old", "decode", "decode", "decode", "decode"} {
		sts[i].Labels = map[string]string{rbgsv1.LabelRole: role}
	}
	for i := 4; i < 7; i++ {
		sts[i].Labels[rbgsv1.LabelInstance] = strconv.Itoa(i - 4)
	}
	deploys := deployments("g-router", "g-prefill")
	deploys[1].Labels = map[string]string{rbgsv1.LabelRole: "prefill"}
	going := cm("g-rbgs-cluster-decode-4")
	going.DeletionTimestamp = &metav1.Time{}
	ch := &children{
		statefulSets: byName(sts),
		deployments:  byName(deploys),
		services:     byName(services("g-prefill", "g-router", "g-old", "g-decode")),
		configMaps: byName([]corev1.ConfigMap{cm("g-rbgs-cluster"), cm("g-rbgs-env"), cm("g-rbgs-cluster-decode-0"),
			cm("g-rbgs-cluster-decode-2"), cm("g-rbgs-cluster-decode-3"), going}),
	}
	tp := topology.Resolve(g)
	obs := &observation{g: g, t: tp, ch: ch}
	// The files of instance 2 linger: one of its pods is still there.
	two, one := int32(2), int32(1)
	files := discovery.Files(tp, []discovery.PodRef{{Role: "decode", Rank: &two, Worker: &one}})
	roles := planRoles(g, viewRoles(obs, &gangPlan{}), nil)
	var got []string
	for _, o := range staleObjects(obs, files, roles) {
		got = append(got, o.kind+" "+o.obj.GetName()+": "+o.why)
	}
	slices.Sort(got)
	// The StatefulSet of decode of size 1, the Deployment of prefill and
	// the StatefulSet of router are their roles' former layouts, which
	// their moves remove; a ConfigMap being deleted is left to finish.
	want := []string{"ConfigMap g-rbgs-cluster-decode-3: no pod reads it any more", "Service g-old: its role left the spec",
		"StatefulSet g-decode-2: its instance was scaled away", "StatefulSet g-old: its role left the spec"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stale (-want +got):\n%s", diff)
	}
	for _, r := range roles {
		if len(r.old) != 1 {
			t.Errorf("role %s: former layout %+v, want its one workload of another kind or shape", r.spec.Role, r.old)
		}
	}
}

// A role whose gangs cannot be written is not started, whether or not its
// dependencies are ready, and its dependants wait for it.
func TestPlanHoldsBlockedRoles(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("a", 1).Role("b", 1).Role("c", 1, "b").Obj()
	blocked := map[string]bool{"b": true}
	for _, states := range []map[string]roleState{{}, {"a": ready, "b": ready}} {
		for _, p := range planRoles(g, viewsOf(g, states), blocked) {
			if want := p.spec.Role == "b"; p.blocked != want {
				t.Errorf("states %v: role %s blocked %v", states, p.spec.Role, p.blocked)
			}
			if p.spec.Role == "b" && (p.write || p.state.ready || p.state.serving) {
				t.Errorf("states %v: a blocked role is written or ready: %+v", states, p)
			}
			if p.spec.Role == "a" && !p.write {
				t.Errorf("states %v: a role without gangs does not start", states)
			}
		}
	}
	for _, p := range planRoles(g, viewsOf(g, map[string]roleState{"a": ready}), blocked) {
		if p.spec.Role == "c" && (p.write || len(p.waitingFor) != 1) {
			t.Errorf("dependant of a blocked role: %+v", p)
		}
	}
}
