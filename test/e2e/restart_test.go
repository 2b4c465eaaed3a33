package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// restartContainer makes pod look as if its kubelet restarted its first
// container (kwok, which plays the kubelet, never does).
func restartContainer(t *testing.T, p *corev1.Pod) {
	t.Helper()
	patch := fmt.Sprintf(`{"status":{"containerStatuses":[{"name":%q,"image":%q,"ready":true,"restartCount":1,"state":{"running":{}}}]}}`,
		p.Spec.Containers[0].Name, p.Spec.Containers[0].Image)
	if err := k8s.Status().Patch(context.Background(), p, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// restartPolicy RecreateGroup on the real StatefulSet controller: one
// restarted container recreates every pod of the group, once, and the
// group counts it; a second one within the backoff waits for it.
func TestRecreateGroupOnPodRestart(t *testing.T) {
	ns := namespace(t, "e2e-restart")
	g := wrappers.MakeGroup("rg", ns).RestartPolicy(rbgsv1.RestartRecreateGroup, 3).
		Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "rg", "decode", 2)
	groupPhase(t, ns, "rg", rbgsv1.PhaseRunning)
	before := map[types.UID]bool{}
	all := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "rg"})
	for _, p := range all {
		before[p.UID] = true
	}

	var decode corev1.Pod
	if err := get(ns, "rg-decode-1", &decode); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &decode)
	eventually(t, "every pod of the group recreated", 90*time.Second, func() error {
		now := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "rg"})
		for _, p := range now {
			if before[p.UID] {
				return fmt.Errorf("pod %s not recreated yet", p.Name)
			}
		}
		if len(now) != 4 {
			return fmt.Errorf("%d pods", len(now))
		}
		return nil
	})
	roleReady(t, ns, "rg", "prefill", 2)
	roleReady(t, ns, "rg", "decode", 2)
	got := groupPhase(t, ns, "rg", rbgsv1.PhaseRunning)
	if got.Status.Restarts != 1 || got.Status.RecentRestarts != 1 || got.Status.LastRestart == nil ||
		got.Status.LastRestart.Reason != "pod rg-decode-1 of role decode restarted container main (1 restarts)" {
		t.Errorf("status after the recreation: restarts %d, recent %d, last %+v",
			got.Status.Restarts, got.Status.RecentRestarts, got.Status.LastRestart)
	}
	if out := kubectl(t, "get", "events", "-n", ns, "--field-selector", "reason=GroupRecreated", "-o", "name"); out == "" {
		t.Error("no GroupRecreated event")
	}
	first := got.Status.LastRestart.Time

	// A second restart right away waits for the 10 s backoff.
	var prefill corev1.Pod
	if err := get(ns, "rg-prefill-0", &prefill); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &prefill)
	time.Sleep(3 * time.Second)
	if err := get(ns, "rg", got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Restarts != 1 {
		t.Errorf("recreated again within the backoff: restarts %d", got.Status.Restarts)
	}
	eventually(t, "second recreation after the backoff", 60*time.Second, func() error {
		if err := get(ns, "rg", got); err != nil {
			return err
		}
		if got.Status.Restarts != 2 || got.Status.RecentRestarts != 2 {
			return fmt.Errorf("restarts %d, recent %d", got.Status.Restarts, got.Status.RecentRestarts)
		}
		return nil
	})
	// Times are whole seconds.
	if d := got.Status.LastRestart.Time.Sub(first.Time); d < 9*time.Second {
		t.Errorf("second recreation %s after the first, within the 10 s backoff", d)
	}
}
