package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
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

// A RoleScaler scales decode in every group of a set with kubectl scale,
// restarting nothing else, and a real HorizontalPodAutoscaler can drive it.
func TestRoleScaler(t *testing.T) {
	ns := namespace(t, "e2e-scaler")
	s := wrappers.MakeSet("demo-group", ns).Replicas(2).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "demo-group", 2)
	prefill := podUIDs(t, ns, "demo-group", "prefill")
	decode := podUIDs(t, ns, "demo-group", "decode")
	if len(prefill) != 2 || len(decode) != 2 {
		t.Fatalf("pods: prefill %v, decode %v", prefill, decode)
	}
	rs := &rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-group-decode"},
		Spec: rbgsv1.RoleScalerSpec{
			TargetRef: rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetSet, Name: "demo-group"}, Role: "decode", Replicas: 1,
		},
	}
	if err := k8s.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}

	// scale scales decode with kubectl and waits for every group to run it,
	// with the prefill pods untouched.
	scale := func(n int32) {
		t.Helper()
		kubectl(t, "-n", ns, "scale", "rolescaler/demo-group-decode", fmt.Sprintf("--replicas=%d", n))
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "decode", int(n))
		}
		setRunning(t, ns, "demo-group", 2)
		scalerReady(t, ns, "demo-group-decode", n)
		if got := podUIDs(t, ns, "demo-group", "prefill"); !slices.Equal(got, prefill) {
			t.Errorf("prefill pods replaced by a scale of decode to %d: %v, were %v", n, got, prefill)
		}
	}

	scale(3)
	if got := podUIDs(t, ns, "demo-group", "decode"); len(got) != 6 || !containsAll(got, decode) {
		t.Errorf("decode pods %v: want 6, the first 2 kept (%v)", got, decode)
	}
	// kubectl sees the same through the printer columns and the plugin.
	if out := kubectl(t, "-n", ns, "get", "rolescaler", "demo-group-decode", "--no-headers"); !strings.Contains(strings.Join(strings.Fields(out), " "), "demo-group decode 3 3 3") {
		t.Errorf("kubectl get rolescaler: %s", out)
	}
	if out := plugin(t, "-n", ns, "status", "demo-group"); !strings.Contains(out, "scaled by rolescaler/demo-group-decode") {
		t.Errorf("kubectl rbgs status does not name the RoleScaler:\n%s", out)
	}

	// A real HorizontalPodAutoscaler targeting the RoleScaler: the cluster's
	// HPA controller reads its scale subresource (AbleToScale). The local
	// cluster has no metrics server, so it can go no further.
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "demo-group-decode"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: rbgsv1.GroupVersion.String(), Kind: "RoleScaler", Name: "demo-group-decode"},
			MinReplicas:    new(int32(1)), MaxReplicas: 8,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: new(int32(70))},
			}}},
		},
	}
	if err := k8s.Create(context.Background(), hpa); err != nil {
		t.Fatal(err)
	}
	eventually(t, "HPA AbleToScale", 90*time.Second, func() error {
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := get(ns, hpa.Name, &h); err != nil {
			return err
		}
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.AbleToScale && c.Status == corev1.ConditionTrue {
				if h.Status.CurrentReplicas != 3 {
					return fmt.Errorf("AbleToScale, but current replicas %d", h.Status.CurrentReplicas)
				}
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", h.Status.Conditions)
	})
	if err := k8s.Delete(context.Background(), hpa); err != nil {
		t.Fatal(err)
	}

	scale(1)
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// scalerReady waits until the RoleScaler reports replicas Ready replicas in
// every group.
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
