package revision

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Replicas, the rollout strategy, the disruption budget and a written size
// of 1 shape no pod;
// everything else does.
func TestPodShaping(t *testing.T) {
	base := rbgsv1.RoleSpec{Role: "decode", Replicas: new(int32(2))}
	hash := func(r rbgsv1.RoleSpec) string {
		h, ok := Hash(PodShaping(&r), 10)
		if !ok {
			t.Fatal("role does not marshal")
		}
		return h
	}
	same := []rbgsv1.RoleSpec{
		{Role: "decode", Replicas: new(int32(7))},
		{Role: "decode"},
		{Role: "decode", Size: new(int32(1))},
		{Role: "decode", RolloutStrategy: &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromInt32(3))}},
		{Role: "decode", RolloutStrategy: &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}},
		{Role: "decode", DisruptionBudget: &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(1)}},
	}
	for _, r := range same {
		if hash(r) != hash(base) {
			t.Errorf("%+v hashes unlike %+v", r, base)
		}
	}
	for _, r := range []rbgsv1.RoleSpec{{Role: "decode", Size: new(int32(2))}, {Role: "prefill"}} {
		if hash(r) == hash(base) {
			t.Errorf("%+v hashes like %+v", r, base)
		}
	}
	if r := PodShaping(&base); base.Replicas == nil || r.Replicas != nil {
		t.Error("PodShaping changed its argument or kept replicas")
	}
}
