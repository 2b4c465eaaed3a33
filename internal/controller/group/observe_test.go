package group

import (
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

func rolePod(name, revision string, ready, deleting bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: revision}}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if deleting {
		p.DeletionTimestamp = &metav1.Time{}
	}
	return p
}

// A role is ready when its StatefulSet says so, or, once the StatefulSet
// controller has seen the current spec, when every wanted pod is Ready at
// the update revision even though the controller has not counted them yet.
func TestStatefulSetState(t *testing.T) {
	sts := func(generation, observed int64, ready int32, current, update string) *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "g-decode", Generation: generation},
			Spec:       appsv1.StatefulSetSpec{Replicas: new(int32(2))},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: observed, Replicas: 2, ReadyReplicas: ready,
				AvailableReplicas: ready, UpdatedReplicas: 2, CurrentRevision: current, UpdateRevision: update},
		}
	}
	readyPods := []corev1.Pod{rolePod("g-decode-0", "r2", true, false), rolePod("g-decode-1", "r2", true, false)}
	cases := []struct {
		name  string
		sts   *appsv1.StatefulSet
		pods  []corev1.Pod
		ready bool
		count int32
	}{
		{"status says ready", sts(1, 1, 2, "r2", "r2"), nil, true, 2},
		{"status lags, pods ready", sts(1, 1, 1, "r2", "r2"), readyPods, true, 2},
		{"one pod not ready", sts(1, 1, 1, "r2", "r2"),
			[]corev1.Pod{readyPods[0], rolePod("g-decode-1", "r2", false, false)}, false, 1},
		{"pods ready at the old revision during a rollout", sts(2, 2, 2, "r1", "r2"),
			[]corev1.Pod{readyPods[0], rolePod("g-decode-1", "r1", true, false)}, false, 2},
		{"controller has not seen the spec: pods cannot tell", sts(3, 2, 1, "r2", "r2"), readyPods, false, 1},
		{"a third pod still terminating", sts(1, 1, 1, "r2", "r2"),
			append(readyPods[:2:2], rolePod("g-decode-2", "r2", true, true)), true, 2},
		{"too many pods", sts(1, 1, 1, "r2", "r2"),
			append(readyPods[:2:2], rolePod("g-decode-2", "r2", true, false)), false, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := statefulSetState(tc.sts, tc.pods)
			if !s.exists || s.ready != tc.ready || s.readyReplicas != tc.count {
				t.Errorf("got %+v, want ready %v with %d ready replicas", s, tc.ready, tc.count)
			}
		})
	}
}

// Pods the spec no longer has keep their cluster.yaml until they are gone.
func TestLingeringFiles(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 1).Role("router", 1).Workload(rbgsv1.WorkloadDeployment).Obj()
	p := func(name, role, index string) corev1.Pod {
		l := map[string]string{rbgsv1.LabelGroupName: "g", rbgsv1.LabelRole: role}
		if index != "" {
			l[appsv1.PodIndexLabel] = index
		}
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
	}
	pods := []corev1.Pod{
		p("g-prefill-0", "prefill", "0"),
		p("g-prefill-2", "prefill", "2"), // scaled down, still terminating
		p("g-prefill-1", "prefill", "1"),
		p("g-router-x1", "router", ""),     // a Deployment pod, as wanted
		p("g-router-0", "router", "0"),     // the role was a StatefulSet
		p("g-decode-0", "decode", "0"),     // a removed role
		p("g-decode-0-dup", "decode", "0"), // one file per key
		p("stray", "", ""),
	}
	keys := func(refs []discovery.PodRef) []string {
		var out []string
		for _, f := range refs {
			cm, key := f.File("g")
			out = append(out, cm+"/"+key)
		}
		return out
	}
	want := []string{"g-rbgs-cluster/decode.0.yaml", "g-rbgs-cluster/prefill.1.yaml", "g-rbgs-cluster/prefill.2.yaml", "g-rbgs-cluster/router.0.yaml"}
	if got := keys(lingeringFiles(topology.Resolve(g), pods)); !slices.Equal(got, want) {
		t.Errorf("lingering %v, want %v", got, want)
	}
	g.Spec.Roles[0].Workload.Kind = rbgsv1.WorkloadDeployment
	if got := keys(lingeringFiles(topology.Resolve(g), pods[:1])); !slices.Equal(got, []string{"g-rbgs-cluster/prefill.0.yaml"}) {
		t.Errorf("after prefill became a Deployment: %v", got)
	}
	// prefill of size 2 now: the pods of its old size-1 StatefulSet linger,
	// and pods of an instance scaled away keep their instance's ConfigMap.
	g.Spec.Roles[0].Workload.Kind = rbgsv1.WorkloadStatefulSet
	g.Spec.Roles[0].Size = new(int32(2))
	instancePod := func(name string, instance, worker string) corev1.Pod {
		pod := p(name, "prefill", worker)
		pod.Labels[rbgsv1.LabelInstance] = instance
		return pod
	}
	got := keys(lingeringFiles(topology.Resolve(g), []corev1.Pod{
		p("g-prefill-0", "prefill", "0"), instancePod("g-prefill-0-1", "0", "1"), instancePod("g-prefill-1-1", "1", "1"),
	}))
	if want := []string{"g-rbgs-cluster/prefill.0.yaml", "g-rbgs-cluster-prefill-1/prefill.1.1.yaml"}; !slices.Equal(got, want) {
		t.Errorf("size 2: lingering %v, want %v", got, want)
	}
}
