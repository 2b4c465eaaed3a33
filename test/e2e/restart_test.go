package e2e

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// restartContainer makes pod look as if its kubelet restarted its first
// container (kwok, which plays the kubelet, never does): restarts times in
// all, the last one ended at.
func restartContainer(t *testing.T, p *corev1.Pod, restarts int, at time.Time) {
	t.Helper()
	patch := fmt.Sprintf(`{"status":{"containerStatuses":[{"name":%q,"image":%q,"ready":true,"restartCount":%d,"state":{"running":{}},`+
		`"lastState":{"terminated":{"exitCode":1,"reason":"Error","finishedAt":%q}}}]}}`,
		p.Spec.Containers[0].Name, p.Spec.Containers[0].Image, restarts, at.UTC().Format(time.RFC3339))
	if err := k8s.Status().Patch(context.Background(), p, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

// uids are the UIDs of the pods of a group.
func uids(t *testing.T, ns, group string) map[types.UID]bool {
	t.Helper()
	out := map[types.UID]bool{}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group}) {
		out[p.UID] = true
	}
	return out
}

// wantEvent waits for an event of reason about the object.
func wantEvent(t *testing.T, ns, name, reason string) {
	t.Helper()
	eventually(t, "event "+reason+" of "+name, 60*time.Second, func() error {
		out := kubectl(t, "get", "events.events.k8s.io", "-n", ns, "--field-selector", "reason="+reason+",regarding.name="+name, "-o", "name")
		if out == "" {
			return fmt.Errorf("no %s event", reason)
		}
		return nil
	})
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
	restartContainer(t, &decode, 1, time.Now())
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

	// A second restart right away waits for the 10 s backoff, and says so.
	var prefill corev1.Pod
	if err := get(ns, "rg-prefill-0", &prefill); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &prefill, 1, time.Now())
	wantEvent(t, ns, "rg", "RecreationDelayed")
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

// Switching a group from None to RecreateGroup does not recreate it for a
// restart from before the switch; a restart after it does; past maxRestarts
// the group says so until its spec changes.
func TestRecreateGroupFromTheSwitchOn(t *testing.T) {
	ns := namespace(t, "e2e-switch")
	g := wrappers.MakeGroup("sw", ns).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "sw", "decode", 1)
	groupPhase(t, ns, "sw", rbgsv1.PhaseRunning)
	var decode corev1.Pod
	if err := get(ns, "sw-decode-0", &decode); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &decode, 1, time.Now().Add(-time.Minute))
	before := uids(t, ns, "sw")

	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.RestartPolicy, g.Spec.MaxRestarts = rbgsv1.RestartRecreateGroup, new(int32(1))
	})
	// The status at the new generation records when the policy took effect:
	// the reconcile that wrote it looked at the restarted pod and let it be.
	got := groupPhase(t, ns, "sw", rbgsv1.PhaseRunning)
	if got.Status.Roles[1].RecreateSince == nil || got.Status.Restarts != 0 {
		t.Fatalf("after the switch: roles %+v, restarts %d", got.Status.Roles, got.Status.Restarts)
	}
	if now := uids(t, ns, "sw"); !maps.Equal(now, before) {
		t.Errorf("pods recreated for a restart from before the switch")
	}

	// A restart after the switch recreates the group.
	if err := get(ns, "sw-decode-0", &decode); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &decode, 2, time.Now())
	eventually(t, "recreated", 60*time.Second, func() error {
		if err := get(ns, "sw", got); err != nil {
			return err
		}
		if got.Status.Restarts != 1 {
			return fmt.Errorf("restarts %d", got.Status.Restarts)
		}
		return nil
	})
	roleReady(t, ns, "sw", "decode", 1)

	// maxRestarts 1 reached: the next restart is left alone, and said so
	// until the spec changes.
	if err := get(ns, "sw-decode-0", &decode); err != nil {
		t.Fatal(err)
	}
	restartContainer(t, &decode, 1, time.Now())
	eventually(t, "RestartLimitReached", 60*time.Second, func() error {
		if err := get(ns, "sw", got); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionRestartLimitReached)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("conditions %+v", got.Status.Conditions)
		}
		return nil
	})
	wantEvent(t, ns, "sw", "RestartLimitReached")
	if got.Status.Restarts != 1 {
		t.Errorf("recreated past maxRestarts: restarts %d", got.Status.Restarts)
	}
	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.MaxRestarts = new(int32(3)) })
	eventually(t, "limit lifted by the spec change", 60*time.Second, func() error {
		if err := get(ns, "sw", got); err != nil {
			return err
		}
		if c := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionRestartLimitReached); c != nil || got.Status.Restarts != 2 {
			return fmt.Errorf("restarts %d, condition %+v", got.Status.Restarts, c)
		}
		return nil
	})
}

// A member of a multi-pod instance replaced while the operator was not
// running (an upgrade, a failover) is known by its age once it runs
// again: the replacement came long after its leader turned Ready, and
// the instance is recreated at once, uncounted.
func TestMemberReplacedWhileTheOperatorWasDown(t *testing.T) {
	ns := namespace(t, "e2e-replaced-unseen")
	g := wrappers.MakeGroup("md", ns).Role("worker", 1).Size(2).Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "md", "worker", 2)
	groupPhase(t, ns, "md", rbgsv1.PhaseRunning)

	// The leader has served for two minutes (its Ready condition says
	// so), and the operator stops.
	leader := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "md-worker-0-0", Namespace: ns}}
	patch := fmt.Sprintf(`{"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":%q}]}}`,
		time.Now().Add(-2*time.Minute).UTC().Format(time.RFC3339))
	if err := k8s.Status().Patch(context.Background(), leader, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
	op.stop(false, false)
	operatorDown := true
	t.Cleanup(func() {
		if operatorDown {
			restartOperator(t, false)
		}
	})

	// Meanwhile its worker goes, and the StatefulSet puts another in its
	// place.
	var worker corev1.Pod
	if err := get(ns, "md-worker-0-1", &worker); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(context.Background(), &worker); err != nil {
		t.Fatal(err)
	}
	var replaced map[types.UID]bool
	eventually(t, "the worker replaced and Ready", 60*time.Second, func() error {
		ps := roleReady(t, ns, "md", "worker", 2)
		replaced = map[types.UID]bool{}
		for _, p := range ps {
			replaced[p.UID] = true
		}
		if replaced[worker.UID] {
			return fmt.Errorf("the old worker is still there")
		}
		return nil
	})

	restartOperator(t, false)
	operatorDown = false
	eventually(t, "the instance recreated", 60*time.Second, func() error {
		for _, p := range roleReady(t, ns, "md", "worker", 2) {
			if replaced[p.UID] {
				return fmt.Errorf("pod %s not recreated", p.Name)
			}
		}
		return nil
	})
	got := groupPhase(t, ns, "md", rbgsv1.PhaseRunning)
	if l := got.Status.LastRestart; got.Status.RecentRestarts != 0 || l == nil ||
		!strings.Contains(l.Reason, "after md-worker-0-0 was Ready") || !strings.Contains(l.Reason, "not counted toward maxRestarts") {
		t.Errorf("restarts %d, recent %d, last %+v", got.Status.Restarts, got.Status.RecentRestarts, l)
	}
}
