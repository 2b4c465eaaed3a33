package group

import (
	"cmp"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// Disruptions of multi-pod instances. An instance's engine cannot carry on
// without one of its ranks, and an eviction, a preemption or a lost node
// is no crash: the instance is recreated at once, with no backoff and
// nothing counted toward maxRestarts (see decideRestart).
//
// Kubernetes marks a pod it takes away for those reasons with the
// DisruptionTarget condition before deleting it, but the pod may be gone
// before the operator sees the mark. What stays is the member the
// instance's StatefulSet creates in its place: a pod under the name of a
// member of an instance the operator saw whole (every member Ready), with
// another UID. An instance still starting is not whole yet (a loaded API
// server may create its members seconds apart), and one that is emptied
// (an update, a recreation, a scale-down) is forgotten once it has no pod
// left, so only a member replaced on its own counts.
//
// The operator remembers whole instances only while it runs. A member
// replaced while it was not running (an upgrade, a failover) is known by
// its age instead: it was created lateJoin or more after another member
// of its instance had turned Ready, which members created together never
// are, however loaded the API server.

// wholeInstances are the members, by pod name, of the instances (by role
// and instance index) the operator last saw whole.
type wholeInstances map[string]map[string]types.UID

// instanceKey names the instance of pod p: its role and instance index.
func instanceKey(p *corev1.Pod) string {
	return p.Labels[rbgsv1.LabelRole] + "/" + p.Labels[rbgsv1.LabelInstance]
}

// wholeMembers is what was becomes once the pods of t are pods: the
// instances whole now, with their members; those that were, while they
// keep a pod; none of those that have no pod left.
func wholeMembers(was wholeInstances, t *topology.Group, pods []corev1.Pod) wholeInstances {
	byInstance := map[string][]*corev1.Pod{}
	for i := range pods {
		if p := &pods[i]; p.Labels[rbgsv1.LabelInstance] != "" {
			byInstance[instanceKey(p)] = append(byInstance[instanceKey(p)], p)
		}
	}
	next := wholeInstances{}
	for key, members := range was {
		if len(byInstance[key]) > 0 {
			next[key] = members
		}
	}
	for key, ps := range byInstance {
		role := t.Role(ps[0].Labels[rbgsv1.LabelRole])
		if role == nil || int32(len(ps)) != role.Size {
			continue
		}
		members := make(map[string]types.UID, len(ps))
		for _, p := range ps {
			if p.DeletionTimestamp != nil || !podReady(p) {
				members = nil
				break
			}
			members[p.Name] = p.UID
		}
		if members != nil {
			next[key] = members
		}
	}
	return next
}

// firstDisruption is the first pod, by name, of an instance (size > 1) of
// a role of g that recreates pods, whose instance a disruption broke, and
// what happened to it: the pod is marked for eviction, preemption or the
// loss of its node (its DisruptionTarget condition, being deleted or
// not), or it replaced a member of its instance that is gone (the
// instance was whole with another pod of its name or, for an instance not
// remembered whole, the pod came lateJoin after another member was
// Ready).
func firstDisruption(g *rbgsv1.RoleBasedGroup, st *rbgsv1.RoleBasedGroupStatus, pods []corev1.Pod, whole wholeInstances) (*corev1.Pod, string) {
	for _, p := range recreatedPods(g, st, pods) {
		if _, ok := p.Labels[rbgsv1.LabelInstance]; !ok {
			continue
		}
		if why := disruption(p); why != "" {
			return p, "was disrupted (" + why + ")"
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		members, seen := whole[instanceKey(p)]
		if uid, ok := members[p.Name]; ok && uid != p.UID {
			return p, "replaced a member of its instance that was gone (pod " + string(uid) + ")"
		}
		if q, since := readyBefore(p, pods); !seen && q != nil {
			return p, fmt.Sprintf("replaced a member of its instance that was gone (created %s after %s was Ready)",
				p.CreationTimestamp.Sub(since).Round(time.Second), q.Name)
		}
	}
	return nil, ""
}

// lateJoin is how much later than another member's readiness a member of
// an instance is created when it replaced one (see firstDisruption).
const lateJoin = time.Minute

// readyBefore is a member of p's instance among pods, not being deleted,
// that had been Ready for lateJoin or more when p was created, and since
// when; nil when none.
func readyBefore(p *corev1.Pod, pods []corev1.Pod) (*corev1.Pod, time.Time) {
	for i := range pods {
		q := &pods[i]
		if q.UID == p.UID || q.DeletionTimestamp != nil || instanceKey(q) != instanceKey(p) {
			continue
		}
		for _, c := range q.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() &&
				p.CreationTimestamp.Sub(c.LastTransitionTime.Time) >= lateJoin {
				return q, c.LastTransitionTime.Time
			}
		}
	}
	return nil, time.Time{}
}

// disruption is the reason of the DisruptionTarget condition of p (an
// eviction, a preemption, the loss of its node), "" when it has none.
func disruption(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return cmp.Or(c.Reason, string(corev1.DisruptionTarget))
		}
	}
	return ""
}
