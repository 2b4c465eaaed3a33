package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// servingSampler counts, every 100 ms, the instances of a role whose pods
// all serve (Ready, none terminating), whatever their layout: an instance
// of size > 1 is the pods of one instance label, one of size 1 a pod.
type servingSampler struct {
	mu      sync.Mutex
	least   int
	samples int
	// short counts the samples that saw fewer instances than the role's
	// count, mixed those that saw pods of two layouts side by side: proof
	// the sampler saw the change at all.
	short, mixed int
	finish       func()
}

func sampleServing(t *testing.T, ns, group, role string, want int) *servingSampler {
	t.Helper()
	s := &servingSampler{least: want}
	s.finish = sampleEvery(t, 100*time.Millisecond, func() {
		var l corev1.PodList
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns),
			client.MatchingLabels{rbgsv1.LabelGroupName: group, rbgsv1.LabelRole: role}); err != nil {
			return
		}
		serves := map[string]bool{}
		layouts := map[string]bool{}
		for i := range l.Items {
			p := &l.Items[i]
			key := p.Name
			layouts[layoutOf(p)] = true
			if in, ok := p.Labels[rbgsv1.LabelInstance]; ok {
				key = "instance " + in
			}
			ok, _ := podReady(p)
			ok = ok && p.DeletionTimestamp.IsZero()
			if prev, seen := serves[key]; !seen || prev {
				serves[key] = ok
			}
		}
		n := 0
		for _, ok := range serves {
			if ok {
				n++
			}
		}
		s.mu.Lock()
		s.samples++
		s.least = min(s.least, n)
		if n < want {
			s.short++
		}
		if len(layouts) > 1 {
			s.mixed++
		}
		s.mu.Unlock()
	})
	return s
}

// layoutOf says which layout runs pod p: one StatefulSet per instance, one
// StatefulSet of the role, or a Deployment.
func layoutOf(p *corev1.Pod) string {
	switch {
	case p.Labels[rbgsv1.LabelInstance] != "":
		return "instances"
	case p.Labels[appsv1.PodIndexLabel] != "":
		return "statefulset"
	}
	return "deployment"
}

// A role of 3 instances with maxUnavailable 1, on the real StatefulSet
// controller: a new size with a new image replaces one instance at a time,
// and a change of layout (size 3 to 1, then to a Deployment) moves one
// instance at a time; at every moment at least 2 instances serve, counted
// from the pods.
func TestSizeAndLayoutChangesWithinBudget(t *testing.T) {
	ns := namespace(t, "e2e-layout")
	g := wrappers.MakeGroup("lay", ns).Role("decode", 3).Size(2).Obj()
	g.Spec.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromInt32(1))}
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	groupPhase(t, ns, "lay", rbgsv1.PhaseRunning)
	change := func(what string, want int, edit func(r *rbgsv1.RoleSpec), workloads ...string) {
		t.Helper()
		s := sampleServing(t, ns, "lay", "decode", 3)
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { edit(&g.Spec.Roles[0]) })
		eventually(t, what+": Running at the new spec", 120*time.Second, func() error {
			var got rbgsv1.RoleBasedGroup
			if err := get(ns, "lay", &got); err != nil {
				return err
			}
			ps := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "lay", rbgsv1.LabelRole: "decode"})
			if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != rbgsv1.PhaseRunning || len(ps) != want {
				return fmt.Errorf("%s at %d/%d, %d pods", got.Status.Phase, got.Status.ObservedGeneration, got.Generation, len(ps))
			}
			return nil
		})
		s.finish()
		if s.least < 2 || s.short+s.mixed == 0 {
			t.Errorf("%s: at worst %d of 3 instances served (%d of %d samples short of 3, %d with two layouts); want at least 2, and a sample that saw the change",
				what, s.least, s.short, s.samples, s.mixed)
		}
		var have []string
		var sts appsv1.StatefulSetList
		var deps appsv1.DeploymentList
		if err := k8s.List(context.Background(), &sts, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if err := k8s.List(context.Background(), &deps, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, s := range sts.Items {
			have = append(have, "StatefulSet "+s.Name)
		}
		for _, d := range deps.Items {
			have = append(have, "Deployment "+d.Name)
		}
		slices.Sort(have)
		if !slices.Equal(have, workloads) {
			t.Errorf("%s: workloads %v, want %v", what, have, workloads)
		}
		t.Logf("%s: at worst %d of 3 instances served, over %d samples (%d short, %d with two layouts)", what, s.least, s.samples, s.short, s.mixed)
	}
	change("size 2 to 3 with a new image", 9, func(r *rbgsv1.RoleSpec) {
		r.Size = new(int32(3))
		r.Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
	}, "StatefulSet lay-decode-0", "StatefulSet lay-decode-1", "StatefulSet lay-decode-2")
	change("size 3 to 1", 3, func(r *rbgsv1.RoleSpec) { r.Size = nil }, "StatefulSet lay-decode")
	change("a StatefulSet to a Deployment", 3, func(r *rbgsv1.RoleSpec) { r.Workload.Kind = rbgsv1.WorkloadDeployment }, "Deployment lay-decode")
}
