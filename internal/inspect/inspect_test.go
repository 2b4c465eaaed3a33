package inspect

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/test/wrappers"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func setGroup(i string, phase rbgsv1.GroupPhase, roles ...rbgsv1.RoleStatus) *rbgsv1.RoleBasedGroup {
	g := wrappers.MakeGroup("demo-"+i, "ns").Label(rbgsv1.LabelSetName, "demo").Label(rbgsv1.LabelGroupIndex, i).
		Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	g.Status = rbgsv1.RoleBasedGroupStatus{Phase: phase, Roles: roles}
	for _, r := range roles {
		if r.ReadyReplicas == r.Replicas {
			g.Status.ReadyRoles++
		}
	}
	return g
}

func TestStatusTree(t *testing.T) {
	s := wrappers.MakeSet("demo", "ns").Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	s.Status = rbgsv1.RoleBasedGroupSetStatus{Phase: rbgsv1.PhaseProgressing, ReadyGroups: 1, UpdatedGroups: 2, UpdateRevision: "abc"}
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "ns"},
		Regarding:  corev1.ObjectReference{Kind: "RoleBasedGroup", Name: "demo-1"},
		EventTime:  metav1.NewMicroTime(now.Add(-90 * time.Second)), Type: "Normal", Reason: "RoleStarted",
		Note: "created the workload of role prefill", ReportingController: "rbgs", ReportingInstance: "x", Action: "Create",
	}
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(s, ev,
		// Listed out of order: the tree follows the group index.
		setGroup("1", rbgsv1.PhasePending, rbgsv1.RoleStatus{Role: "prefill", Replicas: 2, ReadyReplicas: 1},
			rbgsv1.RoleStatus{Role: "decode", Replicas: 2, WaitingFor: []string{"prefill"}}),
		setGroup("0", rbgsv1.PhaseRunning, rbgsv1.RoleStatus{Role: "prefill", Replicas: 2, ReadyReplicas: 2},
			rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 2, WaitsFor: "prefill"}),
	).Build()
	var out bytes.Buffer
	if err := Status(context.Background(), c, "ns", "demo", Printer{W: &out, Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `RoleBasedGroupSet ns/demo  Progressing  groups 1/2 ready, 2/2 updated (revision abc)
├── demo-0  Running  roles 2/2 ready
│   ├── prefill  2/2 pods ready
│   └── decode   2/2 pods ready  updating within maxSkew of prefill
└── demo-1  Pending  roles 0/2 ready
    ├── prefill  1/2 pods ready
    ├── decode   0/2 pods ready  waiting for prefill
    └── last event: Normal RoleStarted: created the workload of role prefill (90s ago)
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status tree (-want +got):\n%s", diff)
	}

	out.Reset()
	if err := Status(context.Background(), c, "ns", "demo-0", Printer{W: &out, Now: now, Color: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "demo-0  \x1b[32mRunning\x1b[0m") {
		t.Errorf("a group by name, in colour: %q", out.String())
	}
	if err := Status(context.Background(), c, "ns", "nothing", Printer{W: &out}); err == nil ||
		!strings.Contains(err.Error(), "no RoleBasedGroupSet or RoleBasedGroup ns/nothing") {
		t.Errorf("unknown name: %v", err)
	}
}

// rolloutFixture is set demo of 4 groups rolling out from revision def to
// abc: group 3 is updated and the set's status says so; the status leaves
// out group 2, whose revision label says it is outdated.
func rolloutFixture(t *testing.T, strategy rbgsv1.RolloutStrategy) client.Client {
	t.Helper()
	s := wrappers.MakeSet("demo", "ns").Replicas(4).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	s.Spec.RolloutStrategy = strategy
	s.Status = rbgsv1.RoleBasedGroupSetStatus{
		Phase: rbgsv1.PhaseProgressing, Replicas: 4, ReadyGroups: 4, UpdatedGroups: 1, CurrentRevision: "def", UpdateRevision: "abc",
		Groups: []rbgsv1.GroupStatus{
			{GroupID: "0", Name: "demo-0", Phase: rbgsv1.PhaseRunning},
			{GroupID: "1", Name: "demo-1", Phase: rbgsv1.PhaseRunning},
			{GroupID: "3", Name: "demo-3", Phase: rbgsv1.PhaseRunning, Updated: true},
		},
		GroupsOmitted: 1,
	}
	objs := []client.Object{s}
	for i, rev := range []string{"def", "def", "def", "abc"} {
		g := setGroup(strconv.Itoa(i), rbgsv1.PhaseRunning, rbgsv1.RoleStatus{Role: "prefill", Replicas: 2, ReadyReplicas: 2},
			rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 2})
		g.Labels[rbgsv1.LabelGroupRevision] = rev
		objs = append(objs, g)
	}
	return fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(objs...).Build()
}

func TestStatusTreeRollout(t *testing.T) {
	groups := `├── demo-0  Running  roles 2/2 ready  outdated (revision def)
│   ├── prefill  2/2 pods ready
│   └── decode   2/2 pods ready
├── demo-1  Running  roles 2/2 ready  outdated (revision def)
│   ├── prefill  2/2 pods ready
│   └── decode   2/2 pods ready
├── demo-2  Running  roles 2/2 ready  outdated (revision def)
│   ├── prefill  2/2 pods ready
│   └── decode   2/2 pods ready
└── demo-3  Running  roles 2/2 ready
    ├── prefill  2/2 pods ready
    └── decode   2/2 pods ready
`
	for _, tc := range []struct {
		name     string
		strategy rbgsv1.RolloutStrategy
		rollout  string
	}{
		{"under way", rbgsv1.RolloutStrategy{}, "rollout: 1/4 groups at revision abc (from def): groups 0-2 wait"},
		{"paused", rbgsv1.RolloutStrategy{Paused: true}, "rollout: 1/4 groups at revision abc (from def), paused: groups 0-2 wait"},
		{"partitioned and paused", rbgsv1.RolloutStrategy{Paused: true, Partition: new(int32(3))},
			"rollout: 1/4 groups at revision abc (from def), partition 3, paused: groups 0-2 wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := Status(context.Background(), rolloutFixture(t, tc.strategy), "ns", "demo", Printer{W: &out, Now: now}); err != nil {
				t.Fatal(err)
			}
			want := "RoleBasedGroupSet ns/demo  Progressing  groups 4/4 ready, 1/4 updated (revision abc)\n  " + tc.rollout + "\n" + groups
			if diff := cmp.Diff(want, out.String()); diff != "" {
				t.Errorf("status tree (-want +got):\n%s", diff)
			}
		})
	}

	var out bytes.Buffer
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(
		func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet("demo", "ns").Replicas(2).Obj()
			s.Status = rbgsv1.RoleBasedGroupSetStatus{Phase: rbgsv1.PhaseRunning, Replicas: 2, ReadyGroups: 2, UpdatedGroups: 1, CurrentRevision: "def", UpdateRevision: "abc",
				Groups: []rbgsv1.GroupStatus{{GroupID: "0", Name: "demo-0", Updated: true}, {GroupID: "1", Name: "demo-1"}}}
			return s
		}(), setGroup("0", rbgsv1.PhaseRunning), setGroup("1", rbgsv1.PhaseRunning)).Build()
	if err := Status(context.Background(), c, "ns", "demo", Printer{W: &out, Now: now}); err != nil {
		t.Fatal(err)
	}
	if want := "  rollout: 1/2 groups at revision abc (from def): group 1 waits\n"; !strings.Contains(out.String(), want) {
		t.Errorf("one waiting group: want %q in\n%s", want, out.String())
	}
}

func TestStatusData(t *testing.T) {
	s := wrappers.MakeSet("demo", "ns").Replicas(1).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	s.Spec.RolloutStrategy.Paused = true
	s.Status = rbgsv1.RoleBasedGroupSetStatus{Phase: rbgsv1.PhaseProgressing, Replicas: 1, ReadyGroups: 0, UpdatedGroups: 0,
		CurrentRevision: "def", UpdateRevision: "abc", Groups: []rbgsv1.GroupStatus{{GroupID: "0", Name: "demo-0"}}}
	g := setGroup("0", rbgsv1.PhasePending, rbgsv1.RoleStatus{Role: "prefill", Replicas: 2, ReadyReplicas: 1},
		rbgsv1.RoleStatus{Role: "decode", Replicas: 2, WaitingFor: []string{"prefill"}})
	g.Labels[rbgsv1.LabelGroupRevision] = "def"
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "ns"},
		Regarding:  corev1.ObjectReference{Kind: "RoleBasedGroup", Name: "demo-0"},
		EventTime:  metav1.NewMicroTime(now.Add(-90 * time.Second)), Type: "Warning", Reason: "GroupDegraded",
		Note: "role prefill: 1/2 pods ready", ReportingController: "rbgs", ReportingInstance: "x", Action: "Update",
	}
	alone := wrappers.MakeGroup("alone", "ns").Role("a", 1).Obj()
	alone.Status = rbgsv1.RoleBasedGroupStatus{Phase: rbgsv1.PhaseRunning, ReadyRoles: 1, Restarts: 2,
		Roles: []rbgsv1.RoleStatus{{Role: "a", Replicas: 1, ReadyReplicas: 1}}}
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(s, g, ev, alone).Build()

	r, err := Load(context.Background(), c, "ns", "demo")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Encode(&out, r, FormatJSON); err != nil {
		t.Fatal(err)
	}
	want := `{
  "kind": "RoleBasedGroupSet",
  "name": "demo",
  "namespace": "ns",
  "phase": "Progressing",
  "replicas": 1,
  "readyGroups": 0,
  "updatedGroups": 0,
  "currentRevision": "def",
  "updateRevision": "abc",
  "rollout": {
    "paused": true,
    "partition": 0,
    "maxUnavailable": 1,
    "waitingGroups": [
      0
    ]
  },
  "groups": [
    {
      "name": "demo-0",
      "index": 0,
      "phase": "Pending",
      "updated": false,
      "revision": "def",
      "readyRoles": 0,
      "roles": [
        {
          "role": "prefill",
          "replicas": 2,
          "readyReplicas": 1
        },
        {
          "role": "decode",
          "replicas": 2,
          "readyReplicas": 0,
          "waitingFor": [
            "prefill"
          ]
        }
      ],
      "lastEvent": {
        "type": "Warning",
        "reason": "GroupDegraded",
        "note": "role prefill: 1/2 pods ready",
        "time": "2026-01-01T11:58:30Z"
      }
    }
  ]
}
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("set as JSON (-want +got):\n%s", diff)
	}

	// YAML carries the same data: it reads back to the same report.
	out.Reset()
	if err := Encode(&out, r, FormatYAML); err != nil {
		t.Fatal(err)
	}
	var back SetReport
	if err := yaml.UnmarshalStrict(out.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("set read back from YAML (-want +got):\n%s", diff)
	}

	r, err = Load(context.Background(), c, "ns", "alone")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Encode(&out, r, FormatYAML); err != nil {
		t.Fatal(err)
	}
	wantYAML := `kind: RoleBasedGroup
name: alone
namespace: ns
phase: Running
readyRoles: 1
restarts: 2
roles:
- readyReplicas: 1
  replicas: 1
  role: a
`
	if diff := cmp.Diff(wantYAML, out.String()); diff != "" {
		t.Errorf("group as YAML (-want +got):\n%s", diff)
	}
	if err := Encode(&out, r, "wide"); err == nil {
		t.Error("format wide: no error")
	}
}

// renderedClient serves group g and the objects the operator renders for
// it.
func renderedClient(g *rbgsv1.RoleBasedGroup) client.Client {
	objs := group.Render(g)
	all := append([]client.Object{g}, objs.ConfigMaps...)
	for _, r := range g.Spec.Roles {
		all = append(all, objs.Roles[r.Role]...)
	}
	return fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(all...).Build()
}

func TestPodConfig(t *testing.T) {
	g := setGroup("0", rbgsv1.PhaseRunning)
	c := renderedClient(g)
	var out bytes.Buffer
	if err := PodConfig(context.Background(), c, "ns", "demo", "0", "decode", 1, nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# pod demo-0-decode-1: /etc/rbgs/cluster.yaml (ConfigMap demo-0-rbgs-cluster, key decode.1.yaml)\n",
		"  local:\n    role: \"decode\"\n    rank: 1\n",
		"RBGS_LOCAL_RANK=1\n", "RBGS_LOCAL_ROLE=decode\n", "RBGS_GROUP_INDEX=0\n",
		"RBGS_ROLES_PREFILL_1_ADDRESS=demo-0-prefill-1.demo-0-prefill:8080\n", "RBGS_ROLES_DECODE_REPLICAS=2\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	for _, bad := range []struct {
		group, role string
		rank        int32
		err         string
	}{
		{"0", "router", 0, `group demo-0 has no role "router" (roles: prefill, decode)`},
		{"0", "decode", 2, "role decode has 2 instances: rank must be 0..1"},
		{"7", "decode", 0, "group demo-7"},
	} {
		if err := PodConfig(context.Background(), c, "ns", "demo", bad.group, bad.role, bad.rank, nil, &out); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s/%s/%d: got %v, want %q", bad.group, bad.role, bad.rank, err, bad.err)
		}
	}
}

// A role of size > 1 shows its instances and pods; config takes a worker
// index and resolves the pod's own file, instance and leader.
func TestMultiPodRole(t *testing.T) {
	g := wrappers.MakeGroup("mn", "ns").Role("router", 1).Role("decode", 2, "router").Size(4).Obj()
	g.Status = rbgsv1.RoleBasedGroupStatus{Phase: rbgsv1.PhaseProgressing, Roles: []rbgsv1.RoleStatus{
		{Role: "router", Replicas: 1, ReadyReplicas: 1},
		{Role: "decode", Replicas: 2, ReadyReplicas: 1, Size: 4, ReadyPods: 6},
	}}
	c := renderedClient(g)
	var out bytes.Buffer
	if err := Status(context.Background(), c, "ns", "mn", Printer{W: &out, Now: now}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "decode  1/2 instances ready (4 pods each, 6/8 pods)") {
		t.Errorf("status tree:\n%s", out.String())
	}
	out.Reset()
	if err := PodConfig(context.Background(), c, "ns", "", "mn", "decode", 1, new(int32(3)), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# pod mn-decode-1-3: /etc/rbgs/cluster.yaml (ConfigMap mn-rbgs-cluster-decode-1, key decode.1.3.yaml)\n",
		"    rank: 1\n    workerIndex: 3\n    size: 4\n    leaderAddress: \"mn-decode-1-0.mn-decode:8080\"\n",
		"RBGS_LOCAL_RANK=1\n", "RBGS_LOCAL_WORKER_INDEX=3\n", "LWS_WORKER_INDEX=3\n", "LWS_LEADER_ADDRESS=mn-decode-1-0.mn-decode\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
	for _, bad := range []struct {
		role   string
		worker int32
		err    string
	}{
		{"decode", 4, "instances of role decode have 4 pods: the worker index must be 0..3"},
		{"router", 1, "instances of role router have 1 pods: the worker index must be 0..0"},
	} {
		if err := PodConfig(context.Background(), c, "ns", "", "mn", bad.role, 0, &bad.worker, &out); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s worker %d: %v, want %q", bad.role, bad.worker, err, bad.err)
		}
	}
}

// A gang that cannot be placed shows under its group, with the scheduler's
// word; a placed one shows nothing.
func TestGangsLine(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 2).Size(2).Obj()
	g.Status = rbgsv1.RoleBasedGroupStatus{Phase: rbgsv1.PhasePending, Roles: []rbgsv1.RoleStatus{{Role: "decode", Replicas: 2, Size: 2}}}
	const msg = "instance 1 of role decode (PodGroup g-decode-1) cannot be placed: 0/2 nodes are available: 2 Insufficient nvidia.com/gpu"
	for _, tc := range []struct {
		status metav1.ConditionStatus
		want   string
	}{
		{metav1.ConditionFalse, "└── gangs: " + msg + "\n"},
		{metav1.ConditionTrue, ""},
	} {
		g.Status.Conditions = []metav1.Condition{{Type: rbgsv1.ConditionGangsScheduled, Status: tc.status, Reason: "Unschedulable", Message: msg}}
		c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g.DeepCopy()).Build()
		var out bytes.Buffer
		if err := Status(context.Background(), c, "ns", "g", Printer{W: &out, Now: now}); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); tc.want != "" && !strings.Contains(got, "├── decode") || !strings.Contains(got, tc.want) ||
			tc.want == "" && strings.Contains(got, "gangs:") {
			t.Errorf("%s: status tree:\n%s", tc.status, got)
		}
	}
}

// A role a RoleScaler drives says so, in every group of the set; a
// duplicate RoleScaler, which drives nothing, is not shown.
func TestScaledRoles(t *testing.T) {
	s := wrappers.MakeSet("demo", "ns").Replicas(1).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	scaler := func(name, role, reason string) *rbgsv1.RoleScaler {
		return &rbgsv1.RoleScaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
			Spec:       rbgsv1.RoleScalerSpec{TargetRef: rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetSet, Name: "demo"}, Role: role, Replicas: 2},
			Status:     rbgsv1.RoleScalerStatus{Conditions: []metav1.Condition{{Type: rbgsv1.ConditionReady, Reason: reason}}},
		}
	}
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(s,
		setGroup("0", rbgsv1.PhaseRunning, rbgsv1.RoleStatus{Role: "prefill", Replicas: 2, ReadyReplicas: 2},
			rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 2}),
		scaler("demo-decode", "decode", rbgsv1.ReasonScaled), scaler("demo-decode-2", "decode", rbgsv1.ReasonDuplicate),
		scaler("demo-prefill-2", "prefill", rbgsv1.ReasonDuplicate)).Build()
	r, err := Load(context.Background(), c, "ns", "demo")
	if err != nil {
		t.Fatal(err)
	}
	roles := r.(*SetReport).Groups[0].Roles
	if roles[0].ScaledBy != "" || roles[1].ScaledBy != "demo-decode" {
		t.Errorf("scaled by %q and %q, want none and demo-decode", roles[0].ScaledBy, roles[1].ScaledBy)
	}
	var out bytes.Buffer
	Printer{W: &out, Now: now}.Print(r)
	if !strings.Contains(out.String(), "decode   2/2 pods ready  scaled by rolescaler/demo-decode\n") {
		t.Errorf("status tree:\n%s", out.String())
	}
}

// A group of a set that has not written a status yet (its first start is
// routine) says it is starting, with no counts it cannot know.
func TestGroupWithoutStatus(t *testing.T) {
	g := wrappers.MakeGroup("fleet-3", "ns").Role("prefill", 2).Role("decode", 1, "prefill").Size(4).Obj()
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(g).Build()
	var out bytes.Buffer
	if err := Status(context.Background(), c, "ns", "fleet-3", Printer{W: &out, Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `fleet-3  Pending (starting, no status yet)  roles 0/2 ready
├── prefill  2 pods starting
└── decode   4 pods starting
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("status tree (-want +got):\n%s", diff)
	}
}
