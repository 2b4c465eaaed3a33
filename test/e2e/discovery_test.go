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
	"k8s.io/apimachinery/pkg/types"
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

	// Each sample reads the ConfigMap, lists the pods, and reads the
	// ConfigMap again. A pod seen by an earlier sample existed when the
	// first read was made: its key must be there (no pod loses its key). A
	// pod seen for the first time exists, so its key was written before it
	// was created and must be in the second read (no pod starts before its
	// key).
	var (
		mu         sync.Mutex
		violations []string
		samples    int
		// keysSeen are the keys of the pods the samples saw: proof they
		// covered both changes.
		keysSeen = map[string]bool{}
	)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		seen := map[types.UID]bool{}
		read := func() (map[string]string, bool) {
			var cm corev1.ConfigMap
			if err := get(ns, naming.ClusterConfigMap("disc"), &cm); err != nil {
				return nil, false
			}
			return cm.Data, true
		}
		for {
			// Back to back: the changes below take a second or less.
			select {
			case <-stop:
				return
			default:
			}
			before, ok := read()
			var pl corev1.PodList
			if !ok || k8s.List(context.Background(), &pl, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelGroupName: "disc"}) != nil {
				continue
			}
			after, ok := read()
			if !ok {
				continue
			}
			mu.Lock()
			samples++
			for i := range pl.Items {
				p := &pl.Items[i]
				k, data := fileKey(p), after
				if seen[p.UID] {
					data = before
				}
				if data[k] == "" {
					violations = append(violations, fmt.Sprintf("pod %s (seen before: %v) without key %s (keys %v)", p.Name, seen[p.UID], k, slices.Sorted(maps.Keys(data))))
				}
				seen[p.UID], keysSeen[k] = true, true
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

	eventually(t, "a first sample", 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if samples == 0 {
			return fmt.Errorf("no sample yet")
		}
		return nil
	})
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
	eventually(t, "a sample of the Deployment's pods", 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !keysSeen["decode.yaml"] {
			return fmt.Errorf("%d samples, keys seen %v", samples, slices.Sorted(maps.Keys(keysSeen)))
		}
		return nil
	})

	close(stop)
	<-done
	if len(violations) > 0 || !keysSeen["decode.2.yaml"] {
		t.Fatalf("%d samples (decode-2 seen: %v); pods without their key:\n%v", samples, keysSeen["decode.2.yaml"], violations)
	}
	t.Logf("%d samples of the ConfigMap and pods, every pod with its key", samples)
}
