package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// gpuNode adds a fake node with 8 GPUs in rack, reserved (label and taint
// pool) for one test's pods, and deletes it when the test ends.
func gpuNode(t *testing.T, name, pool, rack string) {
	t.Helper()
	gpus := resource.MustParse("8")
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{"type": "kwok", "kubernetes.io/hostname": name, "rbgs-e2e/pool": pool, "topology.kubernetes.io/rack": rack}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "rbgs-e2e/pool", Value: pool, Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{"cpu": resource.MustParse("100"), "memory": resource.MustParse("1Ti"), "pods": resource.MustParse("110"), "nvidia.com/gpu": gpus},
			Capacity:    corev1.ResourceList{"cpu": resource.MustParse("100"), "memory": resource.MustParse("1Ti"), "pods": resource.MustParse("110"), "nvidia.com/gpu": gpus},
		},
	}
	if err := k8s.Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), n) })
}

// onPool makes a role's pods need a whole node of pool: 8 GPUs each.
func onPool(r *rbgsv1.RoleSpec, pool string) {
	spec := &r.Template.Spec
	spec.NodeSelector = map[string]string{"rbgs-e2e/pool": pool}
	spec.Tolerations = []corev1.Toleration{{Key: "rbgs-e2e/pool", Operator: corev1.TolerationOpEqual, Value: pool, Effect: corev1.TaintEffectNoSchedule}}
	spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("8")}
}

// bound lists the pods of a group that the scheduler placed, by node.
func bound(t *testing.T, ns, group string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group}) {
		if p.Spec.NodeName != "" {
			out[p.Name] = p.Spec.NodeName
		}
	}
	return out
}

// gangsCondition waits for the group's GangsScheduled condition to have
// reason, and returns it.
func gangsCondition(t *testing.T, ns, group, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	eventually(t, group+" GangsScheduled "+reason, 90*time.Second, func() error {
		var g rbgsv1.RoleBasedGroup
		if err := get(ns, group, &g); err != nil {
			return err
		}
		c = apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionGangsScheduled)
		if c == nil || c.Reason != reason {
			return fmt.Errorf("GangsScheduled %+v", c)
		}
		return nil
	})
	return c
}

// Gang scheduling on the real kube-scheduler (Workload API, PodGroups).
func TestGangScheduling(t *testing.T) {
	ns := namespace(t, "e2e-gang")

	t.Run("an instance is placed all together or not at all", func(t *testing.T) {
		pool := ns + "-a"
		gpuNode(t, pool+"-0", pool, "r1")
		gpuNode(t, pool+"-1", pool, "r1")
		g := wrappers.MakeGroup("gang", ns).Role("decode", 1).Size(3).Obj()
		g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangInstance}
		onPool(&g.Spec.Roles[0], pool)
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		var pg schedulingv1beta1.PodGroup
		eventually(t, "PodGroup gang-decode-0", 30*time.Second, func() error { return get(ns, "gang-decode-0", &pg) })
		if pg.Spec.SchedulingPolicy.Gang == nil || pg.Spec.SchedulingPolicy.Gang.MinCount != 3 {
			t.Errorf("PodGroup %+v", pg.Spec)
		}
		// The scheduler tried, and says the gang does not fit: 3 pods of 8
		// GPUs on 2 nodes of 8.
		c := gangsCondition(t, ns, "gang", "Unschedulable")
		if c.Status != metav1.ConditionFalse || c.Message == "" {
			t.Errorf("condition %+v", c)
		}
		if b := bound(t, ns, "gang"); len(b) != 0 {
			t.Errorf("pods bound while the gang cannot be placed: %v", b)
		}
		if out := plugin(t, "-n", ns, "status", "gang"); !strings.Contains(out, "instance 0 of role decode (PodGroup gang-decode-0) cannot be placed") {
			t.Errorf("kubectl rbgs status does not say the gang cannot be placed:\n%s", out)
		}

		// Without the gang, the same pods are placed one by one: 2 of 3.
		loose := wrappers.MakeGroup("loose", ns).Role("decode", 1).Size(3).Obj()
		onPool(&loose.Spec.Roles[0], pool)
		if err := k8s.Create(context.Background(), loose); err != nil {
			t.Fatal(err)
		}
		eventually(t, "2 pods of the gangless group bound", 60*time.Second, func() error {
			if b := bound(t, ns, "loose"); len(b) != 2 {
				return fmt.Errorf("bound %v", b)
			}
			return nil
		})
		if err := k8s.Delete(context.Background(), loose); err != nil {
			t.Fatal(err)
		}
		gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "loose"})
		if b := bound(t, ns, "gang"); len(b) != 0 {
			t.Errorf("gang pods bound once the gangless group left 2 nodes free: %v", b)
		}

		// A third node: the 3 pods are placed together and the role turns
		// Ready.
		gpuNode(t, pool+"-2", pool, "r1")
		roleReady(t, ns, "gang", "decode", 3)
		groupPhase(t, ns, "gang", rbgsv1.PhaseRunning)
		gangsCondition(t, ns, "gang", "Scheduled")
		if b := bound(t, ns, "gang"); len(b) != 3 || b["gang-decode-0-0"] == b["gang-decode-0-1"] {
			t.Errorf("bound %v", b)
		}
	})

	t.Run("every instance within one rack", func(t *testing.T) {
		pool := ns + "-b"
		for i, rack := range []string{"r1", "r2", "r1", "r2"} {
			gpuNode(t, fmt.Sprintf("%s-%d", pool, i), pool, rack)
		}
		g := wrappers.MakeGroup("packed", ns).Role("decode", 2).Size(2).Obj()
		g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangInstance, TopologyKey: "topology.kubernetes.io/rack"}
		onPool(&g.Spec.Roles[0], pool)
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		roleReady(t, ns, "packed", "decode", 4)
		var pg schedulingv1beta1.PodGroup
		if err := get(ns, "packed-decode-1", &pg); err != nil || pg.Spec.SchedulingConstraints == nil ||
			pg.Spec.SchedulingConstraints.Topology[0].Key != "topology.kubernetes.io/rack" {
			t.Fatalf("PodGroup %v %+v", err, pg.Spec)
		}
		rackOf := func(node string) string {
			var n corev1.Node
			if err := get("", node, &n); err != nil {
				t.Fatal(err)
			}
			return n.Labels["topology.kubernetes.io/rack"]
		}
		inOneRack := func(instances ...int) {
			t.Helper()
			b := bound(t, ns, "packed")
			for _, i := range instances {
				a, c := rackOf(b[fmt.Sprintf("packed-decode-%d-0", i)]), rackOf(b[fmt.Sprintf("packed-decode-%d-1", i)])
				if a == "" || a != c {
					t.Errorf("instance %d spread over racks %q and %q (%v)", i, a, c, b)
				}
			}
		}
		inOneRack(0, 1)
		uids := func(instance int) string {
			var out []string
			for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "packed", rbgsv1.LabelInstance: fmt.Sprint(instance)}) {
				out = append(out, string(p.UID))
			}
			return strings.Join(out, ",")
		}
		first := uids(0)
		if strings.Count(first, ",") != 1 {
			t.Fatalf("instance 0 has pods %q, want 2", first)
		}

		// A key no instance fits in (a host holds one of these pods): the
		// PodGroups cannot change, so each instance is replaced, one at a
		// time, with a new PodGroup. Instance 1 goes first and cannot be
		// placed again, which the group says; instance 0 keeps serving.
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Scheduling.TopologyKey = "kubernetes.io/hostname" })
		c := gangsCondition(t, ns, "packed", "Unschedulable")
		if !strings.Contains(c.Message, "instance 1 of role decode (PodGroup packed-decode-1) cannot be placed") {
			t.Errorf("condition %+v does not name instance 1", c)
		}
		if err := get(ns, "packed-decode-1", &pg); err != nil || pg.Spec.SchedulingConstraints.Topology[0].Key != "kubernetes.io/hostname" {
			t.Fatalf("PodGroup packed-decode-1 %v %+v", err, pg.Spec.SchedulingConstraints)
		}
		if got := uids(0); got != first {
			t.Errorf("instance 0 replaced while instance 1 was down: pods %s, were %s", got, first)
		}

		// Back to racks: instance 1 is placed again, as a gang within one
		// rack; instance 0, whose PodGroup never changed, is left alone.
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Scheduling.TopologyKey = "topology.kubernetes.io/rack" })
		roleReady(t, ns, "packed", "decode", 4)
		gangsCondition(t, ns, "packed", "Scheduled")
		inOneRack(0, 1)
		if got := uids(0); got != first {
			t.Errorf("instance 0 replaced though its PodGroup fits the role: pods %s, were %s", got, first)
		}
	})

	t.Run("a role gang follows its scale", func(t *testing.T) {
		g := wrappers.MakeGroup("whole", ns).Role("prefill", 2).Obj()
		g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangRole}
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		roleReady(t, ns, "whole", "prefill", 2)
		minCount := func(want int32) {
			t.Helper()
			eventually(t, fmt.Sprintf("minCount %d", want), 30*time.Second, func() error {
				var pg schedulingv1beta1.PodGroup
				if err := get(ns, "whole-prefill", &pg); err != nil {
					return err
				}
				if got := pg.Spec.SchedulingPolicy.Gang.MinCount; got != want {
					return fmt.Errorf("minCount %d", got)
				}
				return nil
			})
		}
		minCount(2)
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(3)) })
		minCount(3)
		roleReady(t, ns, "whole", "prefill", 3)
		groupPhase(t, ns, "whole", rbgsv1.PhaseRunning)
		for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "whole"}) {
			if sg := p.Spec.SchedulingGroup; sg == nil || *sg.PodGroupName != "whole-prefill" {
				t.Errorf("pod %s scheduling group %+v", p.Name, sg)
			}
		}
	})

	t.Run("a role scaled to 0 and back while its gang is still being deleted", func(t *testing.T) {
		g := &rbgsv1.RoleBasedGroup{}
		if err := get(ns, "whole", g); err != nil {
			t.Fatal(err)
		}
		// kube-controller-manager keeps a PodGroup while a pod uses it:
		// scaled back at once, the role waits for it to go, and comes back
		// in a new one.
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(0)) })
		eventually(t, "the role at 0 and its gang going", 30*time.Second, func() error {
			var sts appsv1.StatefulSet
			if err := get(ns, "whole-prefill", &sts); err != nil {
				return err
			}
			var pg schedulingv1beta1.PodGroup
			if err := get(ns, "whole-prefill", &pg); err == nil && pg.DeletionTimestamp == nil {
				return fmt.Errorf("PodGroup not deleted")
			}
			if *sts.Spec.Replicas != 0 {
				return fmt.Errorf("replicas %d", *sts.Spec.Replicas)
			}
			return nil
		})
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(2)) })
		roleReady(t, ns, "whole", "prefill", 2)
		groupPhase(t, ns, "whole", rbgsv1.PhaseRunning)
		gangsCondition(t, ns, "whole", "Scheduled")
		removed := 0
		var l eventsv1.EventList
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range l.Items {
			if e.Regarding.Name == "whole" && e.Reason == "RoleRemoved" {
				if strings.Contains(e.Note, "its role left the spec") {
					t.Errorf("a scale to 0 reported as a role gone: %s", e.Note)
				}
				removed++
				if e.Series != nil {
					removed += int(e.Series.Count) - 1
				}
			}
		}
		if removed > 1 {
			t.Errorf("the PodGroup deleted %d times, want once", removed)
		}
	})

	t.Run("a gang of the whole role added to a role that runs", func(t *testing.T) {
		g := wrappers.MakeGroup("late", ns).Role("router", 3).Obj()
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		roleReady(t, ns, "late", "router", 3)
		// Its pods move to the gang all together: none is left outside it
		// beside pods in it, and the update does not stall.
		update(t, g, func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangRole}
		})
		eventually(t, "every router pod in the gang", 90*time.Second, func() error {
			ps := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "late"})
			in := 0
			for _, p := range ps {
				if ok, _ := podReady(&p); ok && p.Spec.SchedulingGroup != nil && *p.Spec.SchedulingGroup.PodGroupName == "late-router" {
					in++
				}
			}
			if in != 3 || len(ps) != 3 {
				return fmt.Errorf("%d of %d pods Ready in the gang", in, len(ps))
			}
			return nil
		})
		groupPhase(t, ns, "late", rbgsv1.PhaseRunning)
		gangsCondition(t, ns, "late", "Scheduled")
	})
}
