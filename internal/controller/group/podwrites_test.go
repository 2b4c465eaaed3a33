package group

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A patched pod stands in for the cache's until the cache shows it at
// least as new; then, or once the pod is gone, it is forgotten.
func TestPodWritesOverlay(t *testing.T) {
	pod := func(uid, rv, rev string) corev1.Pod {
		return corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid), ResourceVersion: rv,
			Labels: map[string]string{appsv1.ControllerRevisionHashLabelKey: rev}}}
	}
	revs := func(pods []corev1.Pod) []string {
		var out []string
		for _, p := range pods {
			out = append(out, string(p.UID)+"@"+p.Labels[appsv1.ControllerRevisionHashLabelKey])
		}
		return out
	}
	var w podWrites
	w.remember("ns/g", []corev1.Pod{pod("a", "120", "v2"), pod("b", "121", "v2"), pod("c", "122", "v2")})

	got := revs(w.overlay("ns/g", []corev1.Pod{pod("a", "100", "v1"), pod("b", "125", "v1"), pod("c", "101", "v1"), pod("d", "90", "v1")}))
	if diff := cmp.Diff([]string{"a@v2", "b@v1", "c@v2", "d@v1"}, got); diff != "" {
		t.Errorf("a cache behind the patch shows the patch, one past it shows itself (-want +got):\n%s", diff)
	}

	// b caught up and is forgotten; c is gone; a is still behind.
	got = revs(w.overlay("ns/g", []corev1.Pod{pod("a", "110", "v1"), pod("b", "100", "v1")}))
	if diff := cmp.Diff([]string{"a@v2", "b@v1"}, got); diff != "" {
		t.Errorf("second overlay (-want +got):\n%s", diff)
	}
	got = revs(w.overlay("ns/g", []corev1.Pod{pod("a", "120", "v2")}))
	if got[0] != "a@v2" {
		t.Errorf("third overlay: %v", got)
	}
	if _, ok := w.byGroup.Load("ns/g"); ok {
		t.Errorf("the group's patched pods are still remembered once the cache caught up with all of them")
	}
	if got := w.overlay("ns/other", []corev1.Pod{pod("a", "1", "v1")}); got[0].Labels[appsv1.ControllerRevisionHashLabelKey] != "v1" {
		t.Errorf("another group's pods were overlaid")
	}
}
