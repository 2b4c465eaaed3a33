package set

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// The revision changes with what groups run, and only with that.
func TestRevision(t *testing.T) {
	base := func() *rbgsv1.RoleBasedGroupSet {
		return wrappers.MakeSet("s", "ns").Replicas(3).Role("prefill", 2).Role("decode", 1, "prefill").Obj()
	}
	want := revision(base())
	for _, tc := range []struct {
		name    string
		change  func(*rbgsv1.RoleBasedGroupSet)
		differs bool
	}{
		{"groups", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.Replicas = new(int32(9)) }, false},
		{"a role's replicas", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[0].Replicas = new(int32(5)) }, false},
		{"size 1 written out", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[1].Size = new(int32(1)) }, false},
		{"how a role's instances are replaced", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.GroupTemplate.Roles[1].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromInt32(2))}
		}, false},
		{"restart settings", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.RestartPolicy = rbgsv1.RestartRecreateGroup }, false},
		{"the set's rollout", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.RolloutStrategy.Paused = true }, false},
		{"surge and the group update policy", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.RolloutStrategy.MaxSurge, s.Spec.RolloutStrategy.GroupUpdatePolicy = new(intstr.FromInt32(1)), rbgsv1.UpdateRecreate
		}, false},
		{"how the roles move together", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.GroupTemplate.Coordination = &rbgsv1.Coordination{MaxSkew: intstr.FromString("25%")}
		}, false},
		{"size 4", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[1].Size = new(int32(4)) }, true},
		{"an image", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Image = "v2"
		}, true},
		{"the startup policy", func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.StartupPolicy = rbgsv1.StartupParallel }, true},
	} {
		s := base()
		tc.change(s)
		if got := revision(s); (got != want) != tc.differs {
			t.Errorf("%s: revision changed %v, want %v", tc.name, got != want, tc.differs)
		}
	}
}

// A group the rollout has not reached takes the set's replica counts,
// restart settings, update policy, coordination and instance rollout
// settings, and keeps its templates.
func TestScaledSpec(t *testing.T) {
	s := wrappers.MakeSet("s", "ns").Role("decode", 4).Obj()
	s.Spec.GroupTemplate.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromString("50%"))}
	s.Spec.RestartPolicy = rbgsv1.RestartRecreateGroup
	s.Spec.RolloutStrategy.GroupUpdatePolicy = rbgsv1.UpdateRecreate
	s.Spec.GroupTemplate.Coordination = &rbgsv1.Coordination{MaxSkew: intstr.FromString("25%")}
	g := wrappers.MakeGroup("s-0", "ns").Role("decode", 1).Obj()
	g.Spec.Roles[0].Template.Spec.Containers[0].Image = "old"
	spec := scaledSpec(s, g)
	r := spec.Roles[0]
	if *r.Replicas != 4 || r.RolloutStrategy.MaxUnavailable.StrVal != "50%" || spec.RestartPolicy != rbgsv1.RestartRecreateGroup ||
		spec.UpdatePolicy != rbgsv1.UpdateRecreate || spec.Coordination == nil || spec.Coordination.MaxSkew.StrVal != "25%" ||
		r.Template.Spec.Containers[0].Image != "old" {
		t.Errorf("scaled spec %+v", spec)
	}
}

// A group the rollout has not reached keeps its own replicas of a role
// whose size the new revision changes: the set counts instances of the new
// size (1 x 8 edited to 4 x 2 keeps 8 pods, not 2; the reverse keeps 2
// instances of 4, not 8).
func TestScaledSpecKeepsCountsOfAnotherSize(t *testing.T) {
	for _, tc := range []struct {
		name                string
		oldSize, newSize    int32
		oldCount, newCount  int32
		wantCount, wantSize int32
	}{
		{"size 1 x 8 to size 4 x 2", 1, 4, 8, 2, 8, 1},
		{"size 4 x 2 to size 1 x 8", 4, 1, 2, 8, 2, 4},
		{"same size", 2, 2, 3, 5, 5, 2},
	} {
		s := wrappers.MakeSet("s", "ns").Role("decode", tc.newCount).Obj()
		s.Spec.GroupTemplate.Roles[0].Size = &tc.newSize
		g := wrappers.MakeGroup("s-0", "ns").Role("decode", tc.oldCount).Obj()
		g.Spec.Roles[0].Size = &tc.oldSize
		r := scaledSpec(s, g).Roles[0]
		if r.ReplicasOrDefault() != tc.wantCount || r.SizeOrDefault() != tc.wantSize {
			t.Errorf("%s: %d x %d, want %d x %d", tc.name, r.ReplicasOrDefault(), r.SizeOrDefault(), tc.wantCount, tc.wantSize)
		}
	}
}
