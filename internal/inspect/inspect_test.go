package inspect

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

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
			rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 2}),
	).Build()
	var out bytes.Buffer
	if err := Status(context.Background(), c, "ns", "demo", Printer{W: &out, Now: now}); err != nil {
		t.Fatal(err)
	}
	want := `RoleBasedGroupSet ns/demo  Progressing  groups 1/2 ready, 2/2 updated (revision abc)
├── demo-0  Running  roles 2/2 ready
│   ├── prefill  2/2 pods ready
│   └── decode   2/2 pods ready
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

func TestPodConfig(t *testing.T) {
	g := setGroup("0", rbgsv1.PhaseRunning)
	objs := group.Render(g)
	all := append([]client.Object{g}, objs.ConfigMaps...)
	for _, r := range g.Spec.Roles {
		all = append(all, objs.Roles[r.Role]...)
	}
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(all...).Build()
	var out bytes.Buffer
	if err := PodConfig(context.Background(), c, "ns", "demo", "0", "decode", 1, &out); err != nil {
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
		{"0", "decode", 2, "role decode has 2 pods: rank must be 0..1"},
		{"7", "decode", 0, "group demo-7"},
	} {
		if err := PodConfig(context.Background(), c, "ns", "demo", bad.group, bad.role, bad.rank, &out); err == nil || !strings.Contains(err.Error(), bad.err) {
			t.Errorf("%s/%s/%d: got %v, want %q", bad.group, bad.role, bad.rank, err, bad.err)
		}
	}
}
