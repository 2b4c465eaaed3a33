package scaling

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func scaler(name, role string, replicas int32, created time.Time, deleting bool) rbgsv1.RoleScaler {
	rs := rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
		Spec:       rbgsv1.RoleScalerSpec{TargetRef: rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetSet, Name: "s"}, Role: role, Replicas: replicas},
	}
	if deleting {
		rs.DeletionTimestamp = &metav1.Time{Time: t0}
	}
	return rs
}

// The oldest RoleScaler of a role drives it (by name on a tie); one being
// deleted drives nothing.
func TestDrivers(t *testing.T) {
	got := Drivers([]rbgsv1.RoleScaler{
		scaler("b", "decode", 1, t0, false),
		scaler("a", "decode", 2, t0, false),
		scaler("c", "decode", 3, t0.Add(-time.Hour), true),
		scaler("d", "prefill", 4, t0.Add(time.Hour), false),
	})
	names := map[string]string{}
	for role, rs := range got {
		names[role] = rs.Name
	}
	if diff := cmp.Diff(map[string]string{"decode": "a", "prefill": "d"}, names); diff != "" {
		t.Errorf("drivers (-want +got):\n%s", diff)
	}
}

// Whole groups are the unit: 5 over 2 is 3 each.
func TestPerGroup(t *testing.T) {
	for _, tc := range []struct{ total, groups, want int32 }{
		{5, 2, 3}, {4, 2, 2}, {1, 3, 1}, {0, 3, 0}, {7, 1, 7}, {7, 0, 7}, {10, 10, 1}, {11, 10, 2},
	} {
		if got := PerGroup(tc.total, tc.groups); got != tc.want {
			t.Errorf("PerGroup(%d, %d) = %d, want %d", tc.total, tc.groups, got, tc.want)
		}
	}
}

// Override gives each driven role its share, and a share the check
// refuses falls back to what runs, saying why.
func TestOverride(t *testing.T) {
	roles := []rbgsv1.RoleSpec{{Role: "prefill", Replicas: new(int32(1))}, {Role: "decode", Replicas: new(int32(2))}, {Role: "router"}}
	drivers := map[string]*rbgsv1.RoleScaler{"prefill": new(scaler("p", "prefill", 7, t0, false)), "decode": new(scaler("d", "decode", 100, t0, false))}
	check := func() field.ErrorList {
		for _, r := range roles {
			if r.ReplicasOrDefault() > 10 {
				return field.ErrorList{field.Invalid(field.NewPath("replicas"), r.ReplicasOrDefault(), "too many")}
			}
		}
		return nil
	}
	refused := Override(roles, drivers, 2, check, func(role string) int32 { return 5 })
	got := []int32{roles[0].ReplicasOrDefault(), roles[1].ReplicasOrDefault(), roles[2].ReplicasOrDefault()}
	if diff := cmp.Diff([]int32{4, 5, 1}, got); diff != "" {
		t.Errorf("replicas (-want +got):\n%s", diff)
	}
	if len(refused) != 1 || refused["decode"] == nil {
		t.Errorf("refused %v, want decode's 50 per group", refused)
	}
}

// The selector matches one pod per instance: the role's pods, or its
// leaders for instances of several pods.
func TestSelector(t *testing.T) {
	rs := scaler("d", "decode", 1, t0, false)
	if got, want := Selector(&rs, 1), "patio.io/rbgs-name=s,patio.io/rbgs-role=decode"; got != want {
		t.Errorf("size 1: %q, want %q", got, want)
	}
	if got, want := Selector(&rs, 4), "patio.io/rbgs-name=s,patio.io/rbgs-role=decode,patio.io/rbgs-worker-index=0"; got != want {
		t.Errorf("size 4: %q, want %q", got, want)
	}
	rs.Spec.TargetRef = rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetGroup, Name: "g"}
	if got, want := Selector(&rs, 1), "patio.io/rbgs-group=g,patio.io/rbgs-role=decode"; got != want {
		t.Errorf("group: %q, want %q", got, want)
	}
}
