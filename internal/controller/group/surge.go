package group

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// A role with rolloutStrategy.maxSurge adds capacity before it takes any
// away while its template changes. A role of size > 1 runs surge
// instances at the next indices, created at the new template; an
// outdated instance is emptied only while the instances that serve, surge
// ones included, stay at least replicas - maxUnavailable, and none before
// every surge instance serves. A role of size 1 runs surge pods at the
// next ordinals of its StatefulSet: the partition keeps the old pods as
// they are until the surge pods serve at the new template, then the
// StatefulSet replaces the others one at a time. Surge instances and
// pods are listed in discovery like any other, and go, highest first,
// once every instance runs the new template and serves. How far a surge
// went is read from the workloads and pods alone.

// planSurge is how many surge instances each role of obs runs now (roles
// with none are left out).
func planSurge(obs *observation) map[string]int32 {
	out := map[string]int32{}
	for i := range obs.g.Spec.Roles {
		r, role := &obs.g.Spec.Roles[i], &obs.t.Roles[i]
		_, maxSurge := r.InstancesBudget()
		if maxSurge == 0 || role.Replicas == 0 {
			continue
		}
		var n int32
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			// A Deployment surges on its own (see desiredDeployment).
		case role.MultiPod():
			n = instanceSurge(obs, r, role, maxSurge)
		default:
			n = podSurge(obs.ch.statefulSets[role.Service], templateInputs(obs.g, r), role.Replicas, maxSurge)
		}
		if n > 0 {
			out[r.Role] = n
		}
	}
	return out
}

// instanceSurge is how many surge instances role r of size > 1 runs:
// while an instance below replicas runs an older template, maxSurge (no
// more than those left to replace) and no fewer than those that exist;
// while the last replaced ones do not serve yet, those that exist; none
// once every instance runs the new template and serves.
func instanceSurge(obs *observation, r *rbgsv1.RoleSpec, role *topology.Role, maxSurge int32) int32 {
	pods := roleScope(r.Role).of(obs.ch.pods)
	var outdated, replacing int32
	for j := range role.Instances {
		in := &role.Instances[j]
		s := observeInstance(obs.g, r, role, in, obs.ch.statefulSets[in.Workload], pods, &gangPlan{})
		switch {
		case !s.exists:
		case !s.current:
			outdated++
		case s.emptied || !s.serving():
			replacing++
		}
	}
	existing := int32(0)
	for existing < maxSurge {
		in := role.InstanceAt(role.Replicas + existing)
		if obs.ch.statefulSets[in.Workload] == nil {
			break
		}
		existing++
	}
	switch {
	case outdated > 0:
		return max(min(maxSurge, outdated+replacing), existing)
	case replacing > 0:
		return existing
	}
	return 0
}

// podSurge is how many surge pods the StatefulSet s (nil when absent) of a
// role of size 1, of want pods, runs: maxSurge (no more than want) from
// the moment its template changes (inputs: what it is rendered from now)
// until every pod runs it.
func podSurge(s *appsv1.StatefulSet, inputs string, want, maxSurge int32) int32 {
	switch {
	case s == nil:
		return 0
	case s.Annotations[rbgsv1.AnnotationTemplateInputs] != inputs:
		return min(maxSurge, want)
	}
	have := replicasOf(s.Spec.Replicas)
	st := s.Status
	rolling := st.ObservedGeneration < s.Generation || st.CurrentRevision != st.UpdateRevision || st.UpdatedReplicas < st.Replicas
	if have > want && rolling {
		return min(have-want, maxSurge)
	}
	return 0
}

// surgePartition is the partition of the StatefulSet s of a role of size
// 1 with surge surge pods above want: the surge ordinals take the new
// template first (partition want), and once they all serve at it the
// others roll (partition 0). While the StatefulSet controller has not
// seen the last write, it keeps what it has.
func surgePartition(s *appsv1.StatefulSet, inputs string, pods []corev1.Pod, want, surge int32) int32 {
	switch {
	case surge == 0 || s == nil:
		return 0
	case s.Annotations[rbgsv1.AnnotationTemplateInputs] != inputs:
		return want
	case s.Status.ObservedGeneration < s.Generation:
		return livePartition(s)
	}
	serving := map[int32]bool{}
	for i := range pods {
		p := &pods[i]
		k, ok, err := labelIndex(p, appsv1.PodIndexLabel)
		if ok && err == nil && p.DeletionTimestamp == nil && podReady(p) &&
			p.Labels[appsv1.ControllerRevisionHashLabelKey] == s.Status.UpdateRevision {
			serving[k] = true
		}
	}
	for k := want; k < want+surge; k++ {
		if !serving[k] {
			return want
		}
	}
	return 0
}

// livePartition is the partition StatefulSet s (nil when absent) has now.
func livePartition(s *appsv1.StatefulSet) int32 {
	if s == nil {
		return 0
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return *ru.Partition
	}
	return 0
}
