package group

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// A role's budget in instances becomes as many pods, a percentage of its
// replicas rounded down, and follows the role's count; roles without a
// budget, or not written yet, get none, and a budget whose role dropped
// the field is pruned.
func TestDisruptionBudgets(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("router", 1).Role("prefill", 8).Role("decode", 3).Role("idle", 2).Obj()
	g.Spec.Roles[1].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromString("30%")}
	g.Spec.Roles[2].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(1)}
	g.Spec.Roles[2].Size = new(int32(4))
	g.Spec.Roles[3].DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(1)}
	tp := topology.Resolve(g)
	lingering := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "g-router", Labels: map[string]string{rbgsv1.LabelRole: "router"}}}
	obs := &observation{g: g, t: tp, ch: &children{budgets: map[string]*policyv1.PodDisruptionBudget{"g-router": lingering}}}
	roles := planRoles(g, viewRoles(obs, &gangPlan{}), nil)
	for i := range roles {
		roles[i].write = roles[i].spec.Role != "idle"
	}
	got := map[string]int32{}
	for _, w := range budgetWrites(obs, roles) {
		pdb := w.build().(*policyv1.PodDisruptionBudget)
		if pdb.Spec.Selector.MatchLabels[rbgsv1.LabelRole] != pdb.Labels[rbgsv1.LabelRole] || pdb.Spec.Selector.MatchLabels[rbgsv1.LabelGroupName] != "g" {
			t.Errorf("%s selects %v, want the pods of its role in g", pdb.Name, pdb.Spec.Selector.MatchLabels)
		}
		if *pdb.Spec.UnhealthyPodEvictionPolicy != policyv1.AlwaysAllow {
			t.Errorf("%s: unhealthy pods %s, want AlwaysAllow", pdb.Name, *pdb.Spec.UnhealthyPodEvictionPolicy)
		}
		got[pdb.Name] = pdb.Spec.MaxUnavailable.IntVal
	}
	// 30% of 8 instances is 2 pods; 1 instance of 4 pods is 1 pod: a
	// pod evicted breaks one instance.
	if diff := cmp.Diff(map[string]int32{"g-prefill": 2, "g-decode": 1}, got); diff != "" {
		t.Errorf("budgets (-want +got):\n%s", diff)
	}
	g.Spec.Roles[1].Replicas = new(int32(10))
	if n := budgetWrites(obs, roles)[0].build().(*policyv1.PodDisruptionBudget).Spec.MaxUnavailable.IntVal; n != 3 {
		t.Errorf("prefill scaled to 10: budget %d pods, want 3 (30%% rounded down)", n)
	}
	var stale []string
	for _, o := range staleObjects(obs, nil, roles) {
		if o.kind == "PodDisruptionBudget" {
			stale = append(stale, o.obj.GetName()+": "+o.why)
		}
	}
	if diff := cmp.Diff([]string{"g-router: its role has no disruptionBudget"}, stale); diff != "" {
		t.Errorf("stale budgets (-want +got):\n%s", diff)
	}
}
