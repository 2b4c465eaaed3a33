package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// pods lists the pods matching labels.
func pods(t *testing.T, ns string, labels map[string]string) []corev1.Pod {
	t.Helper()
	var l corev1.PodList
	if err := k8s.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func podReady(p *corev1.Pod) (bool, time.Time) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// roleReady waits until a role of a group has n Ready pods and returns them.
func roleReady(t *testing.T, ns, group, role string, n int) []corev1.Pod {
	t.Helper()
	var ps []corev1.Pod
	eventually(t, fmt.Sprintf("%d pods of %s/%s ready", n, group, role), 90*time.Second, func() error {
		ps = pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group, rbgsv1.LabelRole: role})
		ready := 0
		for i := range ps {
			if ok, _ := podReady(&ps[i]); ok && ps[i].DeletionTimestamp.IsZero() {
				ready++
			}
		}
		if ready != n || len(ps) != n {
			return fmt.Errorf("%d pods, %d ready", len(ps), ready)
		}
		return nil
	})
	return ps
}

func groupPhase(t *testing.T, ns, name string, phase rbgsv1.GroupPhase) *rbgsv1.RoleBasedGroup {
	t.Helper()
	var g rbgsv1.RoleBasedGroup
	eventually(t, "group "+name+" "+string(phase), 90*time.Second, func() error {
		if err := get(ns, name, &g); err != nil {
			return err
		}
		if g.Status.ObservedGeneration != g.Generation || g.Status.Phase != phase {
			return fmt.Errorf("phase %q at generation %d/%d", g.Status.Phase, g.Status.ObservedGeneration, g.Generation)
		}
		return nil
	})
	return &g
}

func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	eventually(t, "updating "+obj.GetName(), 10*time.Second, func() error {
		if err := get(obj.GetNamespace(), obj.GetName(), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(context.Background(), obj)
	})
}

// gone waits until nothing labelled with the group or set is left.
func gone(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	eventually(t, fmt.Sprintf("everything labelled %v deleted", labels), 90*time.Second, func() error {
		lists := map[string]client.ObjectList{
			"pods": &corev1.PodList{}, "statefulsets": &appsv1.StatefulSetList{}, "services": &corev1.ServiceList{},
			"configmaps": &corev1.ConfigMapList{}, "deployments": &appsv1.DeploymentList{},
			"groups": &rbgsv1.RoleBasedGroupList{},
		}
		for kind, l := range lists {
			if err := k8s.List(context.Background(), l, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
				return err
			}
			if objs, _ := apimeta.ExtractList(l); len(objs) > 0 {
				n := len(objs)
				return fmt.Errorf("%d %s left", n, kind)
			}
		}
		return nil
	})
}

// sampleEvery calls sample once before it returns, so the first sample
// sees the state before whatever change the caller makes next, then every
// period in the background until the test ends or the returned stop is
// called; stop returns once the last sample has finished, and may be
// called more than once.
func sampleEvery(t *testing.T, period time.Duration, sample func()) (stop func()) {
	sample()
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
			}
			sample()
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() { close(quit) })
		<-done
	}
	t.Cleanup(stop)
	return stop
}
