package integration

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// A role of size 3 with 2 instances creates what the layout says; scaling
// it adds an instance and touches no other role or instance; a template
// change replaces one instance at a time while the others keep theirs.
func TestMultiPodLayout(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("lay", ns).Role("router", 1).Role("decode", 2).Size(3).Obj()
	create(t, g)
	for _, name := range []string{"lay-decode-0", "lay-decode-1"} {
		eventually(t, "instance "+name, func() error { return exists(t, ns, name, &appsv1.StatefulSet{}) })
		var s appsv1.StatefulSet
		if err := get(t, ns, name, &s); err != nil {
			t.Fatal(err)
		}
		if *s.Spec.Replicas != 3 || s.Spec.ServiceName != "lay-decode" || s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement ||
			s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType || s.Labels[rbgsv1.LabelInstance] != name[len(name)-1:] {
			t.Errorf("%s: %+v", name, s.Spec)
		}
	}
	for _, absentName := range []string{"lay-decode", "lay-decode-2"} {
		if err := absent(t, ns, absentName, &appsv1.StatefulSet{}); err != nil {
			t.Errorf("%s: %v", absentName, err)
		}
	}
	if err := exists(t, ns, "lay-decode", &corev1.Service{}); err != nil {
		t.Error(err)
	}
	for i, want := range map[string][]string{
		"lay-rbgs-cluster":          {"cluster.yaml", "router.0.yaml"},
		"lay-rbgs-cluster-decode-0": {"cluster.yaml", "decode.0.0.yaml", "decode.0.1.yaml", "decode.0.2.yaml"},
		"lay-rbgs-cluster-decode-1": {"cluster.yaml", "decode.1.0.yaml", "decode.1.1.yaml", "decode.1.2.yaml"},
	} {
		eventually(t, "ConfigMap "+i, func() error {
			var cm corev1.ConfigMap
			if err := get(t, ns, i, &cm); err != nil {
				return err
			}
			if got := slices.Sorted(maps.Keys(cm.Data)); !slices.Equal(got, want) {
				return fmt.Errorf("keys %v", got)
			}
			return nil
		})
	}
	for _, name := range []string{"lay-router", "lay-decode-0", "lay-decode-1"} {
		markStatefulSetReady(t, ns, name)
	}
	running := groupPhase(t, ns, "lay", rbgsv1.PhaseRunning)
	if r := running.Status.Roles[1]; r.Size != 3 || r.ReadyReplicas != 2 {
		t.Errorf("decode status %+v", r)
	}

	// Scaling decode to 3 instances adds lay-decode-2 and leaves the other
	// workloads as they were.
	before := versions(t, ns)
	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Replicas = new(int32(3)) })
	eventually(t, "instance 2", func() error { return exists(t, ns, "lay-decode-2", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "lay-decode-2")
	groupPhase(t, ns, "lay", rbgsv1.PhaseRunning)
	after := versions(t, ns)
	for _, name := range []string{"StatefulSet/lay-router", "StatefulSet/lay-decode-0", "StatefulSet/lay-decode-1", "Service/lay-router", "Service/lay-decode"} {
		if before[name] != after[name] {
			t.Errorf("%s written by a scale of decode", name)
		}
	}

	// A new image: instance 2 first, emptied of its pods with the new
	// template; 0 and 1 keep theirs until it is Ready again.
	image := func(name string) (string, int32) {
		var s appsv1.StatefulSet
		if err := get(t, ns, name, &s); err != nil {
			t.Fatal(err)
		}
		return s.Spec.Template.Spec.Containers[0].Image, *s.Spec.Replicas
	}
	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles[1].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
	})
	eventually(t, "instance 2 refilled with v2", func() error {
		if img, n := image("lay-decode-2"); img != "registry.example.com/llm-server:v2" || n != 3 {
			return fmt.Errorf("instance 2 at %s with %d pods", img, n)
		}
		return nil
	})
	for _, name := range []string{"lay-decode-0", "lay-decode-1"} {
		if img, n := image(name); img != wrappers.Image || n != 3 {
			t.Errorf("%s at %s with %d pods while instance 2 is replaced", name, img, n)
		}
	}
	// The StatefulSet controller's part, played here: each instance's pods
	// come up at whatever template it has.
	eventually(t, "every instance at v2", func() error {
		for _, name := range []string{"lay-decode-0", "lay-decode-1", "lay-decode-2"} {
			markStatefulSetReady(t, ns, name)
		}
		for _, name := range []string{"lay-decode-0", "lay-decode-1", "lay-decode-2"} {
			if img, n := image(name); img != "registry.example.com/llm-server:v2" || n != 3 {
				return fmt.Errorf("%s at %s with %d pods", name, img, n)
			}
		}
		return nil
	})
	groupPhase(t, ns, "lay", rbgsv1.PhaseRunning)
}
