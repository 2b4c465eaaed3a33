package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
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

// templateReplicas waits until the set's groupTemplate asks for want
// replicas of role.
func templateReplicas(t *testing.T, ns, set, role string, want int32) *rbgsv1.RoleBasedGroupSet {
	t.Helper()
	var s rbgsv1.RoleBasedGroupSet
	eventually(t, fmt.Sprintf("%s of set %s at %d", role, set, want), func() error {
		if err := get(t, ns, set, &s); err != nil {
			return err
		}
		i := slices.IndexFunc(s.Spec.GroupTemplate.Roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role })
		if got := s.Spec.GroupTemplate.Roles[i].ReplicasOrDefault(); got != want {
			return fmt.Errorf("replicas %d", got)
		}
		return nil
	})
	return &s
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

// A RoleScaler scales decode in every group of a set through its scale
// subresource, writes nothing but decode's replicas, reports the groups'
// counts, puts back a hand edit while it exists, and leaves the role as it
// is once deleted.
func TestRoleScalerScalesARoleOfASet(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeSet("sc", ns).Replicas(2).Role("prefill", 1).Role("decode", 1, "prefill").Obj())
	for _, g := range []string{"sc-0", "sc-1"} {
		for _, r := range []string{"prefill", "decode"} {
			eventually(t, "StatefulSet "+g+"-"+r, func() error { return exists(t, ns, g+"-"+r, &appsv1.StatefulSet{}) })
			markStatefulSetReady(t, ns, g+"-"+r)
		}
	}
	before := templateReplicas(t, ns, "sc", "decode", 1)
	rs := roleScaler(ns, "sc-decode", rbgsv1.TargetSet, "sc", "decode", 1)
	create(t, rs)
	scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaled)

	// kubectl scale, an HPA or KEDA: through the scale subresource.
	var scale autoscalingv1.Scale
	if err := k8s.SubResource("scale").Get(context.Background(), rs, &scale); err != nil {
		t.Fatal(err)
	}
	if want := "patio.io/rbgs-name=sc,patio.io/rbgs-role=decode"; scale.Spec.Replicas != 1 || scale.Status.Replicas != 1 || scale.Status.Selector != want {
		t.Errorf("scale %+v, want 1 replica and selector %s", scale, want)
	}
	scale.Spec.Replicas = 3
	if err := k8s.SubResource("scale").Update(context.Background(), rs, client.WithSubResourceBody(&scale)); err != nil {
		t.Fatal(err)
	}
	after := templateReplicas(t, ns, "sc", "decode", 3)
	// Nothing but decode's replicas changed, and the write is the
	// RoleScaler's.
	changed := after.Spec.DeepCopy()
	changed.GroupTemplate.Roles[1].Replicas = before.Spec.GroupTemplate.Roles[1].Replicas
	if !equality.Semantic.DeepEqual(*changed, before.Spec) {
		t.Errorf("the RoleScaler changed more than decode's replicas:\nbefore %+v\nafter  %+v", before.Spec, after.Spec)
	}
	if !slices.ContainsFunc(after.ManagedFields, func(f metav1.ManagedFieldsEntry) bool { return f.Manager == "rbgs-rolescaler" }) {
		t.Errorf("no write by rbgs-rolescaler among %d managed fields entries", len(after.ManagedFields))
	}
	for _, g := range []string{"sc-0", "sc-1"} {
		eventually(t, g+" decode at 3", func() error {
			var s appsv1.StatefulSet
			if err := get(t, ns, g+"-decode", &s); err != nil {
				return err
			}
			if *s.Spec.Replicas != 3 {
				return fmt.Errorf("replicas %d", *s.Spec.Replicas)
			}
			return nil
		})
	}
	running := scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaling, "groups sc-0, sc-1 do not run 3 Ready replicas yet")
	if running.Status.ReadyReplicas != 1 {
		t.Errorf("readyReplicas %d while the StatefulSets have 1 Ready pod", running.Status.ReadyReplicas)
	}
	markStatefulSetReady(t, ns, "sc-0-decode")
	scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaling, "groups sc-1 do not")
	markStatefulSetReady(t, ns, "sc-1-decode")
	done := scalerReady(t, ns, "sc-decode", rbgsv1.ReasonScaled)
	if done.Status.Replicas != 3 || done.Status.ReadyReplicas != 3 {
		t.Errorf("status %+v, want 3 replicas, 3 ready", done.Status)
	}
	if err := k8s.SubResource("scale").Get(context.Background(), rs, &scale); err != nil || scale.Status.Replicas != 3 {
		t.Errorf("scale %+v %v", scale, err)
	}
	wantEvents(t, ns, "sc-decode", "ScaledRole")

	// A server-side apply that sets decode's replicas conflicts with the
	// RoleScaler, which owns them.
	body := fmt.Sprintf(`{"apiVersion":"openpatio.io/v1alpha1","kind":"RoleBasedGroupSet","metadata":{"name":"sc","namespace":%q},`+
		`"spec":{"groupTemplate":{"roles":[{"role":"decode","replicas":5}]}}}`, ns)
	err := k8s.Patch(context.Background(), after.DeepCopy(), client.RawPatch(types.ApplyPatchType, []byte(body)), client.FieldOwner("kubectl"))
	if !apierrors.IsConflict(err) || !strings.Contains(err.Error(), "rbgs-rolescaler") {
		t.Errorf("server-side apply of decode's replicas: %v, want a conflict with rbgs-rolescaler", err)
	}

	// A hand edit of decode's replicas is put back; one of prefill's stays.
	update(t, after, func(s *rbgsv1.RoleBasedGroupSet) {
		s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(5))
		s.Spec.GroupTemplate.Roles[0].Replicas = new(int32(2))
	})
	templateReplicas(t, ns, "sc", "decode", 3)
	templateReplicas(t, ns, "sc", "prefill", 2)

	// Deleted, the RoleScaler leaves decode as it is, and hand edits stick.
	if err := k8s.Delete(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RoleScaler gone", func() error { return absent(t, ns, "sc-decode", &rbgsv1.RoleScaler{}) })
	templateReplicas(t, ns, "sc", "decode", 3)
	update(t, after, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(2)) })
	// Proof the operator saw the edit: the groups follow it.
	groupReplicas(t, ns, "sc-0", "decode", 2)
	templateReplicas(t, ns, "sc", "decode", 2)
}

// A RoleScaler of a group on its own; one whose target comes later; one
// whose replicas the target cannot run.
func TestRoleScalerTargets(t *testing.T) {
	ns := namespace(t)
	create(t, roleScaler(ns, "later-decode", rbgsv1.TargetGroup, "later", "decode", 2))
	scalerReady(t, ns, "later-decode", rbgsv1.ReasonTargetNotFound, "RoleBasedGroup later not found")
	create(t, wrappers.MakeGroup("later", ns).Role("prefill", 1).Role("decode", 1).Obj())
	groupReplicas(t, ns, "later", "decode", 2)
	rs := scalerReady(t, ns, "later-decode", rbgsv1.ReasonScaling)
	if want := "patio.io/rbgs-group=later,patio.io/rbgs-role=decode"; rs.Status.Selector != want {
		t.Errorf("selector %q, want %q", rs.Status.Selector, want)
	}

	// 300 pods' discovery does not fit: refused, with the reason, and the
	// group keeps its replicas.
	update(t, rs, func(rs *rbgsv1.RoleScaler) { rs.Spec.Replicas = 300 })
	scalerReady(t, ns, "later-decode", rbgsv1.ReasonReplicasRefused, "RoleBasedGroup later cannot run role decode at 300 replicas", "over the 1000000 a ConfigMap holds")
	var g rbgsv1.RoleBasedGroup
	if err := get(t, ns, "later", &g); err != nil || g.Spec.Roles[1].ReplicasOrDefault() != 2 {
		t.Errorf("group %v decode replicas %d, want 2 kept", err, g.Spec.Roles[1].ReplicasOrDefault())
	}

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
