package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// fleetSampler counts, every period, the groups of a set that serve whole
// (as many Ready pods, none terminating, as the group's spec asks for),
// and the groups that exist, from the pods and groups themselves. The pods
// are listed before the groups, so a spec is never older than the pods it
// is compared with (a scale down changes the spec before any pod goes).
type fleetSampler struct {
	mu sync.Mutex
	// least whole groups and most groups seen, and the groups seen.
	least, most, samples int
	seen                 map[string]bool
	// mixed lists the groups seen with live pods (none terminating) of
	// two images, by sample.
	mixed []string
	// emptied counts the samples that saw a group with no live pod:
	// proof a recreation was seen at all.
	emptied int
	finish  func()
}

// sampleFleet samples set every period.
func sampleFleet(t *testing.T, ns, set string, period time.Duration) *fleetSampler {
	t.Helper()
	s := &fleetSampler{least: 1 << 30, seen: map[string]bool{}}
	s.finish = sampleEvery(t, period, func() {
		var groups rbgsv1.RoleBasedGroupList
		var pods corev1.PodList
		if k8s.List(context.Background(), &pods, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set}) != nil ||
			k8s.List(context.Background(), &groups, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set}) != nil {
			return
		}
		serving := map[string]int{}
		revisions := map[string]map[string]bool{}
		for i := range pods.Items {
			p := &pods.Items[i]
			g := p.Labels[rbgsv1.LabelGroupName]
			if !p.DeletionTimestamp.IsZero() {
				continue
			}
			if revisions[g] == nil {
				revisions[g] = map[string]bool{}
			}
			revisions[g][templateOf(p)] = true
			if ok, _ := podReady(p); ok {
				serving[g]++
			}
		}
		n := 0
		for _, g := range groups.Items {
			whole := 0
			for _, r := range g.Spec.Roles {
				whole += int(r.ReplicasOrDefault() * r.SizeOrDefault())
			}
			if serving[g.Name] >= whole {
				n++
			}
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.samples++
		s.least, s.most = min(s.least, n), max(s.most, len(groups.Items))
		empty := false
		for _, g := range groups.Items {
			s.seen[g.Name] = true
			empty = empty || len(revisions[g.Name]) == 0
		}
		if empty {
			s.emptied++
		}
		for g, images := range revisions {
			if len(images) > 1 {
				s.mixed = append(s.mixed, fmt.Sprintf("sample %d: %s runs %v", s.samples, g, slices.Sorted(maps.Keys(images))))
			}
		}
	})
	return s
}

// templateOf is the image a pod runs: what the test's edits change.
func templateOf(p *corev1.Pod) string { return p.Spec.Containers[0].Image }

// A set of 3 groups rolls out with maxUnavailable 0 and maxSurge 1 on the
// real StatefulSet controller: a fourth group comes up at the new revision
// before any group moves; sampled every 150 ms from the pods, never fewer
// than 3 groups serve whole nor more than 4 exist; it ends on groups 0-2.
func TestSurgeRollout(t *testing.T) {
	ns := namespace(t, "e2e-surge")
	s := wrappers.MakeSet("fleet", ns).Replicas(3).Role("prefill", 2).Role("decode", 2, "prefill").
		MaxUnavailable(intstr.FromInt32(0)).MaxSurge(intstr.FromInt32(1)).Obj()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "fleet", 3)
	sampler := sampleFleet(t, ns, "fleet", 150*time.Millisecond)
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
		}
	})
	eventually(t, "rolled out on groups 0-2", 180*time.Second, func() error {
		var cur rbgsv1.RoleBasedGroupSet
		if err := get(ns, "fleet", &cur); err != nil {
			return err
		}
		names := groupNames(setGroups(t, ns, "fleet"))
		if cur.Status.ObservedGeneration != cur.Generation || cur.Status.Phase != rbgsv1.PhaseRunning ||
			cur.Status.UpdatedGroups != 3 || !slices.Equal(names, []string{"fleet-0", "fleet-1", "fleet-2"}) {
			return fmt.Errorf("%s, %d updated, groups %v", cur.Status.Phase, cur.Status.UpdatedGroups, names)
		}
		return nil
	})
	gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "fleet-3"})
	sampler.finish()
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "fleet"}) {
		if templateOf(&p) != "registry.example.com/llm-server:v2" {
			t.Errorf("pod %s runs %s", p.Name, templateOf(&p))
		}
	}
	if sampler.least < 3 || sampler.most > 4 || !sampler.seen["fleet-3"] {
		t.Errorf("at worst %d groups served whole and %d existed (surge group seen: %v) over %d samples; want at least 3, at most 4, and the surge group",
			sampler.least, sampler.most, sampler.seen["fleet-3"], sampler.samples)
	}
	t.Logf("rollout of 3 groups with maxSurge 1, maxUnavailable 0: at worst %d serving whole, at most %d groups, over %d samples",
		sampler.least, sampler.most, sampler.samples)

	// Blue/green per group: with groupUpdatePolicy Recreate a moving group
	// is emptied, then started again at the new revision in dependency
	// order; no sample shows a group with live pods of two images.
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.RolloutStrategy.GroupUpdatePolicy = rbgsv1.UpdateRecreate })
	setRunning(t, ns, "fleet", 3)
	sampler = sampleFleet(t, ns, "fleet", 50*time.Millisecond)
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v3"
		}
	})
	eventually(t, "recreated on groups 0-2", 180*time.Second, func() error {
		var cur rbgsv1.RoleBasedGroupSet
		if err := get(ns, "fleet", &cur); err != nil {
			return err
		}
		names := groupNames(setGroups(t, ns, "fleet"))
		if cur.Status.ObservedGeneration != cur.Generation || cur.Status.Phase != rbgsv1.PhaseRunning ||
			cur.Status.UpdatedGroups != 3 || !slices.Equal(names, []string{"fleet-0", "fleet-1", "fleet-2"}) {
			return fmt.Errorf("%s, %d updated, groups %v", cur.Status.Phase, cur.Status.UpdatedGroups, names)
		}
		return nil
	})
	gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "fleet-3"})
	sampler.finish()
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "fleet"}) {
		if templateOf(&p) != "registry.example.com/llm-server:v3" || p.Labels[rbgsv1.LabelGroupRevision] == "" {
			t.Errorf("pod %s runs %s, revision label %q", p.Name, templateOf(&p), p.Labels[rbgsv1.LabelGroupRevision])
		}
	}
	if len(sampler.mixed) > 0 || sampler.emptied == 0 {
		t.Errorf("groups with live pods of two images: %v; %d samples saw a group emptied (want some)", sampler.mixed, sampler.emptied)
	}
	if sampler.least < 3 || sampler.most > 4 {
		t.Errorf("blue/green: at worst %d groups served whole and %d existed over %d samples; want at least 3, at most 4",
			sampler.least, sampler.most, sampler.samples)
	}
	t.Logf("blue/green rollout of 3 groups: at worst %d serving whole, at most %d groups, no group mixing images, over %d samples (%d saw a group emptied)",
		sampler.least, sampler.most, sampler.samples, sampler.emptied)
}

// A surge interrupted: the operator is killed while the surge group runs,
// and a RoleScaler scales decode down in every group, the surge group
// included, before the rollout is done. The new operator reads the surge
// back from the groups, the set never has fewer than 3 groups serving
// whole (what their specs ask for at that moment) nor more than 4, and it
// ends on groups 0-2, each with 1 decode pod at the new image.
func TestSurgeInterrupted(t *testing.T) {
	const v2 = "registry.example.com/llm-server:v2"
	ns := namespace(t, "e2e-surge-interrupted")
	s := wrappers.MakeSet("fleet", ns).Replicas(3).Role("prefill", 2).Role("decode", 2, "prefill").
		MaxUnavailable(intstr.FromInt32(0)).MaxSurge(intstr.FromInt32(1)).Obj()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	rs := &rbgsv1.RoleScaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "fleet-decode"},
		Spec:       rbgsv1.RoleScalerSpec{TargetRef: rbgsv1.RoleScalerTarget{Kind: rbgsv1.TargetSet, Name: "fleet"}, Role: "decode", Replicas: 6},
	}
	if err := k8s.Create(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "fleet", 3)
	scalerReady(t, ns, "fleet-decode", 6)
	sampler := sampleFleet(t, ns, "fleet", 100*time.Millisecond)
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = v2
		}
	})
	eventually(t, "the surge group fleet-3 created", 60*time.Second, func() error {
		return get(ns, "fleet-3", &rbgsv1.RoleBasedGroup{})
	})
	restartOperator(t, true)
	var surge rbgsv1.RoleBasedGroup
	if err := get(ns, "fleet-3", &surge); err != nil || !surge.DeletionTimestamp.IsZero() {
		t.Fatalf("the surge ended before the new operator started (%v): nothing is left to read back", err)
	}
	// 3 decode instances across the set: 1 in each of its 3 groups (the
	// surge group is no member: it runs the members' share).
	update(t, rs, func(rs *rbgsv1.RoleScaler) { rs.Spec.Replicas = 3 })
	eventually(t, "rolled out on groups 0-2 with decode 1", 180*time.Second, func() error {
		var cur rbgsv1.RoleBasedGroupSet
		if err := get(ns, "fleet", &cur); err != nil {
			return err
		}
		names := groupNames(setGroups(t, ns, "fleet"))
		if cur.Status.ObservedGeneration != cur.Generation || cur.Status.Phase != rbgsv1.PhaseRunning ||
			cur.Status.UpdatedGroups != 3 || !slices.Equal(names, []string{"fleet-0", "fleet-1", "fleet-2"}) {
			return fmt.Errorf("%s, %d updated, groups %v", cur.Status.Phase, cur.Status.UpdatedGroups, names)
		}
		for _, g := range names {
			if n := len(pods(t, ns, map[string]string{rbgsv1.LabelGroupName: g, rbgsv1.LabelRole: "decode"})); n != 1 {
				return fmt.Errorf("%s runs %d decode pods", g, n)
			}
		}
		return nil
	})
	gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "fleet-3"})
	sampler.finish()
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "fleet"}) {
		if templateOf(&p) != v2 {
			t.Errorf("pod %s runs %s", p.Name, templateOf(&p))
		}
	}
	if sampler.least < 3 || sampler.most > 4 {
		t.Errorf("at worst %d groups served whole and %d existed over %d samples; want at least 3, at most 4",
			sampler.least, sampler.most, sampler.samples)
	}
	t.Logf("surge with an operator kill and a RoleScaler scale: at worst %d serving whole, at most %d groups, over %d samples",
		sampler.least, sampler.most, sampler.samples)
}
