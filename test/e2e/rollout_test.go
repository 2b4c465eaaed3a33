package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// rollingSampler counts, every 100 ms, the groups of a namespace whose
// pods are being replaced: a StatefulSet whose current and update
// revisions differ.
type rollingSampler struct {
	mu      sync.Mutex
	worst   int
	worstAt []string
	samples int
	// busy counts the samples that saw a group replacing pods: proof the
	// sampler was quick enough to see the rollouts at all.
	busy int
	// finish stops the sampling and waits for the last sample.
	finish func()
}

func sampleRolling(t *testing.T, ns string) *rollingSampler {
	t.Helper()
	s := &rollingSampler{}
	s.finish = sampleEvery(t, 100*time.Millisecond, func() {
		var l appsv1.StatefulSetList
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			return
		}
		rolling := map[string]bool{}
		for _, sts := range l.Items {
			if st := sts.Status; st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision {
				rolling[sts.Labels[rbgsv1.LabelGroupName]] = true
			}
		}
		s.mu.Lock()
		s.samples++
		if len(rolling) > 0 {
			s.busy++
		}
		if len(rolling) > s.worst {
			s.worst = len(rolling)
			s.worstAt = nil
			for g := range rolling {
				s.worstAt = append(s.worstAt, g)
			}
		}
		s.mu.Unlock()
	})
	return s
}

// The rollout budget holds for the edits users make in one go, on the real
// StatefulSet controller: a template and a replica count together, restart
// settings with a template, a replica-only edit during a rollout, and an
// edit during an edit. With maxUnavailable 1, no two groups ever replace
// pods at once.
func TestRolloutBudgetHoldsForEveryEdit(t *testing.T) {
	const groups = 6
	ns := namespace(t, "e2e-budget")
	s := wrappers.MakeSet("fleet", ns).Replicas(groups).Role("prefill", 1).Role("decode", 1, "prefill").
		MaxUnavailable(intstr.FromInt32(1)).Obj()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "fleet", groups)
	sampler := sampleRolling(t, ns)
	image := func(v int) string { return fmt.Sprintf("registry.example.com/llm-server:v%d", v) }
	setPrefill := func(s *rbgsv1.RoleBasedGroupSet, v int) {
		s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Image = image(v)
	}
	// rolledOut waits until every group runs prefill at version v and
	// decode with the given replicas, every pod at the spec.
	rolledOut := func(v int, decode int) {
		t.Helper()
		st := setRunning(t, ns, "fleet", groups)
		if st.Status.UpdatedGroups != groups || st.Status.CurrentRevision != st.Status.UpdateRevision {
			t.Errorf("v%d: rollout incomplete: %+v", v, st.Status)
		}
		for i := range groups {
			g := fmt.Sprintf("fleet-%d", i)
			for _, p := range roleReady(t, ns, g, "prefill", 1) {
				if p.Spec.Containers[0].Image != image(v) {
					t.Errorf("pod %s runs %s, want %s", p.Name, p.Spec.Containers[0].Image, image(v))
				}
			}
			roleReady(t, ns, g, "decode", decode)
		}
	}
	// firstMoved waits until the set has moved one group to its update
	// revision.
	firstMoved := func() {
		t.Helper()
		eventually(t, "the first group moved", 60*time.Second, func() error {
			var cur rbgsv1.RoleBasedGroupSet
			if err := get(ns, "fleet", &cur); err != nil {
				return err
			}
			if cur.Status.ObservedGeneration != cur.Generation || cur.Status.UpdatedGroups < 1 {
				return fmt.Errorf("updated %d at generation %d/%d", cur.Status.UpdatedGroups, cur.Status.ObservedGeneration, cur.Generation)
			}
			return nil
		})
	}

	t.Run("template and decode replicas in one edit", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			setPrefill(s, 2)
			s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(2))
		})
		rolledOut(2, 2)
	})
	t.Run("restart settings with a template", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			setPrefill(s, 3)
			s.Spec.RestartPolicy, s.Spec.MaxRestarts = rbgsv1.RestartRecreateGroup, new(int32(3))
		})
		rolledOut(3, 2)
	})
	t.Run("replica-only edit during a rollout", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { setPrefill(s, 4) })
		firstMoved()
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(1)) })
		rolledOut(4, 1)
	})
	t.Run("edit during an edit", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { setPrefill(s, 5) })
		firstMoved()
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			setPrefill(s, 6)
			s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(2))
		})
		rolledOut(6, 2)
		st := setRunning(t, ns, "fleet", groups)
		if c := apimeta.FindStatusCondition(st.Status.Conditions, rbgsv1.ConditionProgressing); c.Reason != "AllGroupsReady" {
			t.Errorf("Progressing after the rollout: %+v", c)
		}
	})

	sampler.finish()
	if sampler.worst > 1 {
		t.Errorf("groups replacing pods at once: at worst %d (%v) over %d samples; want at most maxUnavailable 1",
			sampler.worst, sampler.worstAt, sampler.samples)
	}
	if sampler.busy < 4 {
		t.Errorf("only %d of %d samples saw a group replacing pods: too few to judge the rollouts", sampler.busy, sampler.samples)
	}
	t.Logf("4 rollouts of %d groups: at most %d group replacing pods at once, over %d samples (%d saw one)",
		groups, sampler.worst, sampler.samples, sampler.busy)
}
