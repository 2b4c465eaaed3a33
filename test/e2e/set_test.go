package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

func setGroups(t *testing.T, ns, set string) []rbgsv1.RoleBasedGroup {
	t.Helper()
	var l rbgsv1.RoleBasedGroupList
	if err := k8s.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set}); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// setRunning waits until the set reports Running with ready groups.
func setRunning(t *testing.T, ns, name string, ready int32) *rbgsv1.RoleBasedGroupSet {
	t.Helper()
	var s rbgsv1.RoleBasedGroupSet
	eventually(t, fmt.Sprintf("set %s Running with %d groups", name, ready), 120*time.Second, func() error {
		if err := get(ns, name, &s); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
		if s.Status.ObservedGeneration != s.Generation || s.Status.Phase != rbgsv1.PhaseRunning ||
			s.Status.ReadyGroups != ready || s.Status.Replicas != ready || c == nil || c.Status != "True" {
			return fmt.Errorf("phase %s, ready %d/%d at generation %d/%d",
				s.Status.Phase, s.Status.ReadyGroups, s.Status.Replicas, s.Status.ObservedGeneration, s.Generation)
		}
		return nil
	})
	return &s
}

func groupNames(gs []rbgsv1.RoleBasedGroup) []string {
	var out []string
	for _, g := range gs {
		if g.DeletionTimestamp.IsZero() {
			out = append(out, g.Name)
		}
	}
	slices.Sort(out)
	return out
}

// The seed's RoleBasedGroupSet example through its life on the real cluster.
func TestSetEndToEnd(t *testing.T) {
	ns := namespace(t, "e2e-set")
	s := wrappers.MakeSet("demo-group", ns).Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	calls := groupWebhookCalls(t)
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}

	t.Run("two groups Running", func(t *testing.T) {
		kubectl(t, "-n", ns, "wait", "rbgs/demo-group", "--for=condition=Ready", "--timeout=120s")
		st := setRunning(t, ns, "demo-group", 2)
		if len(st.Status.Groups) != 2 || st.Status.Groups[0].Name != "demo-group-0" || st.Status.Groups[1].Phase != rbgsv1.PhaseRunning {
			t.Errorf("groups %+v", st.Status.Groups)
		}
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "prefill", 2)
			roleReady(t, ns, g, "decode", 2)
		}
	})

	t.Run("groups the operator writes skip the webhook", func(t *testing.T) {
		if now := groupWebhookCalls(t); now != calls {
			t.Errorf("the group webhook was called %v times while the operator created the set's groups", now-calls)
		}
		// A group written by anyone else still goes through it.
		g := wrappers.MakeGroup("by-hand", ns).Role("a", 1).Obj()
		if err := k8s.Create(context.Background(), g, client.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if now := groupWebhookCalls(t); now != calls+1 {
			t.Errorf("a group created by hand made %v webhook calls, want 1", now-calls)
		}
	})

	t.Run("scale to 3 and back to 1", func(t *testing.T) {
		kubectl(t, "-n", ns, "scale", "rbgs/demo-group", "--replicas=3")
		setRunning(t, ns, "demo-group", 3)
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.Replicas = new(int32(1)) })
		setRunning(t, ns, "demo-group", 1)
		for _, g := range []string{"demo-group-1", "demo-group-2"} {
			gone(t, ns, map[string]string{rbgsv1.LabelGroupName: g})
		}
		if names := groupNames(setGroups(t, ns, "demo-group")); !slices.Equal(names, []string{"demo-group-0"}) {
			t.Errorf("groups left %v", names)
		}
	})

	t.Run("scale a role", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.Replicas = new(int32(2))
			s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(3))
		})
		setRunning(t, ns, "demo-group", 2)
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "decode", 3)
		}
	})

	t.Run("add and remove the postprocess role", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.GroupTemplate.Roles = append(s.Spec.GroupTemplate.Roles, wrappers.RoleSpec("postprocess", 1, "decode"))
		})
		setRunning(t, ns, "demo-group", 2)
		for _, g := range []string{"demo-group-0", "demo-group-1"} {
			roleReady(t, ns, g, "postprocess", 1)
		}
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles = s.Spec.GroupTemplate.Roles[:2] })
		setRunning(t, ns, "demo-group", 2)
		gone(t, ns, map[string]string{rbgsv1.LabelSetName: "demo-group", rbgsv1.LabelRole: "postprocess"})
	})

	t.Run("a template change never has more than one group unavailable", func(t *testing.T) {
		kubectl(t, "-n", ns, "scale", "rbgs/demo-group", "--replicas=3")
		setRunning(t, ns, "demo-group", 3)
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.RolloutStrategy.MaxUnavailable = new(intstr.FromInt32(1))
			for i := range s.Spec.GroupTemplate.Roles {
				s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
			}
		})
		// A group is unavailable when fewer of its pods serve than it runs
		// whole (prefill 2, decode 3): counted from the pods themselves,
		// not from what the operator reports.
		whole := 0
		for _, r := range s.Spec.GroupTemplate.Roles {
			whole += int(r.ReplicasOrDefault())
		}
		var (
			mu      sync.Mutex
			worst   int
			samples int
		)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				var l corev1.PodList
				if err := k8s.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: "demo-group"}); err != nil {
					continue
				}
				serving := map[string]int{}
				for i := range l.Items {
					if ok, _ := podReady(&l.Items[i]); ok && l.Items[i].DeletionTimestamp.IsZero() {
						serving[l.Items[i].Labels[rbgsv1.LabelGroupName]]++
					}
				}
				unavailable := 0
				for _, g := range []string{"demo-group-0", "demo-group-1", "demo-group-2"} {
					if serving[g] < whole {
						unavailable++
					}
				}
				mu.Lock()
				worst, samples = max(worst, unavailable), samples+1
				mu.Unlock()
			}
		}()
		st := setRunning(t, ns, "demo-group", 3)
		close(stop)
		<-done
		if st.Status.UpdatedGroups != 3 || st.Status.CurrentRevision != st.Status.UpdateRevision {
			t.Errorf("rollout incomplete: %+v", st.Status)
		}
		for _, g := range setGroups(t, ns, "demo-group") {
			if img := g.Spec.Roles[0].Template.Spec.Containers[0].Image; img != "registry.example.com/llm-server:v2" {
				t.Errorf("%s runs %s", g.Name, img)
			}
		}
		for _, g := range []string{"demo-group-0", "demo-group-1", "demo-group-2"} {
			for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: g}) {
				if p.Spec.Containers[0].Image != "registry.example.com/llm-server:v2" {
					t.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
				}
			}
		}
		if worst > 1 || samples < 10 {
			t.Errorf("at worst %d groups unavailable at once over %d samples; want at most 1", worst, samples)
		}
		t.Logf("rollout of 3 groups: at most %d unavailable over %d samples", worst, samples)
	})

	t.Run("deleting the set leaves nothing behind", func(t *testing.T) {
		if err := k8s.Delete(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		gone(t, ns, map[string]string{rbgsv1.LabelSetName: "demo-group"})
	})
}

// groupWebhookCalls is the number of calls the API server made to the
// group webhook, from its metrics.
func groupWebhookCalls(t *testing.T) float64 {
	t.Helper()
	var n float64
	for line := range strings.Lines(kubectl(t, "get", "--raw", "/metrics")) {
		if !strings.HasPrefix(line, "apiserver_admission_webhook_request_total{") ||
			!strings.Contains(line, `name="vrolebasedgroup.openpatio.io"`) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		n += v
	}
	return n
}

// A set's rollout of one role (decode's image) changes every role's
// template by the set's revision label alone: prefill (size 1) and worker
// (an instance of 2 pods), which update by replacement, keep every pod,
// unrestarted, and take the new label where they run, under the groups'
// RollingUpdate and under Recreate; decode's pods are replaced.
func TestSetRolloutOfOneRole(t *testing.T) {
	ns := namespace(t, "e2e-set-one-role")
	s := wrappers.MakeSet("one", ns).Replicas(2).Role("prefill", 2).Role("worker", 1).Role("decode", 2, "prefill").Obj()
	s.Spec.GroupTemplate.Roles[1].Size = new(int32(2))
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "one", 2)
	for _, tc := range []struct {
		image  string
		policy rbgsv1.UpdatePolicy
	}{
		{"registry.example.com/llm-server:v2", rbgsv1.UpdateRollingUpdate},
		{"registry.example.com/llm-server:v3", rbgsv1.UpdateRecreate},
	} {
		kept := uidsBy(t, ns)
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.RolloutStrategy.GroupUpdatePolicy = tc.policy
			s.Spec.GroupTemplate.Roles[2].Template.Spec.Containers[0].Image = tc.image
		})
		eventually(t, "decode at "+tc.image+" and every pod at its group's revision", 120*time.Second, func() error {
			var cur rbgsv1.RoleBasedGroupSet
			if err := get(ns, "one", &cur); err != nil {
				return err
			}
			if cur.Status.ObservedGeneration != cur.Generation || cur.Status.Phase != rbgsv1.PhaseRunning ||
				cur.Status.UpdatedGroups != 2 || cur.Status.CurrentRevision != cur.Status.UpdateRevision {
				return fmt.Errorf("set %s, %d updated", cur.Status.Phase, cur.Status.UpdatedGroups)
			}
			revisions := map[string]string{}
			for _, g := range setGroups(t, ns, "one") {
				revisions[g.Name] = g.Labels[rbgsv1.LabelGroupRevision]
			}
			ps := pods(t, ns, map[string]string{rbgsv1.LabelSetName: "one"})
			if len(ps) != 2*(2+2+2) {
				return fmt.Errorf("%d pods", len(ps))
			}
			for _, p := range ps {
				if !p.DeletionTimestamp.IsZero() || p.Labels[rbgsv1.LabelGroupRevision] != revisions[p.Labels[rbgsv1.LabelGroupName]] {
					return fmt.Errorf("pod %s at revision %s", p.Name, p.Labels[rbgsv1.LabelGroupRevision])
				}
				if p.Labels[rbgsv1.LabelRole] == "decode" && p.Spec.Containers[0].Image != tc.image {
					return fmt.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
				}
			}
			return nil
		})
		for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "one"}) {
			was := kept[p.Name]
			if p.Labels[rbgsv1.LabelRole] == "decode" {
				if was == p.UID {
					t.Errorf("%s: decode pod %s kept at another image", tc.policy, p.Name)
				}
				continue
			}
			if was != p.UID || p.Status.ContainerStatuses[0].RestartCount != 0 {
				t.Errorf("%s: %s pod %s replaced (%v) or restarted (%d) by a rollout of decode", tc.policy,
					p.Labels[rbgsv1.LabelRole], p.Name, was != p.UID, p.Status.ContainerStatuses[0].RestartCount)
			}
		}
	}
}
