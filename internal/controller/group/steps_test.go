package group

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// names lists what a plan writes, as "Kind name" (workloads with their
// replicas), in order.
func written(p *plan) []string {
	var out []string
	for _, w := range p.workloads {
		o := w.build()
		switch n := liveReplicas(o); {
		case n != nil:
			out = append(out, kindOf(o)+" "+o.GetName()+" x"+strings.Repeat("|", int(*n)))
		default:
			out = append(out, "Service "+o.GetName())
		}
	}
	return out
}

// A group starts in dependency order, one reconcile a step, and runs.
func TestStepsStartInOrder(t *testing.T) {
	s := newSim(t, wrappers.MakeGroup("g", "ns").Role("prefill", 2).Role("decode", 1, "prefill").Obj())
	p := s.step()
	if got := written(p); !slices.Equal(got, []string{"Service g-prefill", "StatefulSet g-prefill x||"}) {
		t.Errorf("first step writes %v", got)
	}
	if s.g.Status.Phase != rbgsv1.PhasePending || len(p.discovery) != 2 || !slices.Equal(p.started, []string{"prefill"}) {
		t.Errorf("first step: %s, %d discovery writes, started %v", s.g.Status.Phase, len(p.discovery), p.started)
	}
	s.settle()
	p = s.step()
	if !slices.Equal(p.started, []string{"decode"}) {
		t.Errorf("decode not started once prefill is ready: %v", p.started)
	}
	s.settle()
	s.step()
	if s.g.Status.Phase != rbgsv1.PhaseRunning || s.g.Status.ReadyRoles != 2 {
		t.Errorf("after both roles are ready: %+v", s.g.Status)
	}
}

// running brings s to Running.
func running(t *testing.T, s *sim) {
	t.Helper()
	s.run(10, nil)
}

// A scale keeps the group Running while no Ready pod is lost: Ready stays
// True, Progressing True with reason Scaling; a pod lost meanwhile makes
// it Degraded.
func TestStepsScaleKeepsServing(t *testing.T) {
	s := newSim(t, wrappers.MakeGroup("g", "ns").Role("prefill", 1).Role("decode", 2, "prefill").Obj())
	running(t, s)
	s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Replicas = new(int32(3)) })
	phaseIs := func(what string, phase rbgsv1.GroupPhase, reason string) {
		t.Helper()
		c := conditionOf(s.g.Status, rbgsv1.ConditionReady)
		if s.g.Status.Phase != phase || c.Reason != reason {
			t.Errorf("%s: %s, Ready %s %s (%s)", what, s.g.Status.Phase, c.Status, c.Reason, c.Message)
		}
	}
	s.step()
	phaseIs("decode asked to 3", rbgsv1.PhaseRunning, ReasonScaling)
	if c := conditionOf(s.g.Status, rbgsv1.ConditionProgressing); c.Status != "True" || c.Reason != ReasonScaling {
		t.Errorf("Progressing while scaling: %+v", c)
	}
	s.settle("g-decode-2")
	s.step()
	phaseIs("the new pod starting", rbgsv1.PhaseRunning, ReasonScaling)
	s.settle("g-decode-2", "g-decode-0")
	s.step()
	phaseIs("an old pod lost while scaling", rbgsv1.PhaseDegraded, ReasonRoleUnready)
	s.settle()
	s.step()
	phaseIs("all Ready", rbgsv1.PhaseRunning, ReasonAllRolesReady)

	// Down to 1: serving throughout.
	s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Replicas = new(int32(1)) })
	s.step()
	phaseIs("decode asked to 1", rbgsv1.PhaseRunning, ReasonScaling)
	s.settle()
	s.step()
	phaseIs("scaled down", rbgsv1.PhaseRunning, ReasonAllRolesReady)
}

// A new image is not a scale: the group is Progressing, not Running, from
// the reconcile that writes it, and its running revision stays.
func TestStepsTemplateChangeIsNoScale(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupRevision, "r1").Role("decode", 2).Obj()
	s := newSim(t, g)
	running(t, s)
	if s.g.Status.RunningRevision != "r1" {
		t.Fatalf("running revision %q", s.g.Status.RunningRevision)
	}
	s.edit(func(g *rbgsv1.RoleBasedGroup) {
		g.Labels[rbgsv1.LabelGroupRevision] = "r2"
		g.Spec.Roles[0].Replicas = new(int32(3))
		g.Spec.Roles[0].Template.Spec.Containers[0].Image = "v2"
	})
	s.step()
	if s.g.Status.Phase != rbgsv1.PhaseProgressing || s.g.Status.RunningRevision != "r1" {
		t.Errorf("a new template and a scale: %s at %q", s.g.Status.Phase, s.g.Status.RunningRevision)
	}
	s.run(10, nil)
	if s.g.Status.RunningRevision != "r2" {
		t.Errorf("running revision %q after the update", s.g.Status.RunningRevision)
	}
}

// unavailableInstances counts the instances of role (of replicas) that
// do not serve: emptied, missing, or with a pod not Ready.
func unavailableInstances(s *sim, role string, replicas int) int {
	n := 0
	for i := range replicas {
		name := "g-" + role + "-" + string(rune('0'+i))
		sts := s.ch.statefulSets[name]
		if sts == nil || replicasOf(sts.Spec.Replicas) == 0 || sts.Status.ReadyReplicas < replicasOf(sts.Spec.Replicas) {
			n++
		}
	}
	return n
}

// A change of size, with an image or replicas, replaces instances
// maxUnavailable at a time: an instance waiting for its turn is judged by
// the size it runs.
func TestStepsSizeChangeWithinBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *rbgsv1.RoleSpec)
		after  int
	}{
		{"size alone", func(r *rbgsv1.RoleSpec) { r.Size = new(int32(3)) }, 3},
		{"size and image", func(r *rbgsv1.RoleSpec) { r.Size = new(int32(3)); r.Template.Spec.Containers[0].Image = "v2" }, 3},
		{"size and replicas", func(r *rbgsv1.RoleSpec) { r.Size = new(int32(3)); r.Replicas = new(int32(4)) }, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, wrappers.MakeGroup("g", "ns").Role("decode", 3).Size(2).Obj())
			s.g.Spec.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromInt32(1))}
			running(t, s)
			s.edit(func(g *rbgsv1.RoleBasedGroup) { tc.change(&g.Spec.Roles[0]) })
			worst := 0
			s.run(40, func(int) { worst = max(worst, unavailableInstances(s, "decode", 3)) })
			if worst > 1 {
				t.Errorf("%d of the 3 instances down at once, want at most maxUnavailable 1", worst)
			}
			if got := len(s.ch.pods); got != tc.after*3 {
				t.Errorf("%d pods after the change, want %d", got, tc.after*3)
			}
		})
	}
}

// A change between size 1 and more, or of the workload kind, moves the
// role to its new layout a few instances at a time: the old workloads
// serve until the new ones do, never more than maxUnavailable instances
// short, and go when the move is done.
func TestStepsLayoutMoves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		from   func(w *wrappers.GroupWrapper) *wrappers.GroupWrapper
		change func(r *rbgsv1.RoleSpec)
		left   []string
	}{
		{"size 1 to 2", func(w *wrappers.GroupWrapper) *wrappers.GroupWrapper { return w }, func(r *rbgsv1.RoleSpec) { r.Size = new(int32(2)) },
			[]string{"g-decode-0", "g-decode-1", "g-decode-2", "g-decode-3"}},
		{"size 2 to 1", func(w *wrappers.GroupWrapper) *wrappers.GroupWrapper { return w.Size(2) }, func(r *rbgsv1.RoleSpec) { r.Size = nil },
			[]string{"g-decode"}},
		{"StatefulSet to Deployment", func(w *wrappers.GroupWrapper) *wrappers.GroupWrapper { return w },
			func(r *rbgsv1.RoleSpec) { r.Workload.Kind = rbgsv1.WorkloadDeployment }, []string{"g-decode"}},
		{"Deployment to size 2", func(w *wrappers.GroupWrapper) *wrappers.GroupWrapper { return w.Workload(rbgsv1.WorkloadDeployment) },
			func(r *rbgsv1.RoleSpec) { r.Workload.Kind, r.Size = rbgsv1.WorkloadStatefulSet, new(int32(2)) },
			[]string{"g-decode-0", "g-decode-1", "g-decode-2", "g-decode-3"}},
	} {
		for _, lagging := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, cache lagging %v", tc.name, lagging), func(t *testing.T) {
				s := newSim(t, tc.from(wrappers.MakeGroup("g", "ns").Role("decode", 4)).Obj())
				running(t, s)
				// A cache that still shows a deleted workload for a step must
				// not make the move take more down.
				s.lagging = lagging
				s.edit(func(g *rbgsv1.RoleBasedGroup) { tc.change(&g.Spec.Roles[0]) })
				least := 4
				s.run(40, func(int) { least = min(least, servingInstances(s)) })
				if least < 3 {
					t.Errorf("at worst %d of 4 instances served during the move, want at least 4 - maxUnavailable 1", least)
				}
				var workloads []string
				for name := range s.ch.statefulSets {
					workloads = append(workloads, name)
				}
				for name := range s.ch.deployments {
					workloads = append(workloads, name)
				}
				slices.Sort(workloads)
				if !slices.Equal(workloads, tc.left) {
					t.Errorf("workloads after the move %v, want %v", workloads, tc.left)
				}
			})
		}
	}
}

// servingInstances counts the instances of role decode whose pods are all
// Ready, in every layout.
func servingInstances(s *sim) int {
	size := map[string]int{}
	ready := map[string]int{}
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		// An instance of size > 1 is its StatefulSet; one of size 1 its pod.
		key := p.Name
		if _, multi := p.Labels[rbgsv1.LabelInstance]; multi {
			key = p.Annotations["owner"]
		}
		size[key]++
		if podReady(p) {
			ready[key]++
		}
	}
	n := 0
	for k, total := range size {
		if ready[k] == total {
			n++
		}
	}
	return n
}

// Adding a gang of the whole role to a role that runs moves all its pods
// to the gang together: the workload is emptied, and comes back once the
// gang is in place, every pod in it; never a stalled update.
func TestStepsGangAddedToARunningRole(t *testing.T) {
	for _, size := range []int32{1, 2} {
		t.Run("size "+string(rune('0'+size)), func(t *testing.T) {
			w := wrappers.MakeGroup("g", "ns").Role("router", 3)
			if size > 1 {
				w = w.Size(size)
			}
			s := newSim(t, w.Obj())
			running(t, s)
			s.edit(func(g *rbgsv1.RoleBasedGroup) {
				g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangRole}
			})
			mixed := false
			s.run(20, func(int) {
				if s.readyPods("router", "") > 0 && s.readyPods("router", "g-router") > 0 {
					mixed = true
				}
			})
			if mixed {
				t.Error("pods in the gang ran beside pods outside it")
			}
			if n := s.readyPods("router", "g-router"); n != int(3*size) {
				t.Errorf("%d pods in the gang, want %d", n, 3*size)
			}
		})
	}
}

// A gang of the whole role scaled to 0 and back while its PodGroup is
// still being deleted: the role waits for the PodGroup to go, deletes it
// once, says why in the right words, and comes back in a new gang.
func TestStepsGangScaledToZeroAndBack(t *testing.T) {
	s := newSim(t, wrappers.MakeGroup("g", "ns").Role("router", 2).Gang(rbgsv1.GangRole, "").Obj())
	running(t, s)
	s.lingering["g-router"] = 3
	s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(0)) })
	p := s.step()
	if len(p.prune) != 1 || p.prune[0].obj.GetName() != "g-router" || p.prune[0].why != "its role runs no pods" {
		t.Fatalf("prune %+v, want the PodGroup, for a role with no pods", p.prune)
	}
	s.settle()
	s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(2)) })
	for i := range 2 {
		p := s.step()
		if len(p.prune) != 0 || len(p.gangs) != 0 {
			t.Errorf("step %d: pruned %v, wrote %d gangs while the PodGroup is being deleted", i, p.prune, len(p.gangs))
		}
		if n := replicasOf(s.ch.statefulSets["g-router"].Spec.Replicas); n != 0 {
			t.Errorf("step %d: router scaled to %d while its gang is being deleted", i, n)
		}
		s.settle()
	}
	s.run(10, nil)
	if n := s.readyPods("router", "g-router"); n != 2 {
		t.Errorf("%d pods in the new gang, want 2", n)
	}
}

// A role whose gangs cannot be written is not Ready at the new spec: the
// group does not turn Running at it, and keeps its running revision.
func TestStepsBlockedRoleIsNotReady(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupRevision, "r1").
		Role("router", 2).Gang(rbgsv1.GangRole, "").Obj()
	s := newSim(t, g)
	running(t, s)
	s.gangs.served = false
	s.edit(func(g *rbgsv1.RoleBasedGroup) {
		g.Labels[rbgsv1.LabelGroupRevision] = "r2"
		g.Spec.Roles[0].Template.Spec.Containers[0].Image = "v2"
	})
	for range 3 {
		s.step()
		s.settle()
	}
	if st := s.g.Status; st.Phase == rbgsv1.PhaseRunning || st.RunningRevision != "r1" || st.ReadyRoles != 0 {
		t.Errorf("blocked role: %s, %d roles ready, running revision %q", st.Phase, st.ReadyRoles, st.RunningRevision)
	}
	if c := conditionOf(s.g.Status, rbgsv1.ConditionGangsScheduled); c.Reason != ReasonGangSchedulingUnavailable {
		t.Errorf("GangsScheduled %+v", c)
	}
}

// Under updatePolicy Recreate a new template empties the changed roles,
// and starts them again in dependency order once none of their pods is
// left: no moment has live pods of two templates; a scale recreates
// nothing.
func TestStepsRecreate(t *testing.T) {
	for _, size := range []int32{1, 2} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) {
			w := wrappers.MakeGroup("g", "ns").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupRevision, "r1").
				Role("prefill", 2).Role("decode", 2, "prefill")
			if size > 1 {
				w = w.Size(size)
			}
			s := newSim(t, w.Obj())
			s.g.Spec.UpdatePolicy = rbgsv1.UpdateRecreate
			s.graceful = true
			running(t, s)
			s.edit(func(g *rbgsv1.RoleBasedGroup) {
				g.Labels[rbgsv1.LabelGroupRevision] = "r2"
				for i := range g.Spec.Roles {
					g.Spec.Roles[i].Template.Spec.Containers[0].Image = "v2"
				}
			})
			prefillFirst := false
			s.run(30, func(int) {
				seen := map[string]bool{}
				decode := false
				for i := range s.ch.pods {
					p := &s.ch.pods[i]
					if p.DeletionTimestamp == nil {
						seen[p.Labels[rbgsv1.LabelGroupRevision]] = true
						decode = decode || (p.Labels[rbgsv1.LabelRole] == "decode" && p.Labels[rbgsv1.LabelGroupRevision] == "r2")
					}
				}
				if len(seen) > 1 {
					t.Fatalf("live pods of revisions %v at once", seen)
				}
				if seen["r2"] && !decode {
					prefillFirst = true
				}
				if decode && !prefillFirst {
					t.Fatal("decode started again before prefill alone ran")
				}
			})
			if !prefillFirst || s.readyPods("decode", "*") != int(2*size) {
				t.Errorf("recreated in order: %v, %d decode pods", prefillFirst, s.readyPods("decode", "*"))
			}
			// A scale recreates nothing.
			before := len(s.ch.pods)
			s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Replicas = new(int32(3)) })
			s.step()
			s.settle()
			if n := len(s.ch.pods); n != before+int(size) {
				t.Errorf("%d pods after a scale, want %d: a scale emptied something", n, before+int(size))
			}
		})
	}
}

// A role with maxSurge 1 and maxUnavailable 0 adds an instance (size 2)
// or a pod (size 1) at the new template before any old one goes: never
// fewer than its replicas serve, never more than replicas + 1 exist, the
// surge is in discovery while it runs, and it ends on its replicas.
func TestStepsRoleSurge(t *testing.T) {
	for _, size := range []int32{1, 2} {
		t.Run(fmt.Sprintf("size %d", size), func(t *testing.T) {
			w := wrappers.MakeGroup("g", "ns").Role("decode", 3)
			if size > 1 {
				w = w.Size(size)
			}
			s := newSim(t, w.Obj())
			s.g.Spec.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{
				MaxUnavailable: new(intstr.FromInt32(0)), MaxSurge: new(intstr.FromInt32(1))}
			s.graceful, s.rolling = true, true
			running(t, s)
			s.edit(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Template.Spec.Containers[0].Image = "v2" })
			least, most, listed := 3, 0, false
			s.run(60, func(int) {
				least = min(least, servingInstances(s))
				most = max(most, instancesRun(s, size))
				env := s.ch.configMaps["g-rbgs-env"]
				listed = listed || (env != nil && env.Data["RBGS_ROLES_DECODE_3_ADDRESS"] != "")
			})
			if least < 3 || most > 4 || !listed {
				t.Errorf("at worst %d of 3 instances served, at most %d ran, surge listed in discovery: %v; want at least 3, at most 4, listed",
					least, most, listed)
			}
			if n := instancesRun(s, size); n != 3 {
				t.Errorf("%d instances after the update, want 3", n)
			}
		})
	}
}

// instancesRun counts the instances of decode that have pods (live or
// terminating), of size size.
func instancesRun(s *sim, size int32) int {
	n := 0
	for i := range s.ch.pods {
		if s.ch.pods[i].Labels[rbgsv1.LabelRole] == "decode" {
			n++
		}
	}
	return (n + int(size) - 1) / int(size)
}

// fractions is, for each role (want: its replicas), the part of its
// instances below replicas whose pods are all Ready and run their
// StatefulSet's template at image v2.
func fractions(s *sim, want map[string]int) map[string]float64 {
	ready := map[string]map[string]int{} // role -> instance -> updated Ready pods
	size := map[string]int{}
	for i := range s.g.Spec.Roles {
		size[s.g.Spec.Roles[i].Role] = int(s.g.Spec.Roles[i].SizeOrDefault())
	}
	for i := range s.ch.pods {
		p := &s.ch.pods[i]
		role := p.Labels[rbgsv1.LabelRole]
		sts := s.ch.statefulSets[strings.TrimPrefix(p.Annotations["owner"], "StatefulSet/")]
		if sts == nil || p.DeletionTimestamp != nil || !podReady(p) || sts.Spec.Template.Spec.Containers[0].Image != "v2" ||
			p.Labels[appsv1.ControllerRevisionHashLabelKey] != revisionOf(sts.Name, &sts.Spec.Template) {
			continue
		}
		instance := p.Labels[appsv1.PodIndexLabel]
		if size[role] > 1 {
			instance = p.Labels[rbgsv1.LabelInstance]
		}
		if k, err := strconv.Atoi(instance); err != nil || k >= want[role] {
			continue // a surge instance
		}
		if ready[role] == nil {
			ready[role] = map[string]int{}
		}
		ready[role][instance]++
	}
	out := map[string]float64{}
	for role, n := range want {
		updated := 0
		for _, pods := range ready[role] {
			if pods == size[role] {
				updated++
			}
		}
		out[role] = float64(updated) / float64(n)
	}
	return out
}

// Roles that move together: prefill 8 and decode 4 with maxSkew 25% never
// have their updated and Ready fractions more than 25% apart; without
// coordination they drift further. The same holds for instances of 2
// pods, and with a surge pod for decode.
//
// With eager reconciles (the operator plans again before the StatefulSet
// controller has seen its last write) no partition ever rises during the
// rollout: a cap read from a status that lags would take back pods the
// last write let move, and the StatefulSet would stop there.
func TestStepsCoordinatedRoles(t *testing.T) {
	shapes := []struct {
		name  string
		group func() *rbgsv1.RoleBasedGroup
		// decode's instances at most, as run: 5 proves the surge.
		decode int
	}{
		{"size 1", func() *rbgsv1.RoleBasedGroup {
			return wrappers.MakeGroup("g", "ns").Role("prefill", 8).Role("decode", 4).Obj()
		}, 4},
		{"instances of 2 pods", func() *rbgsv1.RoleBasedGroup {
			return wrappers.MakeGroup("g", "ns").Role("prefill", 8).Size(2).Role("decode", 4).Size(2).Obj()
		}, 4},
		{"decode with a surge pod", func() *rbgsv1.RoleBasedGroup {
			g := wrappers.MakeGroup("g", "ns").Role("prefill", 8).Role("decode", 4).Obj()
			g.Spec.Roles[1].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromInt32(0)), MaxSurge: new(intstr.FromInt32(1))}
			return g
		}, 5},
	}
	worst := func(t *testing.T, g *rbgsv1.RoleBasedGroup, coordinated, eager bool) (float64, string, int) {
		size := g.Spec.Roles[1].SizeOrDefault()
		decode := 0
		s := newSim(t, g)
		if coordinated {
			s.g.Spec.Coordination = &rbgsv1.Coordination{MaxSkew: intstr.FromString("25%")}
		}
		s.graceful, s.rolling = true, true
		running(t, s)
		s.eager = eager
		s.edit(func(g *rbgsv1.RoleBasedGroup) {
			for i := range g.Spec.Roles {
				g.Spec.Roles[i].Template.Spec.Containers[0].Image = "v2"
			}
		})
		most, note := 0.0, ""
		partitions := map[string]int32{}
		s.run(120, func(i int) {
			decode = max(decode, instancesRun(s, size))
			f := fractions(s, map[string]int{"prefill": 8, "decode": 4})
			if d := math.Abs(f["prefill"] - f["decode"]); d > most {
				most = d
			}
			if msg := conditionOf(s.g.Status, rbgsv1.ConditionReady).Message; strings.Contains(msg, "waits for") {
				for _, rs := range s.g.Status.Roles {
					if rs.WaitsFor != "" {
						note = fmt.Sprintf("%s waits for %s: %s", rs.Role, rs.WaitsFor, msg)
					}
				}
			}
			for name, sts := range s.ch.statefulSets {
				p := livePartition(sts)
				if before, ok := partitions[name]; ok && p > before && coordinated {
					t.Errorf("eager %v, step %d: %s's partition rose from %d to %d", eager, i, name, before, p)
				}
				partitions[name] = p
			}
		})
		if f := fractions(s, map[string]int{"prefill": 8, "decode": 4}); f["prefill"] != 1 || f["decode"] != 1 {
			t.Errorf("eager %v: rolled out to %v, want every instance", eager, f)
		}
		return most, note, decode
	}
	for _, shape := range shapes {
		t.Run(shape.name, func(t *testing.T) {
			for _, eager := range []bool{false, true} {
				coordinated, note, decode := worst(t, shape.group(), true, eager)
				if coordinated > 0.25+1e-9 || decode != shape.decode {
					t.Errorf("eager %v: coordinated roles %.3f apart, decode ran %d instances at most; want at most 25%% and %d",
						eager, coordinated, decode, shape.decode)
				}
				if !strings.Contains(note, "waits for") {
					t.Errorf("eager %v: the status never said which role waits for which", eager)
				}
				if free, _, _ := worst(t, shape.group(), false, eager); free <= coordinated {
					t.Errorf("eager %v: roles left alone drift %.3f apart, coordinated %.3f: the test shows no coordination", eager, free, coordinated)
				}
				t.Logf("eager %v: coordinated %.3f apart at worst (%q); on their own further", eager, coordinated, note)
			}
		})
	}
}
