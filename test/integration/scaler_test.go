package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/test/wrappers"
)

func roleScaler(ns, name string, kind rbgsv1.RoleScalerTargetKind, target, role string, replicas int32) *rbgsv1.RoleScaler {
	return &rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rbgsv1.RoleScalerSpec{
			TargetRef: rbgsv1.RoleScalerTarget{Kind: kind, Name: target}, Role: role, Replicas: replicas,
		},
	}
}

// scalerReady waits until the RoleScaler's Ready condition has reason, at
// its generation, and returns the RoleScaler.
func scalerReady(t *testing.T, ns, name, reason string, says ...string) *rbgsv1.RoleScaler {
	t.Helper()
	var rs rbgsv1.RoleScaler
	eventually(t, "RoleScaler "+name+" "+reason, func() error {
		if err := get(t, ns, name, &rs); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(rs.Status.Conditions, rbgsv1.ConditionReady)
		if c == nil || c.Reason != reason || rs.Status.ObservedGeneration != rs.Generation {
			return fmt.Errorf("Ready %+v at generation %d/%d", c, rs.Status.ObservedGeneration, rs.Generation)
		}
		for _, s := range says {
			if !strings.Contains(c.Message, s) {
				return fmt.Errorf("message %q does not say %q", c.Message, s)
			}
		}
		return nil
	})
	return &rs
}

// groupReplicas waits until role of group ns/name asks for want replicas.
func groupReplicas(t *testing.T, ns, name, role string, want int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s of group %s at %d", role, name, want), func() error {
		var g rbgsv1.RoleBasedGroup
		if err := get(t, ns, name, &g); err != nil {
			return err
		}
		i := slices.IndexFunc(g.Spec.Roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role })
		if i < 0 {
			return fmt.Errorf("no role %s", role)
		}
		if got := g.Spec.Roles[i].ReplicasOrDefault(); got != want {
			return fmt.Errorf("replicas %d", got)
		}
		return nil
	})
}

// statefulSetReplicas waits until StatefulSet ns/name asks for want pods.
func statefulSetReplicas(t *testing.T, ns, name string, want int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("StatefulSet %s at %d", name, want), func() error {
		var s appsv1.StatefulSet
		if err := get(t, ns, name, &s); err != nil {
			return err
		}
		if *s.Spec.Replicas != want {
			return fmt.Errorf("replicas %d", *s.Spec.Replicas)
		}
		return nil
	})
}

// setObserved waits until the set's status describes its generation: the
// set reconciled its last edit.
func setObserved(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "set "+name+" observed", func() error {
		var s rbgsv1.RoleBasedGroupSet
		if err := get(t, ns, name, &s); err != nil {
			return err
		}
		if s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("status at generation %d/%d", s.Status.ObservedGeneration, s.Generation)
		}
		return nil
	})
}

// writesOf records, until stop, the replicas of role in every version of
// the groups of set, and of the role's StatefulSets, the API server
// stores.
func writesOf(t *testing.T, ns, set, role string) (stop func() []string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var groups rbgsv1.RoleBasedGroupList
	gw, err := k8sWatch.Watch(ctx, &groups, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set})
	if err != nil {
		t.Fatal(err)
	}
	var sets appsv1.StatefulSetList
	sw, err := k8sWatch.Watch(ctx, &sets, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set, rbgsv1.LabelRole: role})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	record := func(s string) { mu.Lock(); seen = append(seen, s); mu.Unlock() }
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for e := range gw.ResultChan() {
			if g, ok := e.Object.(*rbgsv1.RoleBasedGroup); ok {
				if r := scaling.RoleOf(g.Spec.Roles, role); r != nil {
					record(fmt.Sprintf("group %s %d", g.Name, r.ReplicasOrDefault()))
				}
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		for e := range sw.ResultChan() {
			if s, ok := e.Object.(*appsv1.StatefulSet); ok {
				record(fmt.Sprintf("statefulset %s %d", s.Name, *s.Spec.Replicas))
			}
		}
	}()
	return func() []string {
		cancel()
		gw.Stop()
		sw.Stop()
		<-done
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// A RoleScaler counts decode's instances across the groups of a set:
// each group runs ceil(replicas / groups), recomputed when the set
// scales. The set runs that count itself: the RoleScaler writes nothing
// to the set, its scale subresource reports the groups' sum, and an edit
// of the set that carries another count (a client-side apply, which sends
// the whole roles list) never reaches a group or a StatefulSet. Deleted,
// the RoleScaler hands the role back to the set's own count.
func TestRoleScalerScalesARoleOfASet(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeSet("sc", ns).Replicas(2).Role("prefill", 1).Role("decode", 1, "prefill").Obj())
	for _, g := range []string{"sc-0", "sc-1"} {
		for _, r := range []string{"prefill", "decode"} {
			eventually(t, "StatefulSet "+g+"-"+r, func() error { return exists(t, ns, g+"-"+r, &appsv1.StatefulSet{}) })
			markStatefulSetReady(t, ns, g+"-"+r)
		}
	}
	var before rbgsv1.RoleBasedGroupSet
	if err := get(t, ns, "sc", &before); err != nil {
		t.Fatal(err)
	}
	rs := roleScaler(ns, "sc-decode", rbgsv1.TargetSet, "sc", "decode", 2)
	create(t, rs)
	scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaled)

	// kubectl scale, an HPA or KEDA: through the scale subresource, whose
	// replicas are the groups' sum.
	var scale autoscalingv1.Scale
	if err := k8s.SubResource("scale").Get(context.Background(), rs, &scale); err != nil {
		t.Fatal(err)
	}
	if want := "patio.io/rbgs-name=sc,patio.io/rbgs-role=decode"; scale.Spec.Replicas != 2 || scale.Status.Replicas != 2 || scale.Status.Selector != want {
		t.Errorf("scale %+v, want 2 replicas and selector %s", scale, want)
	}
	scale.Spec.Replicas = 5
	if err := k8s.SubResource("scale").Update(context.Background(), rs, client.WithSubResourceBody(&scale)); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"sc-0", "sc-1"} {
		statefulSetReplicas(t, ns, g+"-decode", 3) // ceil(5 / 2)
	}
	var after rbgsv1.RoleBasedGroupSet
	if err := get(t, ns, "sc", &after); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(after.Spec, before.Spec) || after.Generation != before.Generation {
		t.Errorf("the set changed:\nbefore %+v\nafter  %+v", before.Spec, after.Spec)
	}
	scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaling, "groups sc-0, sc-1 do not run 3 Ready replicas yet")
	markStatefulSetReady(t, ns, "sc-0-decode")
	scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaling, "groups sc-1 do not")
	markStatefulSetReady(t, ns, "sc-1-decode")
	done := scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaled)
	if done.Status.Replicas != 6 || done.Status.ReadyReplicas != 6 {
		t.Errorf("status %+v, want 6 replicas, 6 ready: the groups' sum", done.Status)
	}
	if err := k8s.SubResource("scale").Get(context.Background(), rs, &scale); err != nil || scale.Status.Replicas != 6 {
		t.Errorf("scale %+v %v", scale, err)
	}

	// An edit of the set that replaces its roles, as a client-side apply
	// of a manifest does (decode 2, prefill 2; then decode left out),
	// three times: prefill follows, decode's count never leaves 3.
	writes := writesOf(t, ns, "sc", "decode")
	for i, decode := range []string{`"replicas":2,`, ``, `"replicas":7,`} {
		roles := fmt.Sprintf(`[{"role":"prefill","replicas":%d,"template":{"spec":{"containers":[{"name":"main","image":%q}]}}},`+
			`{"role":"decode",%s"dependencies":["prefill"],"template":{"spec":{"containers":[{"name":"main","image":%q}]}}}]`,
			2+i%2, wrappers.Image, decode, wrappers.Image)
		patch := fmt.Sprintf(`{"spec":{"groupTemplate":{"roles":%s}}}`, roles)
		if err := k8s.Patch(context.Background(), &after, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			t.Fatal(err)
		}
		setObserved(t, ns, "sc")
		// Proof the set wrote its groups after the edit: prefill follows.
		groupReplicas(t, ns, "sc-0", "prefill", int32(2+i%2))
		groupReplicas(t, ns, "sc-1", "prefill", int32(2+i%2))
	}
	for _, w := range writes() {
		if !strings.HasSuffix(w, " 3") {
			t.Errorf("a write of decode at another count than the RoleScaler's: %s", w)
		}
	}

	// The set scales to 3 groups: each group's share is recomputed.
	update(t, &after, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.Replicas = new(int32(3)) })
	for _, g := range []string{"sc-0", "sc-1", "sc-2"} {
		groupReplicas(t, ns, g, "decode", 2) // ceil(5 / 3)
	}

	// Deleted, the RoleScaler hands decode back to the set's own count.
	if err := k8s.Delete(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"sc-0", "sc-1", "sc-2"} {
		groupReplicas(t, ns, g, "decode", 7)
	}
}

// A RoleScaler of a group on its own, which comes later: the group runs
// its count whatever its own spec says; a count it cannot run is refused
// and changes nothing; a role the group lost is said.
func TestRoleScalerTargets(t *testing.T) {
	ns := namespace(t)
	create(t, roleScaler(ns, "later-decode", rbgsv1.TargetGroup, "later", "decode", 2))
	scalerReady(t, ns, "later-decode", rbgsv1.ReasonTargetNotFound, "RoleBasedGroup later not found")
	create(t, wrappers.MakeGroup("later", ns).Role("prefill", 1).Role("decode", 1).Obj())
	statefulSetReplicas(t, ns, "later-decode", 2)
	rs := scalerReady(t, ns, "later-decode", rbgsv1.ReasonScaling)
	if want := "patio.io/rbgs-group=later,patio.io/rbgs-role=decode"; rs.Status.Selector != want {
		t.Errorf("selector %q, want %q", rs.Status.Selector, want)
	}
	var g rbgsv1.RoleBasedGroup
	if err := get(t, ns, "later", &g); err != nil || g.Spec.Roles[1].ReplicasOrDefault() != 1 {
		t.Errorf("the group's spec was written: %v, decode %d", err, g.Spec.Roles[1].ReplicasOrDefault())
	}

	// 300 pods' discovery does not fit: refused, with the reason, and the
	// group keeps running 2. Proof the group reconciled the new count: its
	// status reports decode at 2.
	update(t, rs, func(rs *rbgsv1.RoleScaler) { rs.Spec.Replicas = 300 })
	scalerReady(t, ns, "later-decode", rbgsv1.ReasonReplicasRefused, "RoleBasedGroup later cannot run role decode at 300 replicas", "over the 1000000 a ConfigMap holds")
	eventually(t, "group reconciled the refused count", func() error {
		if err := get(t, ns, "later", &g); err != nil {
			return err
		}
		if st := g.Status.Roles; len(st) != 2 || st[1].Replicas != 2 {
			return fmt.Errorf("roles %+v", st)
		}
		return nil
	})
	statefulSetReplicas(t, ns, "later-decode", 2)

	// A role the target lost.
	update(t, &g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles = g.Spec.Roles[:1] })
	scalerReady(t, ns, "later-decode", rbgsv1.ReasonRoleNotFound, "RoleBasedGroup later has no role decode (roles: prefill)")
}

// Admission: a second RoleScaler of the same role, a role the target does
// not have, a group of a set, negative replicas, and a change of target
// are refused, each naming the field and the fix.
func TestRoleScalerAdmission(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeSet("adm", ns).Replicas(1).Role("prefill", 1).Role("decode", 1).Obj())
	first := roleScaler(ns, "adm-decode", rbgsv1.TargetSet, "adm", "decode", 1)
	create(t, first)
	eventually(t, "group adm-0", func() error { return exists(t, ns, "adm-0", &rbgsv1.RoleBasedGroup{}) })
	const denied = `admission webhook "vrolescaler.openpatio.io" denied the request: RoleScaler.openpatio.io "x" is invalid: `
	const invalid = `RoleScaler.openpatio.io "x" is invalid: `
	cases := []struct {
		name string
		obj  *rbgsv1.RoleScaler
		want string
	}{
		{"second RoleScaler of a role", roleScaler(ns, "x", rbgsv1.TargetSet, "adm", "decode", 2),
			denied + `spec.role: Invalid value: "decode": RoleScaler adm-decode already scales role decode of RoleBasedGroupSet adm: scale that one, or delete it first`},
		{"unknown role", roleScaler(ns, "x", rbgsv1.TargetSet, "adm", "router", 2),
			denied + `spec.role: Invalid value: "router": RoleBasedGroupSet adm has no role router (roles: prefill, decode): name one of its roles`},
		{"group of a set", roleScaler(ns, "x", rbgsv1.TargetGroup, "adm-0", "decode", 2),
			denied + `spec.targetRef: Invalid value: "adm-0": group adm-0 belongs to set adm, whose groupTemplate sets its roles: target the set instead (kind RoleBasedGroupSet, name adm)`},
		{"negative replicas", roleScaler(ns, "x", rbgsv1.TargetSet, "adm", "prefill", -1),
			// The second line is the scale subresource's own check.
			invalid + `[spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0, .spec.replicas: Invalid value: -1: should be a non-negative integer]`},
		{"unknown kind", roleScaler(ns, "x", "StatefulSet", "adm", "prefill", 1),
			invalid + `[spec.targetRef.kind: Unsupported value: "StatefulSet": supported values: "RoleBasedGroupSet", "RoleBasedGroup", ` + notChecked + `]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
	t.Run("target and role are immutable", func(t *testing.T) {
		var rs rbgsv1.RoleScaler
		if err := get(t, ns, "adm-decode", &rs); err != nil {
			t.Fatal(err)
		}
		rs.Spec.Role = "prefill"
		err := k8s.Update(context.Background(), &rs)
		want := `RoleScaler.openpatio.io "adm-decode" is invalid: spec: Invalid value: targetRef and role are immutable: create another RoleScaler to scale another role, and delete this one`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
}
