package group

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// Gang scheduling goes through the Kubernetes Workload API: the operator
// creates one scheduling.k8s.io/v1beta1 PodGroup per gang (an instance of a
// role of size > 1, or a whole role) and names it in the pods'
// spec.schedulingGroup. A gang's pods are created only once its PodGroup
// is in the cache, as the role asks for it: the scheduler then places
// them all together or not at all, in one domain of the topology key when
// one is asked for. The pods' PodScheduled conditions tell how it went,
// and the group reports them. A role that asks for a gang on a cluster
// that does not serve the API is not started: scheduling its pods one by
// one would break the all-or-nothing promise.
//
// A PodGroup keeps the fields it was created with (its topology
// constraint, its disruption mode). One that no longer fits its role is
// replaced once none of its pods is left: the instances of a gang of an
// instance are replaced through the role's budget, and the pods of a gang
// of the whole role, which can only be placed together, all go at once
// and come back together in the new gang.

// podGroupKind is the kind of the Workload API's gangs.
var podGroupKind = schema.GroupKind{Group: schedulingv1beta1.GroupName, Kind: "PodGroup"}

// Reasons of the GangsScheduled condition and of its events.
const (
	ReasonGangsScheduled            = "Scheduled"
	ReasonGangsPending              = "Pending"
	ReasonGangUnschedulable         = schedulingv1beta1.PodGroupReasonUnschedulable
	ReasonGangSchedulerError        = schedulingv1beta1.PodGroupReasonSchedulerError
	ReasonGangSchedulingUnavailable = "GangSchedulingUnavailable"
	ReasonTopologyUnavailable       = "TopologyUnavailable"
)

// gangsUnavailable says how to enable the API PodGroups need.
const gangsUnavailable = "the cluster does not serve podgroups.scheduling.k8s.io/v1beta1: enable the GenericWorkload feature gate " +
	"on kube-apiserver, kube-controller-manager and kube-scheduler, and --runtime-config=scheduling.k8s.io/v1beta1=true on kube-apiserver"

// topologyUnavailable says how to enable topology constraints.
const topologyUnavailable = "the API server dropped the topology constraint of PodGroup %s: enable the TopologyAwareWorkloadScheduling " +
	"feature gate on kube-apiserver, kube-controller-manager and kube-scheduler, then delete the PodGroup so the operator creates it again"

// PodGroupAPI tells whether the cluster serves PodGroups, asking the REST
// mapper (which asks the API server's discovery about a kind it does not
// know) at most once per Interval.
type PodGroupAPI struct {
	Mapper   apimeta.RESTMapper
	Clock    clock.PassiveClock
	Interval time.Duration

	mu      sync.Mutex
	checked time.Time
	served  bool
}

// Served reports whether the cluster served PodGroups when last asked.
func (a *PodGroupAPI) Served() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := a.Clock.Now(); a.checked.IsZero() || now.Sub(a.checked) >= a.Interval {
		_, err := a.Mapper.RESTMapping(podGroupKind, schedulingv1beta1.SchemeGroupVersion.Version)
		a.served, a.checked = err == nil, now
	}
	return a.served
}

// gangAPI says whether the cluster can take a group's PodGroups.
type gangAPI struct {
	// served: the cluster serves PodGroups; watched: the operator watches
	// and caches them, which it does when it started on such a cluster.
	served, watched bool
}

// gangRoles lists the roles of t that ask for a gang.
func gangRoles(t *topology.Group) []string {
	var out []string
	for _, r := range t.Roles {
		if r.Gang != rbgsv1.GangNone {
			out = append(out, r.Name)
		}
	}
	return out
}

// desiredPodGroup is the PodGroup of gang pg of role r of g, resolved as
// role: gang scheduling of pg.MinCount pods, in one domain of the role's
// topology key when it has one. An instance is disrupted (preempted) as a
// whole: its ranks cannot carry on without one of theirs.
func desiredPodGroup(g *rbgsv1.RoleBasedGroup, role *topology.Role, pg topology.PodGroup) *schedulingv1beta1.PodGroup {
	m := objectMeta(g, pg.Name, role.Name)
	m.Annotations = map[string]string{rbgsv1.AnnotationTopologyKey: role.TopologyKey}
	spec := schedulingv1beta1.PodGroupSpec{
		SchedulingPolicy: schedulingv1beta1.PodGroupSchedulingPolicy{Gang: &schedulingv1beta1.GangSchedulingPolicy{MinCount: pg.MinCount}},
		DisruptionMode:   &schedulingv1beta1.DisruptionMode{Single: &schedulingv1beta1.SingleDisruptionMode{}},
	}
	if pg.Instance != nil {
		m.Labels[rbgsv1.LabelInstance] = strconv.Itoa(int(*pg.Instance))
		spec.DisruptionMode = &schedulingv1beta1.DisruptionMode{All: &schedulingv1beta1.AllDisruptionMode{}}
	}
	if role.TopologyKey != "" {
		spec.SchedulingConstraints = &schedulingv1beta1.PodGroupSchedulingConstraints{
			Topology: []schedulingv1beta1.TopologyConstraint{{Key: role.TopologyKey}},
		}
	}
	return &schedulingv1beta1.PodGroup{ObjectMeta: m, Spec: spec}
}

// gangStale reports whether live, the PodGroup of gang pg of role, no
// longer fits it: it was created with other fixed fields (its topology
// constraint and disruption mode cannot change).
func gangStale(g *rbgsv1.RoleBasedGroup, role *topology.Role, pg topology.PodGroup, live *schedulingv1beta1.PodGroup) bool {
	want := desiredPodGroup(g, role, pg)
	return live.Annotations[rbgsv1.AnnotationTopologyKey] != want.Annotations[rbgsv1.AnnotationTopologyKey] ||
		!equality.Semantic.DeepEqual(live.Spec.DisruptionMode, want.Spec.DisruptionMode)
}

// keepFixed is desired with the fixed fields of live, so that applying it
// changes only what may change (minCount, labels).
func keepFixed(desired, live *schedulingv1beta1.PodGroup) *schedulingv1beta1.PodGroup {
	desired.Annotations[rbgsv1.AnnotationTopologyKey] = live.Annotations[rbgsv1.AnnotationTopologyKey]
	desired.Spec.SchedulingConstraints = live.Spec.SchedulingConstraints
	desired.Spec.DisruptionMode = live.Spec.DisruptionMode
	return desired
}

// gangScope selects the pods of gang pg of role.
func gangScope(role *topology.Role, pg topology.PodGroup) podScope {
	if pg.Instance != nil {
		return instanceScope(role.Name, *pg.Instance)
	}
	return roleScope(role.Name)
}

// gangBlocker is why the gangs of a group cannot be created: the reason
// of the GangsScheduled condition and its message; empty when they can.
type gangBlocker struct {
	reason, message string
}

// gangState is where one PodGroup the spec asks for stands.
type gangState int

const (
	// gangInPlace: the PodGroup is in the cache as its role asks: its
	// pods may be created.
	gangInPlace gangState = iota
	// gangComing: the PodGroup is being created, deleted or replaced: its
	// pods wait.
	gangComing
	// gangStaleInUse: the PodGroup no longer fits its role and pods still
	// use it: they go (their instances are replaced) before it is
	// replaced.
	gangStaleInUse
)

// gangPlan is what a reconcile does to a group's PodGroups, and where
// each stands.
type gangPlan struct {
	writes []write
	// replace lists the stale PodGroups no pod uses any more, to delete:
	// a later reconcile creates them again as the role asks.
	replace []objectRef
	// blocked lists the roles whose gangs cannot be written; blocker says
	// why.
	blocked map[string]bool
	blocker gangBlocker
	states  map[string]gangState
}

// ready reports whether gang name ("" for none) is in place.
func (p *gangPlan) ready(name string) bool { return name == "" || p.states[name] == gangInPlace }

// stale reports whether gang name must be replaced while pods use it.
func (p *gangPlan) stale(name string) bool { return name != "" && p.states[name] == gangStaleInUse }

// planGangs decides the writes of the PodGroups of obs, before any
// workload: every gang role is blocked when the cluster does not serve
// PodGroups, or did not when the operator started (it watches and caches
// them from its start), and so is a role whose topology constraint the
// API server dropped.
func planGangs(obs *observation) *gangPlan {
	p := &gangPlan{blocked: map[string]bool{}, states: map[string]gangState{}}
	roles := gangRoles(obs.t)
	if len(roles) == 0 {
		return p
	}
	if !obs.gangs.served || !obs.gangs.watched {
		why := gangsUnavailable
		if obs.gangs.served {
			why = "the cluster started serving podgroups.scheduling.k8s.io/v1beta1 after the operator: restart the operator, which watches them from its start"
		}
		for _, r := range roles {
			p.blocked[r] = true
		}
		p.blocker = gangBlocker{ReasonGangSchedulingUnavailable, fmt.Sprintf("roles %s ask for gang scheduling, but %s",
			strings.Join(roles, ", "), why)}
		return p
	}
	for i := range obs.t.Roles {
		role := &obs.t.Roles[i]
		for _, pg := range role.PodGroups {
			p.plan(obs, role, pg)
		}
	}
	return p
}

// plan decides what to do with gang pg of role.
func (p *gangPlan) plan(obs *observation, role *topology.Role, pg topology.PodGroup) {
	g, live := obs.g, obs.ch.podGroups[pg.Name]
	if live == nil {
		p.states[pg.Name] = gangComing
		p.writes = append(p.writes, write{build: func() client.Object { return desiredPodGroup(g, role, pg) }})
		return
	}
	stale := gangStale(g, role, pg, live)
	switch {
	case live.DeletionTimestamp != nil:
		p.states[pg.Name] = gangComing // created again once it is gone
		return
	case stale && len(gangScope(role, pg).of(obs.ch.pods)) == 0:
		p.states[pg.Name] = gangComing
		p.replace = append(p.replace, objectRef{kind: "PodGroup", obj: live, why: "replaced: the role asks for another placement"})
		return
	case stale:
		p.states[pg.Name] = gangStaleInUse
		p.writes = append(p.writes, write{live: live, build: func() client.Object { return keepFixed(desiredPodGroup(g, role, pg), live) }})
		return
	}
	p.states[pg.Name] = gangInPlace
	p.writes = append(p.writes, write{live: live, build: func() client.Object { return desiredPodGroup(g, role, pg) }})
	// Created with the role's topology key, but without the constraint:
	// the API server dropped it.
	if role.TopologyKey != "" && live.Spec.SchedulingConstraints == nil {
		p.blocked[role.Name] = true
		p.blocker = gangBlocker{ReasonTopologyUnavailable, fmt.Sprintf(topologyUnavailable, pg.Name)}
	}
}

// gangsCondition is the GangsScheduled condition of obs's group, from the
// PodScheduled conditions of the pods of each gang: False with the
// scheduler's word when a pod of a gang cannot be placed, Pending until
// every gang has its pods placed, True then; nil when no role asks for a
// gang. Until a gang is placed for the first time, its PodGroup's
// PodGroupInitiallyScheduled condition is the scheduler's latest word on
// the gang as a whole, and counts too; once True it never changes again,
// and only the pods tell of an instance refilled under it that cannot be
// placed.
func gangsCondition(obs *observation, blocker gangBlocker) *metav1.Condition {
	if len(gangRoles(obs.t)) == 0 {
		return nil
	}
	c := &metav1.Condition{Type: rbgsv1.ConditionGangsScheduled, ObservedGeneration: obs.g.Generation, LastTransitionTime: obs.now}
	if blocker.reason != "" {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, blocker.reason, blocker.message
		return c
	}
	var pending []string
	for i := range obs.t.Roles {
		r := &obs.t.Roles[i]
		for _, pg := range r.PodGroups {
			what := "role " + r.Name
			if pg.Instance != nil {
				what = fmt.Sprintf("instance %d of role %s", *pg.Instance, r.Name)
			}
			placed, failed := gangPlacement(gangScope(r, pg).of(obs.ch.pods))
			if live := obs.ch.podGroups[pg.Name]; failed == nil && live != nil {
				if sc := apimeta.FindStatusCondition(live.Status.Conditions, schedulingv1beta1.PodGroupInitiallyScheduled); sc != nil && sc.Status == metav1.ConditionFalse {
					failed = &corev1.PodCondition{Reason: sc.Reason, Message: sc.Message}
				}
			}
			switch {
			case failed != nil:
				c.Status, c.Reason = metav1.ConditionFalse, ReasonGangUnschedulable
				if failed.Reason == corev1.PodReasonSchedulerError || failed.Reason == schedulingv1beta1.PodGroupReasonSchedulerError {
					c.Reason = ReasonGangSchedulerError
				}
				c.Message = fmt.Sprintf("%s (PodGroup %s) cannot be placed: %s", what, pg.Name, failed.Message)
				return c
			case placed < pg.MinCount:
				pending = append(pending, what)
			}
		}
	}
	if len(pending) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, ReasonGangsPending
		c.Message = "waiting for the scheduler to place " + strings.Join(pending[:min(len(pending), 3)], ", ")
		if len(pending) > 3 {
			c.Message += fmt.Sprintf(" and %d more", len(pending)-3)
		}
		return c
	}
	c.Status, c.Reason, c.Message = metav1.ConditionTrue, ReasonGangsScheduled, "every gang is placed"
	return c
}

// gangPlacement counts the pods of a gang the scheduler placed, and
// returns the PodScheduled condition of the first (by name) it says it
// cannot place; pods being deleted do not count.
func gangPlacement(pods []corev1.Pod) (placed int32, failed *corev1.PodCondition) {
	failedPod := ""
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		c := podScheduled(p)
		switch {
		case c == nil:
		case c.Status == corev1.ConditionTrue:
			placed++
		case c.Reason == corev1.PodReasonUnschedulable || c.Reason == corev1.PodReasonSchedulerError:
			if failed == nil || p.Name < failedPod {
				failed, failedPod = c, p.Name
			}
		}
	}
	return placed, failed
}

// podScheduled is the PodScheduled condition of p, nil when it has none.
func podScheduled(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}
