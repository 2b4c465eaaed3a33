package group

import (
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// A role's disruptionBudget becomes a PodDisruptionBudget of the role in
// each group, which the eviction API (a drain, the cluster autoscaler)
// honours. Its maxUnavailable counts pods, and equals the budget in
// instances: a pod evicted breaks at most one instance, so the eviction
// API lets at most that many instances go. A pod that is not Ready serves
// nothing, and may always be evicted (AlwaysAllow): a crash-looping pod
// never blocks a drain.

// desiredDisruptionBudget is the PodDisruptionBudget of role r of g, which
// has a disruptionBudget.
func desiredDisruptionBudget(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *policyv1.PodDisruptionBudget {
	n, _ := r.DisruptionsAllowed()
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: objectMeta(g, naming.Workload(g.Name, r.Role), r.Role),
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             new(intstr.FromInt32(n)),
			Selector:                   &metav1.LabelSelector{MatchLabels: selector(g, r.Role)},
			UnhealthyPodEvictionPolicy: new(policyv1.AlwaysAllow),
		},
	}
}

// budgetWrites are the writes of the disruption budgets of the roles of
// obs that have one and whose workloads are written.
func budgetWrites(obs *observation, roles []rolePlan) []write {
	var out []write
	for i := range roles {
		r := roles[i].spec
		if r.DisruptionBudget == nil || !roles[i].write {
			continue
		}
		out = append(out, write{live: obs.ch.budgets[roles[i].topo.Service], build: func() client.Object {
			return desiredDisruptionBudget(obs.g, r)
		}})
	}
	return out
}
