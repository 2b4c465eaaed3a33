package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/test/wrappers"
)

// fileKey is the cluster ConfigMap key a pod mounts its cluster.yaml from.
func fileKey(p *corev1.Pod) string {
	role := p.Labels[rbgsv1.LabelRole]
	if idx, ok := p.Labels[appsv1.PodIndexLabel]; ok {
		return role + "." + idx + ".yaml"
	}
	return role + ".yaml"
}

// A scale-down and a change of workload kind, on the real StatefulSet and
// Deployment controllers: every pod that exists finds its cluster.yaml key
// in the ConfigMap (none starts before its key, none loses it while it
// runs), and the keys of pods that are gone leave.
func TestDiscoveryKeysFollowPods(t *testing.T) {
	ns := namespace(t, "e2e-keys")
	g := wrappers.MakeGroup("disc", ns).Role("prefill", 1).Role("decode", 3, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "disc", "decode", 3)
	groupPhase(t, ns, "disc", rbgsv1.PhaseRunning)

	// The ConfigMap is read first, then the pods: a pod listed existed when
	// the ConfigMap was read, or was created after, and must find its key.
	var (
		mu         sync.Mutex
		violations []string
		samples    int
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var cm corev1.ConfigMap
			if err := get(ns, naming.ClusterConfigMap("disc"), &cm); err != nil {
				continue
			}
			var pl corev1.PodList
			if err := k8s.List(context.Background(), &pl, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelGroupName: "disc"}); err != nil {
				continue
			}
			mu.Lock()
			samples++
			for i := range pl.Items {
				if k := fileKey(&pl.Items[i]); cm.Data[k] == "" {
					violations = append(violations, fmt.Sprintf("pod %s without key %s (keys %v)", pl.Items[i].Name, k, slices.Sorted(maps.Keys(cm.Data))))
				}
			}
			mu.Unlock()
		}
	}()
	keys := func(want ...string) {
		t.Helper()
		eventually(t, fmt.Sprintf("keys %v", want), 60*time.Second, func() error {
			var cm corev1.ConfigMap
			if err := get(ns, naming.ClusterConfigMap("disc"), &cm); err != nil {
				return err
			}
			if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, want) {
				return fmt.Errorf("keys %v", got)
			}
			return nil
		})
	}

	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Replicas = new(int32(1)) })
	roleReady(t, ns, "disc", "decode", 1)
	keys("cluster.yaml", "decode.0.yaml", "prefill.0.yaml")

	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles[1].Workload = rbgsv1.WorkloadSpec{APIVersion: "apps/v1", Kind: rbgsv1.WorkloadDeployment}
		g.Spec.Roles[1].Replicas = new(int32(2))
	})
	roleReady(t, ns, "disc", "decode", 2)
	groupPhase(t, ns, "disc", rbgsv1.PhaseRunning)
	keys("cluster.yaml", "decode.yaml", "prefill.0.yaml")

	close(stop)
	<-done
	if len(violations) > 0 || samples < 10 {
		t.Errorf("%d samples; pods without their key:\n%v", samples, violations)
	}
	t.Logf("%d samples of the ConfigMap and pods, every pod with its key", samples)
}
