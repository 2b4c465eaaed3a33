package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestMaxUnavailable(t *testing.T) {
	for _, tc := range []struct {
		v        *intstr.IntOrString
		replicas int32
		want     int32
	}{
		{nil, 10, 1},
		{new(intstr.FromInt32(3)), 10, 3},
		{new(intstr.FromString("25%")), 10, 2},
		{new(intstr.FromString("5%")), 10, 1},
		{new(intstr.FromString("100%")), 7, 7},
		{new(intstr.FromInt32(5)), 0, 5},
	} {
		if got, surge := (&RolloutStrategy{MaxUnavailable: tc.v}).Budget(tc.replicas); got != tc.want || surge != 0 {
			t.Errorf("set: maxUnavailable %v of %d = %d (surge %d), want %d", tc.v, tc.replicas, got, surge, tc.want)
		}
		r := &RoleSpec{Replicas: &tc.replicas, RolloutStrategy: &RoleRolloutStrategy{MaxUnavailable: tc.v}}
		if got := r.InstancesMaxUnavailable(); got != tc.want {
			t.Errorf("role: maxUnavailable %v of %d = %d, want %d", tc.v, tc.replicas, got, tc.want)
		}
	}
	if got := (&RoleSpec{}).InstancesMaxUnavailable(); got != 1 {
		t.Errorf("unset: %d", got)
	}
}

// Percentages round like a Deployment's: maxSurge up, maxUnavailable
// down; when both come to 0, one may be unavailable.
func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		unavailable, surge *intstr.IntOrString
		replicas           int32
		want, wantSurge    int32
	}{
		{new(intstr.FromInt32(0)), new(intstr.FromInt32(1)), 3, 0, 1},
		{new(intstr.FromString("0%")), new(intstr.FromString("10%")), 250, 0, 25},
		{new(intstr.FromString("10%")), new(intstr.FromString("10%")), 3, 0, 1},
		{new(intstr.FromString("10%")), nil, 3, 1, 0},
		{new(intstr.FromInt32(0)), new(intstr.FromInt32(0)), 3, 1, 0},
		{nil, new(intstr.FromString("1%")), 1, 1, 1},
	} {
		u, s := (&RolloutStrategy{MaxUnavailable: tc.unavailable, MaxSurge: tc.surge}).Budget(tc.replicas)
		if u != tc.want || s != tc.wantSurge {
			t.Errorf("maxUnavailable %v, maxSurge %v of %d: %d and %d, want %d and %d", tc.unavailable, tc.surge, tc.replicas, u, s, tc.want, tc.wantSurge)
		}
	}
}

func TestRoleDefaults(t *testing.T) {
	r := &RoleSpec{}
	if r.KindOrDefault() != WorkloadStatefulSet || r.ReplicasOrDefault() != 1 || r.SizeOrDefault() != 1 {
		t.Errorf("defaults: %s %d %d", r.KindOrDefault(), r.ReplicasOrDefault(), r.SizeOrDefault())
	}
	r = &RoleSpec{Workload: WorkloadSpec{Kind: WorkloadDeployment}, Replicas: new(int32(0)), Size: new(int32(4))}
	if r.KindOrDefault() != WorkloadDeployment || r.ReplicasOrDefault() != 0 || r.SizeOrDefault() != 4 {
		t.Errorf("set: %s %d %d", r.KindOrDefault(), r.ReplicasOrDefault(), r.SizeOrDefault())
	}
}
