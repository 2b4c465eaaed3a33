package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// groupsOf lists the set's groups by name.
func groupsOf(t *testing.T, ns, set string) map[string]*rbgsv1.RoleBasedGroup {
	t.Helper()
	var l rbgsv1.RoleBasedGroupList
	if err := k8s.List(context.Background(), &l, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelSetName: set}); err != nil {
		t.Fatal(err)
	}
	out := map[string]*rbgsv1.RoleBasedGroup{}
	for i := range l.Items {
		if l.Items[i].DeletionTimestamp.IsZero() {
			out[l.Items[i].Name] = &l.Items[i]
		}
	}
	return out
}

func wantGroups(t *testing.T, ns, set string, names ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("groups %v", names), func() error {
		var got []string
		for n := range groupsOf(t, ns, set) {
			got = append(got, n)
		}
		slices.Sort(got)
		slices.Sort(names)
		if !slices.Equal(got, names) {
			return fmt.Errorf("groups %v", got)
		}
		return nil
	})
}

// bringUp marks every StatefulSet of the group ready, in dependency order.
func bringUp(t *testing.T, ns, group string, roles ...string) {
	t.Helper()
	// Marked again until the group runs, as kube-controller-manager would:
	// the operator may change a StatefulSet after it was marked (the
	// group's new spec reaching it), which leaves the mark at an older
	// generation.
	eventually(t, "group "+group+" Running", func() error {
		for _, r := range roles {
			if err := statefulSetReady(ns, group+"-"+r); err != nil {
				return err
			}
		}
		var g rbgsv1.RoleBasedGroup
		if err := get(t, ns, group, &g); err != nil {
			return err
		}
		if g.Status.ObservedGeneration != g.Generation || g.Status.Phase != rbgsv1.PhaseRunning {
			return fmt.Errorf("phase %q at generation %d/%d", g.Status.Phase, g.Status.ObservedGeneration, g.Generation)
		}
		return nil
	})
}

func setStatus(t *testing.T, ns, name string, ok func(*rbgsv1.RoleBasedGroupSet) error) *rbgsv1.RoleBasedGroupSet {
	t.Helper()
	var s rbgsv1.RoleBasedGroupSet
	eventually(t, "set "+name+" status", func() error {
		if err := get(t, ns, name, &s); err != nil {
			return err
		}
		if s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("status at generation %d/%d", s.Status.ObservedGeneration, s.Generation)
		}
		return ok(&s)
	})
	return &s
}

func running(ready int32) func(*rbgsv1.RoleBasedGroupSet) error {
	return func(s *rbgsv1.RoleBasedGroupSet) error {
		c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
		if s.Status.Phase != rbgsv1.PhaseRunning || s.Status.ReadyGroups != ready || c == nil || c.Status != "True" {
			return fmt.Errorf("phase %s, ready groups %d, Ready %v", s.Status.Phase, s.Status.ReadyGroups, c)
		}
		return nil
	}
}

func TestSetLifecycle(t *testing.T) {
	ns := namespace(t)
	s := wrappers.MakeSet("demo-group", ns).Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	create(t, s)
	wantGroups(t, ns, "demo-group", "demo-group-0", "demo-group-1")
	g0 := groupsOf(t, ns, "demo-group")["demo-group-0"]
	if g0.Labels[rbgsv1.LabelGroupIndex] != "0" || g0.OwnerReferences[0].UID != s.UID || !*g0.OwnerReferences[0].Controller ||
		len(g0.Spec.Roles) != 2 || g0.Spec.StartupPolicy != rbgsv1.StartupOrdered {
		t.Errorf("group 0: labels %v owners %v spec %+v", g0.Labels, g0.OwnerReferences, g0.Spec)
	}
	for _, g := range []string{"demo-group-0", "demo-group-1"} {
		bringUp(t, ns, g, "prefill", "decode")
	}
	st := setStatus(t, ns, "demo-group", running(2))
	if st.Status.Replicas != 2 || st.Status.UpdatedGroups != 2 || len(st.Status.Groups) != 2 ||
		st.Status.Groups[1].Name != "demo-group-1" || st.Status.Groups[1].Roles[1].ReadyReplicas != 2 {
		t.Errorf("status %+v", st.Status)
	}
	var sts appsv1.StatefulSet
	if err := get(t, ns, "demo-group-1-decode", &sts); err != nil {
		t.Fatal(err)
	}
	if l := sts.Spec.Template.Labels; l[rbgsv1.LabelSetName] != "demo-group" || l[rbgsv1.LabelGroupIndex] != "1" {
		t.Errorf("pod labels %v", l)
	}

	// Scale through the scale subresource, as kubectl scale and an HPA do.
	scale := &autoscalingv1.Scale{}
	if err := k8s.SubResource("scale").Get(context.Background(), st, scale); err != nil {
		t.Fatal(err)
	}
	if scale.Spec.Replicas != 2 || scale.Status.Selector != "patio.io/rbgs-name=demo-group" {
		t.Errorf("scale %+v", scale)
	}
	scale.Spec.Replicas = 3
	if err := k8s.SubResource("scale").Update(context.Background(), st, client.WithSubResourceBody(scale)); err != nil {
		t.Fatal(err)
	}
	wantGroups(t, ns, "demo-group", "demo-group-0", "demo-group-1", "demo-group-2")
	setStatus(t, ns, "demo-group", func(s *rbgsv1.RoleBasedGroupSet) error {
		if s.Status.Phase != rbgsv1.PhaseProgressing || s.Status.Replicas != 3 {
			return fmt.Errorf("phase %s replicas %d", s.Status.Phase, s.Status.Replicas)
		}
		return nil
	})
	bringUp(t, ns, "demo-group-2", "prefill", "decode")
	setStatus(t, ns, "demo-group", running(3))

	update(t, st, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.Replicas = new(int32(1)) })
	wantGroups(t, ns, "demo-group", "demo-group-0")
	setStatus(t, ns, "demo-group", running(1))
	wantEvents(t, ns, "demo-group", "GroupsCreated", "GroupsDeleted", "SetReady")
}

// Changing a role's replicas reaches every group at once, without a new
// revision; adding and removing a role is a template change.
func TestSetRoleScalingAndExtension(t *testing.T) {
	ns := namespace(t)
	s := wrappers.MakeSet("ext", ns).Replicas(2).Role("prefill", 1).Role("decode", 1, "prefill").
		MaxUnavailable(intstr.FromInt32(2)).Obj()
	create(t, s)
	wantGroups(t, ns, "ext", "ext-0", "ext-1")
	rev := groupsOf(t, ns, "ext")["ext-0"].Labels[rbgsv1.LabelGroupRevision]

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[1].Replicas = new(int32(4)) })
	eventually(t, "decode scaled in every group", func() error {
		for name, g := range groupsOf(t, ns, "ext") {
			if *g.Spec.Roles[1].Replicas != 4 || g.Labels[rbgsv1.LabelGroupRevision] != rev {
				return fmt.Errorf("%s: decode replicas %d, revision %s", name, *g.Spec.Roles[1].Replicas, g.Labels[rbgsv1.LabelGroupRevision])
			}
		}
		return nil
	})

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		s.Spec.GroupTemplate.Roles = append(s.Spec.GroupTemplate.Roles, wrappers.RoleSpec("postprocess", 1, "decode"))
	})
	eventually(t, "postprocess in every group", func() error {
		for name, g := range groupsOf(t, ns, "ext") {
			if len(g.Spec.Roles) != 3 {
				return fmt.Errorf("%s has %d roles", name, len(g.Spec.Roles))
			}
		}
		return nil
	})
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles = s.Spec.GroupTemplate.Roles[:2] })
	eventually(t, "postprocess removed everywhere", func() error {
		for name, g := range groupsOf(t, ns, "ext") {
			if len(g.Spec.Roles) != 2 {
				return fmt.Errorf("%s has %d roles", name, len(g.Spec.Roles))
			}
		}
		return nil
	})
}

// A template change with maxUnavailable 1 updates one group at a time,
// from the highest index down, the next only once the updated one is
// Running again.
func TestSetRollout(t *testing.T) {
	ns := namespace(t)
	s := wrappers.MakeSet("roll", ns).Replicas(3).Role("prefill", 1).Obj()
	create(t, s)
	wantGroups(t, ns, "roll", "roll-0", "roll-1", "roll-2")
	for _, g := range []string{"roll-0", "roll-1", "roll-2"} {
		bringUp(t, ns, g, "prefill")
	}
	before := setStatus(t, ns, "roll", running(3)).Status.UpdateRevision

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
	})
	updatedGroups := func() []string {
		var out []string
		for name, g := range groupsOf(t, ns, "roll") {
			if g.Spec.Roles[0].Template.Spec.Containers[0].Image == "registry.example.com/llm-server:v2" {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	var order []string
	for step := range 3 {
		// The set's status, written by the reconcile that planned the step,
		// says one group is moving: that reconcile moved no other.
		st := setStatus(t, ns, "roll", func(s *rbgsv1.RoleBasedGroupSet) error {
			p := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionProgressing)
			if s.Status.UpdatedGroups != int32(step+1) || p == nil || p.Reason != rbgsv1.ReasonRollingOut || !strings.Contains(p.Message, ", 1 moving") {
				return fmt.Errorf("updated %d, Progressing %+v", s.Status.UpdatedGroups, p)
			}
			wantCurrent := before
			if step == 2 {
				wantCurrent = s.Status.UpdateRevision // no group runs the old revision any more
			}
			if s.Status.CurrentRevision != wantCurrent || s.Status.Phase != rbgsv1.PhaseProgressing {
				return fmt.Errorf("current %s phase %s", s.Status.CurrentRevision, s.Status.Phase)
			}
			return nil
		})
		if st.Status.UpdateRevision == before {
			t.Fatalf("update revision did not change")
		}
		got := updatedGroups()
		if len(got) != step+1 {
			t.Fatalf("step %d: groups %v updated while one is moving", step, got)
		}
		next := ""
		for _, name := range got {
			if !slices.Contains(order, name) {
				next = name
			}
		}
		order = append(order, next)
		bringUp(t, ns, next, "prefill")
	}
	if !slices.Equal(order, []string{"roll-2", "roll-1", "roll-0"}) {
		t.Errorf("rollout order %v, want the highest index first", order)
	}
	st := setStatus(t, ns, "roll", running(3))
	if st.Status.CurrentRevision != st.Status.UpdateRevision {
		t.Errorf("revisions %s / %s after the rollout", st.Status.CurrentRevision, st.Status.UpdateRevision)
	}
	wantEvents(t, ns, "roll", "RolloutStep")
}

// A canary with partition, a pause, a scale-up while paused (at the
// current revision), and a resume that finishes the rollout.
func TestSetRolloutPartitionAndPause(t *testing.T) {
	const v2 = "registry.example.com/llm-server:v2"
	ns := namespace(t)
	s := wrappers.MakeSet("canary", ns).Replicas(4).Role("prefill", 1).Obj()
	create(t, s)
	names := []string{"canary-0", "canary-1", "canary-2", "canary-3"}
	wantGroups(t, ns, "canary", names...)
	for _, g := range names {
		bringUp(t, ns, g, "prefill")
	}
	setStatus(t, ns, "canary", running(4))
	image := func(g *rbgsv1.RoleBasedGroup) string { return g.Spec.Roles[0].Template.Spec.Containers[0].Image }
	atV2 := func() []string {
		var out []string
		for name, g := range groupsOf(t, ns, "canary") {
			if image(g) == v2 {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	progressing := func(reason string) func(*rbgsv1.RoleBasedGroupSet) error {
		return func(s *rbgsv1.RoleBasedGroupSet) error {
			if c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionProgressing); c == nil || c.Reason != reason {
				return fmt.Errorf("Progressing %+v, want reason %s", c, reason)
			}
			return nil
		}
	}

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		s.Spec.RolloutStrategy.Partition = new(int32(3))
		s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Image = v2
	})
	eventually(t, "the canary updated", func() error {
		if got := atV2(); !slices.Equal(got, []string{"canary-3"}) {
			return fmt.Errorf("groups at v2: %v", got)
		}
		return nil
	})
	bringUp(t, ns, "canary-3", "prefill")
	st := setStatus(t, ns, "canary", progressing(rbgsv1.ReasonRolloutPartitioned))
	if st.Status.Phase != rbgsv1.PhaseRunning || st.Status.UpdatedGroups != 1 {
		t.Errorf("partitioned rollout done: phase %s, updated %d", st.Status.Phase, st.Status.UpdatedGroups)
	}
	if got := atV2(); !slices.Equal(got, []string{"canary-3"}) {
		t.Errorf("groups below the partition moved: %v", got)
	}

	// Paused, the partition lowered and one more group: the status says
	// paused at the new generation, and nothing moved; the new group runs
	// the current revision.
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		s.Spec.RolloutStrategy.Paused = true
		s.Spec.RolloutStrategy.Partition = nil
		s.Spec.Replicas = new(int32(5))
	})
	wantGroups(t, ns, "canary", append(names, "canary-4")...)
	setStatus(t, ns, "canary", progressing(rbgsv1.ReasonRolloutPaused))
	if got := atV2(); !slices.Equal(got, []string{"canary-3"}) {
		t.Errorf("groups moved while paused: %v", got)
	}
	if g := groupsOf(t, ns, "canary")["canary-4"]; image(g) != wrappers.Image || g.Labels[rbgsv1.LabelGroupRevision] != st.Status.CurrentRevision {
		t.Errorf("group created while paused runs %s at revision %s; want %s at %s", image(g), g.Labels[rbgsv1.LabelGroupRevision], wrappers.Image, st.Status.CurrentRevision)
	}
	bringUp(t, ns, "canary-4", "prefill")

	// Resumed: the rest follows, highest index first.
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.RolloutStrategy.Paused = false })
	for _, next := range []string{"canary-4", "canary-2", "canary-1", "canary-0"} {
		eventually(t, next+" updated", func() error {
			if g := groupsOf(t, ns, "canary")[next]; image(g) != v2 {
				return fmt.Errorf("%s at %s", next, image(g))
			}
			return nil
		})
		bringUp(t, ns, next, "prefill")
	}
	st = setStatus(t, ns, "canary", running(5))
	if st.Status.UpdatedGroups != 5 || st.Status.CurrentRevision != st.Status.UpdateRevision {
		t.Errorf("after the rollout: %+v", st.Status)
	}
}

// Past MaxGroupStatuses groups, status.groups keeps the groups that are not
// Running and counts every group.
func TestSetStatusBoundedAtTheLimit(t *testing.T) {
	ns := namespace(t)
	n := int32(rbgsv1.MaxGroupStatuses + 3)
	s := wrappers.MakeSet("big", ns).Replicas(n).Role("a", 1).Obj()
	create(t, s)
	eventually(t, "all groups", func() error {
		if got := len(groupsOf(t, ns, "big")); got != int(n) {
			return fmt.Errorf("%d groups", got)
		}
		return nil
	})
	notRunning := map[string]bool{"big-5": true, "big-101": true, "big-102": true}
	for i := range n {
		name := fmt.Sprintf("big-%d-a", i)
		if notRunning[fmt.Sprintf("big-%d", i)] {
			continue
		}
		eventually(t, "StatefulSet "+name, func() error { return exists(t, ns, name, &appsv1.StatefulSet{}) })
		markStatefulSetReady(t, ns, name)
	}
	st := setStatus(t, ns, "big", func(s *rbgsv1.RoleBasedGroupSet) error {
		if s.Status.GroupCounts.Running != n-3 {
			return fmt.Errorf("counts %+v", s.Status.GroupCounts)
		}
		return nil
	})
	if len(st.Status.Groups) != rbgsv1.MaxGroupStatuses || st.Status.GroupsOmitted != 3 || st.Status.ReadyGroups != n-3 {
		t.Fatalf("%d groups listed, %d omitted, %d ready", len(st.Status.Groups), st.Status.GroupsOmitted, st.Status.ReadyGroups)
	}
	listed := map[string]bool{}
	for _, g := range st.Status.Groups {
		listed[g.Name] = true
	}
	for name := range notRunning {
		if !listed[name] {
			t.Errorf("%s is not Running but not listed", name)
		}
	}
	// Kept: the 3 not Running, then Running 0..97 without 5; left out: 98..100.
	for _, name := range []string{"big-98", "big-99", "big-100"} {
		if listed[name] {
			t.Errorf("%s listed although Running groups past the limit are left out", name)
		}
	}
}

func TestSetInvalidTemplateCreatesNothing(t *testing.T) {
	ns := namespace(t)
	withoutWebhook(t, func() {
		create(t, wrappers.MakeSet("bad", ns).Replicas(2).Role("router", 1, "decode").Role("decode", 1, "router").Obj())
	})
	st := setStatus(t, ns, "bad", func(s *rbgsv1.RoleBasedGroupSet) error {
		if s.Status.Phase != rbgsv1.PhaseFailed {
			return fmt.Errorf("phase %s", s.Status.Phase)
		}
		return nil
	})
	if c := apimeta.FindStatusCondition(st.Status.Conditions, rbgsv1.ConditionReady); !strings.Contains(c.Message, "dependency cycle router -> decode -> router") {
		t.Errorf("Ready condition %+v", c)
	}
	if g := groupsOf(t, ns, "bad"); len(g) != 0 {
		t.Errorf("groups created: %v", g)
	}
}

// A group that holds the name of one of the set's groups and is not the
// set's is left alone and reported; the set's other groups are created.
func TestSetNameConflict(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("clash-1", ns).Role("prefill", 1).Obj())
	create(t, wrappers.MakeSet("clash", ns).Replicas(2).Role("prefill", 1).Obj())
	wantGroups(t, ns, "clash", "clash-0")
	eventually(t, "NameConflict event", func() error {
		var l eventsv1.EventList
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range l.Items {
			if e.Regarding.Kind == "RoleBasedGroupSet" && e.Regarding.Name == "clash" && e.Reason == "NameConflict" {
				if want := "RoleBasedGroup " + ns + "/clash-1 already exists and is not controlled by RoleBasedGroupSet clash"; !strings.Contains(e.Note, want) {
					t.Errorf("event note %q lacks %q", e.Note, want)
				}
				return nil
			}
		}
		return fmt.Errorf("no NameConflict event among %d", len(l.Items))
	})
	setStatus(t, ns, "clash", func(s *rbgsv1.RoleBasedGroupSet) error {
		c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
		if c == nil || c.Reason != "NameConflict" || !strings.Contains(c.Message, "RoleBasedGroup "+ns+"/clash-1") {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	var g rbgsv1.RoleBasedGroup
	if err := get(t, ns, "clash-1", &g); err != nil {
		t.Fatal(err)
	}
	if len(g.OwnerReferences) > 0 || g.Labels[rbgsv1.LabelSetName] != "" {
		t.Errorf("the group was taken over: owners %v, labels %v", g.OwnerReferences, g.Labels)
	}
}
