package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/wrappers"
)

const rack = "topology.kubernetes.io/rack"

// podGroupOf reads PodGroup name, or fails the test.
func podGroupOf(t *testing.T, ns, name string) *schedulingv1beta1.PodGroup {
	t.Helper()
	var pg schedulingv1beta1.PodGroup
	if err := get(t, ns, name, &pg); err != nil {
		t.Fatal(err)
	}
	return &pg
}

// schedulingGroup is the gang the pods of StatefulSet name join, "" for none.
func schedulingGroup(t *testing.T, ns, name string) string {
	t.Helper()
	var s appsv1.StatefulSet
	if err := get(t, ns, name, &s); err != nil {
		t.Fatal(err)
	}
	if sg := s.Spec.Template.Spec.SchedulingGroup; sg != nil && sg.PodGroupName != nil {
		return *sg.PodGroupName
	}
	return ""
}

// placeGang plays a StatefulSet and the scheduler for the pods of a gang
// (envtest runs neither): it creates, once, pod k of workload sts for each
// k below n, with the labels of role (and instance, unless negative) of
// group, joining PodGroup gang, then says through their PodScheduled
// conditions whether the scheduler placed them.
func placeGang(t *testing.T, ns, group, role string, instance int, sts, gang string, n int, status corev1.ConditionStatus, reason, message string) {
	t.Helper()
	for k := range n {
		name := fmt.Sprintf("%s-%d", sts, k)
		labels := map[string]string{rbgsv1.LabelGroupName: group, rbgsv1.LabelRole: role, appsv1.PodIndexLabel: strconv.Itoa(k)}
		if instance >= 0 {
			labels[rbgsv1.LabelInstance] = strconv.Itoa(instance)
		}
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: corev1.PodSpec{
			Containers:      []corev1.Container{{Name: "main", Image: wrappers.Image}},
			SchedulingGroup: &corev1.PodSchedulingGroup{PodGroupName: &gang},
		}}
		if err := k8s.Create(context.Background(), p); client.IgnoreAlreadyExists(err) != nil {
			t.Fatal(err)
		}
		eventually(t, "placing pod "+name, func() error {
			if err := get(t, ns, name, p); err != nil {
				return err
			}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: status, Reason: reason, Message: message}}
			return k8s.Status().Update(context.Background(), p)
		})
	}
}

// gangsCondition waits until the group's GangsScheduled condition has
// reason, at its generation, and a message saying each of says.
func gangsCondition(t *testing.T, ns, name, reason string, says ...string) *metav1.Condition {
	t.Helper()
	return gangsConditionOf(t, k8s, ns, name, reason, says...)
}

func gangsConditionOf(t *testing.T, c client.Client, ns, name, reason string, says ...string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, "GangsScheduled "+reason, func() error {
		var g rbgsv1.RoleBasedGroup
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &g); err != nil {
			return err
		}
		got = apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionGangsScheduled)
		if got == nil || got.Reason != reason || got.ObservedGeneration != g.Generation {
			return fmt.Errorf("condition %+v at generation %d", got, g.Generation)
		}
		for _, s := range says {
			if !strings.Contains(got.Message, s) {
				return fmt.Errorf("message %q does not say %q", got.Message, s)
			}
		}
		return nil
	})
	return got
}

// The operator writes one PodGroup per gang, named and sized as the role
// asks, before the workloads whose pod templates name it; it reports what
// the scheduler says of them, keeps a role gang's minCount in step with
// the role, and replaces a PodGroup whose topology key changed once no pod
// uses it.
func TestGangObjects(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("gang", ns).
		Role("decode", 2).Size(2).Gang(rbgsv1.GangInstance, rack).
		Role("router", 2).Gang(rbgsv1.GangRole, "").
		Role("cache", 1).Obj()
	create(t, g)
	for _, name := range []string{"gang-decode-0", "gang-decode-1", "gang-router", "gang-cache"} {
		eventually(t, "StatefulSet "+name, func() error { return exists(t, ns, name, &appsv1.StatefulSet{}) })
	}
	for name, want := range map[string]int32{"gang-decode-0": 2, "gang-decode-1": 2, "gang-router": 2} {
		pg := podGroupOf(t, ns, name)
		if pg.Spec.SchedulingPolicy.Gang == nil || pg.Spec.SchedulingPolicy.Gang.MinCount != want {
			t.Errorf("%s: scheduling policy %+v, want a gang of %d", name, pg.Spec.SchedulingPolicy, want)
		}
		if ref := metav1.GetControllerOf(pg); ref == nil || ref.Name != "gang" || ref.Kind != "RoleBasedGroup" {
			t.Errorf("%s: controller %+v", name, ref)
		}
		// Created before the workload whose pods join it (the names of
		// both are the same for these gangs).
		var s appsv1.StatefulSet
		if err := get(t, ns, name, &s); err != nil {
			t.Fatal(err)
		}
		if s.CreationTimestamp.Before(&pg.CreationTimestamp) {
			t.Errorf("PodGroup %s created after the StatefulSet of its pods", name)
		}
	}
	if c := podGroupOf(t, ns, "gang-decode-1").Spec.SchedulingConstraints; c == nil || len(c.Topology) != 1 || c.Topology[0].Key != rack {
		t.Errorf("instance gang constraints %+v, want one domain of %s", c, rack)
	}
	if err := absent(t, ns, "gang-cache", &schedulingv1beta1.PodGroup{}); err != nil {
		t.Errorf("a role without a gang has a PodGroup: %v", err)
	}
	for sts, want := range map[string]string{"gang-decode-0": "gang-decode-0", "gang-decode-1": "gang-decode-1", "gang-router": "gang-router", "gang-cache": ""} {
		if got := schedulingGroup(t, ns, sts); got != want {
			t.Errorf("pods of %s join %q, want %q", sts, got, want)
		}
	}

	// The scheduler has not placed them yet; then it cannot place one
	// instance, says why, and the group says so, naming the instance.
	gangsCondition(t, ns, "gang", "Pending", "instance 0 of role decode")
	placeGang(t, ns, "gang", "decode", 0, "gang-decode-0", "gang-decode-0", 2, corev1.ConditionTrue, "", "")
	placeGang(t, ns, "gang", "router", -1, "gang-router", "gang-router", 2, corev1.ConditionTrue, "", "")
	placeGang(t, ns, "gang", "decode", 1, "gang-decode-1", "gang-decode-1", 2, corev1.ConditionFalse, corev1.PodReasonUnschedulable,
		"0/2 nodes are available: 2 Insufficient nvidia.com/gpu")
	gangsCondition(t, ns, "gang", "Unschedulable", "instance 1 of role decode", "gang-decode-1", "Insufficient nvidia.com/gpu")
	wantEvents(t, ns, "gang", "Unschedulable")
	placeGang(t, ns, "gang", "decode", 1, "gang-decode-1", "gang-decode-1", 2, corev1.ConditionTrue, "", "")
	gangsCondition(t, ns, "gang", "Scheduled")
	// A pod of a placed gang the scheduler cannot place again (its
	// PodGroup placed the gang once, long ago): the group says so.
	placeGang(t, ns, "gang", "decode", 1, "gang-decode-1", "gang-decode-1", 1, corev1.ConditionFalse, corev1.PodReasonUnschedulable,
		"0/2 nodes are available: 2 node(s) didn't match pod topology")
	gangsCondition(t, ns, "gang", "Unschedulable", "instance 1 of role decode", "didn't match pod topology")
	// The pods go (envtest runs no garbage collector).
	if err := k8s.DeleteAllOf(context.Background(), &corev1.Pod{}, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}

	// One edit scales the role gang up and the instance gangs down.
	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles[1].Replicas = new(int32(3))
		g.Spec.Roles[0].Replicas = new(int32(1))
	})
	eventually(t, "router gang of 3", func() error {
		if n := podGroupOf(t, ns, "gang-router").Spec.SchedulingPolicy.Gang.MinCount; n != 3 {
			return fmt.Errorf("minCount %d", n)
		}
		return nil
	})
	eventually(t, "instance 1's gang deleted", func() error {
		var pg schedulingv1beta1.PodGroup
		if err := get(t, ns, "gang-decode-1", &pg); err == nil && pg.DeletionTimestamp == nil {
			return fmt.Errorf("PodGroup gang-decode-1 is not being deleted")
		}
		return nil
	})

	// A new topology key: the PodGroup keeps its constraint (it cannot
	// change) until none of its pods is left, here at once (envtest runs no
	// pods), then it is deleted and created again with the new key.
	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Scheduling.TopologyKey = "example.com/nvlink-domain" })
	eventually(t, "stale gang deleted", func() error {
		pg := podGroupOf(t, ns, "gang-decode-0")
		if pg.DeletionTimestamp == nil {
			return fmt.Errorf("PodGroup gang-decode-0 is not being deleted")
		}
		return nil
	})
	releasePodGroup(t, ns, "gang-decode-0")
	eventually(t, "gang created again with the new key", func() error {
		var pg schedulingv1beta1.PodGroup
		if err := get(t, ns, "gang-decode-0", &pg); err != nil {
			return err
		}
		if c := pg.Spec.SchedulingConstraints; pg.DeletionTimestamp != nil || c == nil || c.Topology[0].Key != "example.com/nvlink-domain" {
			return fmt.Errorf("constraints %+v, deleting %v", c, pg.DeletionTimestamp != nil)
		}
		return nil
	})
}

// releasePodGroup plays kube-controller-manager's PodGroup protection: the
// PodGroup has no pod left, so its finalizer goes.
func releasePodGroup(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "releasing PodGroup "+name, func() error {
		var pg schedulingv1beta1.PodGroup
		if err := get(t, ns, name, &pg); err != nil {
			return client.IgnoreNotFound(err)
		}
		pg.Finalizers = slices.DeleteFunc(pg.Finalizers, func(f string) bool { return strings.HasPrefix(f, schedulingv1beta1.GroupName) })
		return k8s.Update(context.Background(), &pg)
	})
}

// On an API server that does not serve PodGroups, a role that asks for a
// gang is not started, and the group says which feature gate to enable;
// the other roles run as usual.
func TestGangsWithoutTheWorkloadAPI(t *testing.T) {
	_, file, _, _ := goruntime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		env.BinaryAssetsDirectory = filepath.Join(root, "bin")
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	plain, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := rbgsscheme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(plain, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startOperator(plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	g := wrappers.MakeGroup("nogang", "default").
		Role("cache", 1).
		Role("decode", 2).Size(2).Gang(rbgsv1.GangInstance, "").Obj()
	if err := c.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	cond := gangsConditionOf(t, c, "default", "nogang", "GangSchedulingUnavailable",
		"roles decode ask for gang scheduling", "GenericWorkload", "--runtime-config=scheduling.k8s.io/v1beta1=true")
	if cond.Status != metav1.ConditionFalse {
		t.Errorf("condition %+v", cond)
	}
	var l appsv1.StatefulSetList
	if err := c.List(context.Background(), &l, client.InNamespace("default")); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range l.Items {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"nogang-cache"}) {
		t.Errorf("StatefulSets %v, want only the role without a gang", names)
	}
	var got rbgsv1.RoleBasedGroup
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(g), &got); err != nil {
		t.Fatal(err)
	}
	if ready := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionReady); ready == nil ||
		!strings.Contains(ready.Message, "decode (blocked: its gangs cannot be written, see GangsScheduled)") {
		t.Errorf("Ready condition %+v does not say decode is blocked", ready)
	}
}
