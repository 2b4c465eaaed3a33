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
		if got := (&RolloutStrategy{MaxUnavailable: tc.v}).MaxUnavailableOf(tc.replicas); got != tc.want {
			t.Errorf("set: maxUnavailable %v of %d = %d, want %d", tc.v, tc.replicas, got, tc.want)
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
