package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/wrappers"
)

// podUIDs are the UIDs of the pods of role in every group of set.
func podUIDs(t *testing.T, ns, set, role string) []string {
	t.Helper()
	var out []string
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: set, rbgsv1.LabelRole: role}) {
		out = append(out, string(p.UID))
	}
	slices.Sort(out)
	return out
}

// setManifest is a set of 2 groups as a user keeps it in git: prefill at
// prefill replicas, decode at decode ("" leaves the field out).
func setManifest(ns string, prefill int, decode string) string {
	if decode != "" {
		decode = "\n        replicas: " + decode
	}
	return fmt.Sprintf(`apiVersion: openpatio.io/v1alpha1
kind: RoleBasedGroupSet
metadata:
  name: demo-group
  namespace: %s
spec:
  replicas: 2
  groupTemplate:
    roles:
      - role: prefill
        replicas: %d
        template:
          spec:
            containers: [{name: main, image: %s}]
      - role: decode%s
        dependencies: [prefill]
        template:
          spec:
            containers: [{name: main, image: %s}]
`, ns, prefill, wrappers.Image, decode, wrappers.Image)
}

// applyManifest runs a client-side kubectl apply of manifest.
func applyManifest(t *testing.T, manifest string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "set.yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-f", f)
}

// decodeWrites records, until stop, the decode replicas of every version of
// the set's groups and decode StatefulSets the API server stores.
func decodeWrites(t *testing.T, ns string) (stop func() []string) {
	t.Helper()
	scheme, err := rbgsscheme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var groups rbgsv1.RoleBasedGroupList
	gw, err := c.Watch(ctx, &groups, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	var sets appsv1.StatefulSetList
	sw, err := c.Watch(ctx, &sets, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelRole: "decode"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen []string
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		for e := range gw.ResultChan() {
			if g, ok := e.Object.(*rbgsv1.RoleBasedGroup); ok {
				for _, r := range g.Spec.Roles {
					if r.Role == "decode" {
						mu.Lock()
						seen = append(seen, fmt.Sprintf("group %s %d", g.Name, r.ReplicasOrDefault()))
						mu.Unlock()
					}
				}
			}
		}
	})
	wg.Go(func() {
		for e := range sw.ResultChan() {
			if s, ok := e.Object.(*appsv1.StatefulSet); ok {
				mu.Lock()
				seen = append(seen, fmt.Sprintf("statefulset %s %d", s.Name, *s.Spec.Replicas))
				mu.Unlock()
			}
		}
	})
	return func() []string {
		cancel()
		gw.Stop()
		sw.Stop()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// A RoleScaler counts decode's instances across the groups of a set: with
// kubectl scale, each group runs its share and nothing else restarts; a
// client-side kubectl apply of the set's manifest with another count (or
// none) never reaches a group or a StatefulSet; and the cluster's real
// HorizontalPodAutoscaler, fed per-pod metrics, computes in those units.
func TestRoleScaler(t *testing.T) {
	ns := namespace(t, "e2e-scaler")
	applyManifest(t, setManifest(ns, 1, "1"))
	setRunning(t, ns, "demo-group", 2)
	prefill := podUIDs(t, ns, "demo-group", "prefill")
	decode := podUIDs(t, ns, "demo-group", "decode")
	if len(prefill) != 2 || len(decode) != 2 {
		t.Fatalf("pods: prefill %v, decode %v", prefill, decode)
	}
	rs := &rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-group-decode"},
		Spec: rbgsv1.RoleScalerSpec{
			TargetRef: rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetSet, Name: "demo-group"}, Role: "decode", Replicas: 2,
		},
	}
	if err := k8s.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	scalerReady(t, ns, "demo-group-decode", 2)

	// scale scales decode to total with kubectl and waits for every group to
	// run its share, with the prefill pods of prefill untouched.
	// The set stays Ready while decode scales: its groups keep serving
	// what they served.
	scale := func(total int32, share int, prefill []string) {
		t.Helper()
		var mu sync.Mutex
		samples, unready := 0, 0
		stop := sampleEvery(t, 20*time.Millisecond, func() {
			var s rbgsv1.RoleBasedGroupSet
			if err := get(ns, "demo-group", &s); err != nil {
				return
			}
			c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
			mu.Lock()
			samples++
			if c == nil || c.Status != metav1.ConditionTrue {
				unready++
			}
			mu.Unlock()
		})
		kubectl(t, "-n", ns, "scale", "rolescaler/demo-group-decode", fmt.Sprintf("--replicas=%d", total))
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "decode", share)
		}
		setRunning(t, ns, "demo-group", 2)
		stop()
		if unready > 0 || samples == 0 {
			t.Errorf("the set was not Ready in %d of %d samples while decode scaled to %d", unready, samples, total)
		}
		scalerReady(t, ns, "demo-group-decode", int32(2*share))
		if got := podUIDs(t, ns, "demo-group", "prefill"); !slices.Equal(got, prefill) {
			t.Errorf("prefill pods replaced by a scale of decode to %d: %v, were %v", total, got, prefill)
		}
	}

	scale(5, 3, prefill) // ceil(5 / 2) in each group
	if got := podUIDs(t, ns, "demo-group", "decode"); len(got) != 6 || !containsAll(got, decode) {
		t.Errorf("decode pods %v: want 6, the first 2 kept (%v)", got, decode)
	}
	// The selector matches one pod per instance counted.
	if got := len(pods(t, ns, map[string]string{rbgsv1.LabelSetName: "demo-group", rbgsv1.LabelRole: "decode"})); got != 6 {
		t.Errorf("the selector matches %d pods, want status.replicas 6", got)
	}
	// kubectl sees the same through the printer columns and the plugin.
	if out := kubectl(t, "-n", ns, "get", "rolescaler", "demo-group-decode", "--no-headers"); !strings.Contains(strings.Join(strings.Fields(out), " "), "demo-group decode 5 6 6") {
		t.Errorf("kubectl get rolescaler: %s", out)
	}
	if out := plugin(t, "-n", ns, "status", "demo-group"); !strings.Contains(out, "scaled by rolescaler/demo-group-decode") {
		t.Errorf("kubectl rbgs status does not name the RoleScaler:\n%s", out)
	}

	t.Run("a client-side apply of the manifest", func(t *testing.T) {
		writes := decodeWrites(t, ns)
		for i, decode := range []string{"1", "", "4"} {
			n := 1 + (i+1)%2
			applyManifest(t, setManifest(ns, n, decode))
			// Proof the set passed the edit on: prefill follows.
			for _, g := range []string{"demo-group-0", "demo-group-1"} {
				roleReady(t, ns, g, "prefill", n)
			}
			setRunning(t, ns, "demo-group", 2)
		}
		seen := writes()
		for _, w := range seen {
			if !strings.HasSuffix(w, " 3") {
				t.Errorf("decode written at another count than the RoleScaler's share: %s", w)
			}
		}
		if len(seen) == 0 {
			t.Error("no write of a group or a decode StatefulSet recorded: the recorder saw nothing")
		}
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "decode", 3)
		}
	})
	prefill = podUIDs(t, ns, "demo-group", "prefill")

	t.Run("a real HorizontalPodAutoscaler", func(t *testing.T) {
		// 2 instances in each group, each pod 12 in-flight requests against
		// a target of 10: the HPA asks ceil(1.2 x 4) = 5 instances in all,
		// 3 in each group: 6 pods, not 5 in each.
		scale(4, 2, prefill)
		serveCustomMetrics(t, "inflight_requests", func(*corev1.Pod) resource.Quantity { return resource.MustParse("12") })
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-group-decode"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: rbgsv1.GroupVersion.String(), Kind: "RoleScaler", Name: "demo-group-decode"},
				MinReplicas:    new(int32(1)), MaxReplicas: 5,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "inflight_requests"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: new(resource.MustParse("10"))},
				}}},
			},
		}
		if err := k8s.Create(context.Background(), hpa); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = k8s.Delete(context.Background(), hpa) })
		eventually(t, "the HPA scales decode to 5", 90*time.Second, func() error {
			var got rbgsv1.RoleScaler
			if err := get(ns, rs.Name, &got); err != nil {
				return err
			}
			if got.Spec.Replicas != 5 {
				return fmt.Errorf("RoleScaler replicas %d", got.Spec.Replicas)
			}
			return nil
		})
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "decode", 3)
		}
		scalerReady(t, ns, "demo-group-decode", 6)
		// The HPA reads its current replicas from the scale's spec, and
		// averages the metric over the 6 pods the selector matches now.
		eventually(t, "the HPA reports what it scaled", 60*time.Second, func() error {
			var h autoscalingv2.HorizontalPodAutoscaler
			if err := get(ns, hpa.Name, &h); err != nil {
				return err
			}
			if h.Status.DesiredReplicas != 5 || h.Status.CurrentReplicas != 5 || len(h.Status.CurrentMetrics) != 1 ||
				h.Status.CurrentMetrics[0].Pods == nil || h.Status.CurrentMetrics[0].Pods.Current.AverageValue.Cmp(resource.MustParse("12")) != 0 {
				return fmt.Errorf("desired %d, current %d, metrics %+v", h.Status.DesiredReplicas, h.Status.CurrentReplicas, h.Status.CurrentMetrics)
			}
			return nil
		})
		if got := len(pods(t, ns, map[string]string{rbgsv1.LabelSetName: "demo-group", rbgsv1.LabelRole: "decode"})); got != 6 {
			t.Errorf("%d decode pods, want 6", got)
		}
		if err := k8s.Delete(context.Background(), hpa); err != nil {
			t.Fatal(err)
		}
	})

	scale(2, 1, prefill)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// scalerReady waits until the RoleScaler reports replicas Ready instances
// over its target's groups, every group at its share.
func scalerReady(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("RoleScaler %s Scaled at %d", name, replicas), 60*time.Second, func() error {
		var rs rbgsv1.RoleScaler
		if err := get(ns, name, &rs); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(rs.Status.Conditions, rbgsv1.ConditionReady)
		if c == nil || c.Reason != rbgsv1.ReasonScaled || rs.Status.Replicas != replicas || rs.Status.ReadyReplicas != replicas ||
			rs.Status.ObservedGeneration != rs.Generation {
			return fmt.Errorf("status %+v", rs.Status)
		}
		return nil
	})
}
