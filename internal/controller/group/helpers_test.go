package group

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

func statefulSets(names ...string) []appsv1.StatefulSet {
	out := make([]appsv1.StatefulSet, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func deployments(names ...string) []appsv1.Deployment {
	out := make([]appsv1.Deployment, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func services(names ...string) []corev1.Service {
	out := make([]corev1.Service, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func cm(name string) corev1.ConfigMap {
	return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

// viewsOf is g's roles as the plan sees them, each in the state states
// gives it (absent when it gives none).
func viewsOf(g *rbgsv1.RoleBasedGroup, states map[string]roleState) []roleView {
	t := topology.Resolve(g)
	out := make([]roleView, len(g.Spec.Roles))
	for i := range g.Spec.Roles {
		out[i] = roleView{spec: &g.Spec.Roles[i], topo: &t.Roles[i], state: states[g.Spec.Roles[i].Role]}
	}
	return out
}

// statusOf is the status of g whose roles are in states, at now.
func statusOf(g *rbgsv1.RoleBasedGroup, states map[string]roleState, now metav1.Time) rbgsv1.RoleBasedGroupStatus {
	return computeStatus(g, planRoles(g, viewsOf(g, states), nil), now)
}

// conditionOf is condition t of st, empty when st has none.
func conditionOf(st rbgsv1.RoleBasedGroupStatus, t string) metav1.Condition {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}
