package group

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// Gang scheduling goes through the Kubernetes Workload API: the operator
// creates one scheduling.k8s.io/v1beta1 PodGroup per gang (an instance of a
// role of size > 1, or a whole role), before the workload whose pods join
// it, and names it in the pods' spec.schedulingGroup. The scheduler then
// places the pods of a gang all together or not at all, in one domain of
// the topology key when one is asked for, and says how it went in the
// PodGroup's PodGroupInitiallyScheduled condition, which the group
// reports. A role that asks for a gang on a cluster that does not serve
// the API is not started: scheduling its pods one by one would break the
// all-or-nothing promise.

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

// servesPodGroups reports whether the cluster serves PodGroups, as the
// client's REST mapper (which looks again when it does not know a kind)
// says.
func servesPodGroups(c client.Client) bool {
	_, err := c.RESTMapper().RESTMapping(podGroupKind, schedulingv1beta1.SchemeGroupVersion.Version)
	return err == nil
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
// longer fits it: it is being deleted, or it was created with other fixed
// fields (its topology constraint and disruption mode cannot change). Such
// a gang is placed again only once its PodGroup is replaced, which happens
// when none of its pods is left.
func gangStale(g *rbgsv1.RoleBasedGroup, role *topology.Role, pg topology.PodGroup, live *schedulingv1beta1.PodGroup) bool {
	if live == nil {
		return false
	}
	want := desiredPodGroup(g, role, pg)
	return live.DeletionTimestamp != nil ||
		live.Annotations[rbgsv1.AnnotationTopologyKey] != want.Annotations[rbgsv1.AnnotationTopologyKey] ||
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

// gangPods counts the pods of gang pg of role.
func gangPods(pods []corev1.Pod, role *topology.Role, pg topology.PodGroup) int {
	if pg.Instance != nil {
		return len(instancePods(pods, role.Name, *pg.Instance))
	}
	n := 0
	for i := range pods {
		if pods[i].Labels[rbgsv1.LabelRole] == role.Name {
			n++
		}
	}
	return n
}

// gangBlocker is why the gangs of a group cannot be created: the reason
// of the GangsScheduled condition and its message; empty when they can.
type gangBlocker struct {
	reason, message string
}

// podGroups writes the PodGroups of the roles of t that ask for a gang,
// before their workloads. It returns the roles that may not be written,
// and why: every gang role when the cluster does not serve PodGroups
// (served), or did not when the operator started (watched: the operator
// watches and caches them from its start), and a role whose topology
// constraint the API server dropped. It also returns the stale PodGroups
// (see gangStale) that no pod uses any more, to delete: the next reconcile
// creates them again as the role asks.
func (w *writer) podGroups(served, watched bool) (map[string]bool, gangBlocker, []objectRef) {
	roles := gangRoles(w.t)
	if len(roles) == 0 {
		return nil, gangBlocker{}, nil
	}
	blocked := map[string]bool{}
	if !served || !watched {
		for _, r := range roles {
			blocked[r] = true
		}
		why := gangsUnavailable
		if served {
			why = "the cluster started serving podgroups.scheduling.k8s.io/v1beta1 after the operator: restart the operator, which watches them from its start"
		}
		return blocked, gangBlocker{ReasonGangSchedulingUnavailable, fmt.Sprintf("roles %s ask for gang scheduling, but %s",
			strings.Join(roles, ", "), why)}, nil
	}
	var why gangBlocker
	var replace []objectRef
	for i := range w.t.Roles {
		role := &w.t.Roles[i]
		for _, pg := range role.PodGroups {
			live := w.ch.podGroups[pg.Name]
			stale := gangStale(w.g, role, pg, live)
			switch {
			case stale && live.DeletionTimestamp != nil:
				continue // created again once it is gone
			case stale && gangPods(w.ch.pods, role, pg) == 0:
				replace = append(replace, objectRef{kind: "PodGroup", obj: live})
				continue
			}
			var written *schedulingv1beta1.PodGroup
			w.Write(live, func() client.Object {
				written = desiredPodGroup(w.g, role, pg)
				if stale {
					written = keepFixed(written, live)
				}
				return written
			})
			have := live
			if written != nil && written.UID != "" {
				have = written
			}
			// Created with the role's topology key, but without the
			// constraint: the API server dropped it.
			if !stale && role.TopologyKey != "" && have != nil && have.Spec.SchedulingConstraints == nil {
				blocked[role.Name] = true
				why = gangBlocker{ReasonTopologyUnavailable, fmt.Sprintf(topologyUnavailable, pg.Name)}
			}
		}
	}
	return blocked, why, replace
}

// gangsCondition is the GangsScheduled condition of g (resolved as t)
// from its PodGroups: nil when no role asks for a gang.
func gangsCondition(g *rbgsv1.RoleBasedGroup, t *topology.Group, podGroups map[string]*schedulingv1beta1.PodGroup,
	blocker gangBlocker, now metav1.Time) *metav1.Condition {
	if len(gangRoles(t)) == 0 {
		return nil
	}
	c := &metav1.Condition{Type: rbgsv1.ConditionGangsScheduled, ObservedGeneration: g.Generation, LastTransitionTime: now}
	if blocker.reason != "" {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, blocker.reason, blocker.message
		return c
	}
	var pending []string
	for _, r := range t.Roles {
		for _, pg := range r.PodGroups {
			what := "role " + r.Name
			if pg.Instance != nil {
				what = fmt.Sprintf("instance %d of role %s", *pg.Instance, r.Name)
			}
			live := podGroups[pg.Name]
			var sc *metav1.Condition
			if live != nil {
				sc = apimeta.FindStatusCondition(live.Status.Conditions, schedulingv1beta1.PodGroupInitiallyScheduled)
			}
			switch {
			case sc == nil:
				pending = append(pending, what)
			case sc.Status != metav1.ConditionTrue:
				// The first gang that cannot be placed, with the scheduler's word.
				c.Status, c.Reason = metav1.ConditionFalse, sc.Reason
				c.Message = fmt.Sprintf("%s (PodGroup %s) cannot be placed: %s", what, pg.Name, sc.Message)
				return c
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
