package scaler

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/status"
	"github.com/openpatio/rbgs/test/wrappers"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func scalerOf(name string, kind rbgsv1.RoleScalerTargetKind, target, role string, replicas int32, created time.Time) *rbgsv1.RoleScaler {
	return &rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(created)},
		Spec:       rbgsv1.RoleScalerSpec{TargetRef: rbgsv1.RoleScalerTarget{Kind: kind, Name: target}, Role: role, Replicas: replicas},
	}
}

// groupOfSet is group i of set s, with role statuses.
func groupOfSet(s string, i string, roles ...rbgsv1.RoleStatus) *rbgsv1.RoleBasedGroup {
	g := wrappers.MakeGroup(s+"-"+i, "ns").Label(rbgsv1.LabelSetName, s).Role("prefill", 1).Role("decode", 2).Obj()
	g.Status.Roles = roles
	return g
}

func reconciler(objs ...client.Object) (*Reconciler, client.Client) {
	c := fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(objs...).
		WithStatusSubresource(&rbgsv1.RoleScaler{}, &rbgsv1.RoleBasedGroup{}).WithIndex(&rbgsv1.RoleScaler{}, scaling.TargetIndex, scaling.IndexTarget).Build()
	clk := clocktesting.NewFakeClock(t0)
	return &Reconciler{Client: c, Clock: clk, Statuses: &status.Writer{Client: c, Clock: clk}}, c
}

func reconcileScaler(t *testing.T, r *Reconciler, c client.Client, name string) *rbgsv1.RoleScaler {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: client.ObjectKey{Namespace: "ns", Name: name}}); err != nil {
		t.Fatal(err)
	}
	var rs rbgsv1.RoleScaler
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: name}, &rs); err != nil {
		t.Fatal(err)
	}
	return &rs
}

func ready(rs *rbgsv1.RoleScaler) *metav1.Condition {
	return apimeta.FindStatusCondition(rs.Status.Conditions, rbgsv1.ConditionReady)
}

// A RoleScaler counts instances across its target's groups: 5 over 2
// groups is 3 each. It writes nothing but its status: the sum the groups
// run, the sum Ready, a selector of one pod per instance, and Ready once
// every group runs its share.
func TestReconcileReportsTheGroupsSum(t *testing.T) {
	set := wrappers.MakeSet("s", "ns").Replicas(2).Role("prefill", 1).Role("decode", 2).Obj()
	rs := scalerOf("s-decode", rbgsv1.TargetSet, "s", "decode", 5, t0)
	r, c := reconciler(set, rs,
		groupOfSet("s", "0", rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 2}),
		groupOfSet("s", "1", rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 1}))
	got := reconcileScaler(t, r, c, "s-decode")
	if c := ready(got); c == nil || c.Reason != rbgsv1.ReasonScaling || !strings.Contains(c.Message, "do not run 3 Ready replicas yet") {
		t.Errorf("Ready %+v", c)
	}
	if got.Status.Replicas != 4 || got.Status.ReadyReplicas != 3 || got.Status.Selector != "patio.io/rbgs-name=s,patio.io/rbgs-role=decode" {
		t.Errorf("status %+v, want the sums 4 and 3", got.Status)
	}
	var after rbgsv1.RoleBasedGroupSet
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(set), &after); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(after.Spec, set.Spec) {
		t.Errorf("the RoleScaler wrote the set: %+v", after.Spec)
	}

	// The groups run 3 each, all Ready: Scaled at 6, and a second
	// reconcile writes nothing more.
	for _, i := range []string{"0", "1"} {
		var g rbgsv1.RoleBasedGroup
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "s-" + i}, &g); err != nil {
			t.Fatal(err)
		}
		g.Status.Roles = []rbgsv1.RoleStatus{{Role: "decode", Replicas: 3, ReadyReplicas: 3}}
		if err := c.Status().Update(context.Background(), &g); err != nil {
			t.Fatal(err)
		}
	}
	got = reconcileScaler(t, r, c, "s-decode")
	if c := ready(got); c == nil || c.Status != metav1.ConditionTrue || c.Reason != rbgsv1.ReasonScaled {
		t.Errorf("Ready %+v", c)
	}
	if got.Status.Replicas != 6 || got.Status.ReadyReplicas != 6 {
		t.Errorf("status %+v", got.Status)
	}
	rv := got.ResourceVersion
	if again := reconcileScaler(t, r, c, "s-decode"); again.ResourceVersion != rv {
		t.Error("a reconcile with nothing changed wrote the status")
	}
}

// Instances of several pods are counted by their leaders.
func TestSelectorCountsLeaders(t *testing.T) {
	set := wrappers.MakeSet("s", "ns").Replicas(2).Role("decode", 2).Obj()
	set.Spec.GroupTemplate.Roles[0].Size = new(int32(4))
	rs := scalerOf("s-decode", rbgsv1.TargetSet, "s", "decode", 4, t0)
	r, c := reconciler(set, rs)
	got := reconcileScaler(t, r, c, "s-decode")
	if want := "patio.io/rbgs-name=s,patio.io/rbgs-role=decode,patio.io/rbgs-worker-index=0"; got.Status.Selector != want {
		t.Errorf("selector %q, want %q", got.Status.Selector, want)
	}
}

func TestReconcileReportsWhatItCannotDo(t *testing.T) {
	inSet := groupOfSet("s", "0")
	alone := wrappers.MakeGroup("alone", "ns").Role("decode", 1).Obj()
	older := scalerOf("a-first", rbgsv1.TargetGroup, "alone", "decode", 1, t0)
	cases := []struct {
		rs     *rbgsv1.RoleScaler
		reason string
		says   string
	}{
		{scalerOf("missing", rbgsv1.TargetSet, "nope", "decode", 1, t0), rbgsv1.ReasonTargetNotFound, "RoleBasedGroupSet nope not found"},
		{scalerOf("in-set", rbgsv1.TargetGroup, "s-0", "decode", 1, t0), rbgsv1.ReasonTargetInSet, "target the set instead (targetRef kind RoleBasedGroupSet, name s)"},
		{scalerOf("no-role", rbgsv1.TargetGroup, "alone", "router", 1, t0), rbgsv1.ReasonRoleNotFound, "RoleBasedGroup alone has no role router (roles: decode)"},
		{scalerOf("b-second", rbgsv1.TargetGroup, "alone", "decode", 3, t0.Add(time.Second)), rbgsv1.ReasonDuplicate, "RoleScaler a-first already scales role decode"},
		{scalerOf("too-many", rbgsv1.TargetGroup, "alone", "decode", 300, t0), rbgsv1.ReasonReplicasRefused,
			"cannot run role decode at 300 replicas in each of its 1 groups (300 in all)"},
	}
	for _, tc := range cases {
		t.Run(tc.rs.Name, func(t *testing.T) {
			objs := []client.Object{inSet, alone.DeepCopy(), tc.rs}
			if tc.reason == rbgsv1.ReasonDuplicate {
				objs = append(objs, older)
			}
			r, c := reconciler(objs...)
			got := reconcileScaler(t, r, c, tc.rs.Name)
			if cond := ready(got); cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != tc.reason || !strings.Contains(cond.Message, tc.says) {
				t.Errorf("Ready %+v, want %s saying %q", cond, tc.reason, tc.says)
			}
			var g rbgsv1.RoleBasedGroup
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "alone"}, &g); err != nil {
				t.Fatal(err)
			}
			if n := g.Spec.Roles[0].ReplicasOrDefault(); n != 1 {
				t.Errorf("the group's decode was scaled to %d", n)
			}
		})
	}
}

func TestRoleCounts(t *testing.T) {
	groups := []rbgsv1.RoleBasedGroup{
		*groupOfSet("s", "0", rbgsv1.RoleStatus{Role: "decode", Replicas: 3, ReadyReplicas: 3}),
		*groupOfSet("s", "1", rbgsv1.RoleStatus{Role: "decode", Replicas: 2, ReadyReplicas: 1}, rbgsv1.RoleStatus{Role: "prefill", Replicas: 1}),
		*groupOfSet("s", "2", rbgsv1.RoleStatus{Role: "decode", Replicas: 3, ReadyReplicas: 2}),
	}
	if n, ready := roleCounts(groups, "decode"); n != 8 || ready != 6 {
		t.Errorf("decode: %d replicas, %d ready; want the sums, 8 and 6", n, ready)
	}
	if n, ready := roleCounts(groups, "prefill"); n != 1 || ready != 0 {
		t.Errorf("prefill, with status in one group: %d, %d", n, ready)
	}
	if n, ready := roleCounts(nil, "decode"); n != 0 || ready != 0 {
		t.Errorf("no groups: %d, %d", n, ready)
	}
}
