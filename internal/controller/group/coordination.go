package group

import (
	"math"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Roles that move together (spec.coordination): while their templates
// change, the updated and Ready fraction of a changing role runs at most
// maxSkew ahead of the least updated changing role. Each role gets a cap:
// how many of its instances may run, or be on their way to, the new
// template; the least updated role may always take one more, so a
// rollout always progresses. A role of size > 1 empties no more
// instances than its cap allows; a StatefulSet of size 1 gets a partition
// that keeps its lowest ordinals at the old template. Deployment roles,
// roles whose template does not change, and roles a set's rollout only
// relabels (no pod of theirs stops serving) are left alone.

// roleProgress is where one changing role stands in an update.
type roleProgress struct {
	role string
	// replicas, and of those the instances that run the new template and
	// serve.
	replicas, updated int32
	// unseen: the role's StatefulSet controller has not seen the last
	// write, so its pods cannot be told apart by revision yet.
	unseen bool
}

func (p roleProgress) fraction() float64 { return float64(p.updated) / float64(p.replicas) }

// coordination is what the group's coordination allows each changing
// role: caps[role] instances at the new template, and the role it waits
// for when that holds it back. While a StatefulSet controller has not seen
// the last write of a changing role (hold), nothing moves further, every
// StatefulSet keeps its partition and every role the role it waited for:
// a cap computed from a status that lags would take back what the last
// one gave.
type coordination struct {
	caps  map[string]int32
	waits map[string]string
	hold  bool
}

// planCoordination computes the caps of the changing roles of obs.
func planCoordination(obs *observation, views []roleView) coordination {
	c := coordination{caps: map[string]int32{}, waits: map[string]string{}}
	skew, ok := obs.g.Spec.MaxSkewFraction()
	if !ok {
		return c
	}
	var changing []roleProgress
	for i := range views {
		if p, ok := progressOf(obs, &views[i]); ok {
			changing = append(changing, p)
		}
	}
	if len(changing) < 2 {
		return c
	}
	for _, p := range changing {
		c.hold = c.hold || p.unseen
	}
	if c.hold {
		for _, p := range changing {
			c.caps[p.role] = 0
			if prev := roleStatusOf(&obs.g.Status, p.role); prev != nil && prev.WaitsFor != "" {
				c.waits[p.role] = prev.WaitsFor
			}
		}
		return c
	}
	least := changing[0]
	for _, p := range changing[1:] {
		if p.fraction() < least.fraction() {
			least = p
		}
	}
	for _, p := range changing {
		limit := int32(math.Floor((least.fraction()+skew)*float64(p.replicas) + 1e-9))
		if p.fraction() <= least.fraction() {
			limit = max(limit, p.updated+1)
		}
		limit = min(limit, p.replicas)
		c.caps[p.role] = limit
		if limit <= p.updated && p.role != least.role {
			c.waits[p.role] = least.role
		}
	}
	return c
}

// progressOf is where role v stands in an update, false when its
// template does not change (or it runs as a Deployment, or has no
// replicas).
func progressOf(obs *observation, v *roleView) (roleProgress, bool) {
	p := roleProgress{role: v.spec.Role, replicas: v.spec.ReplicasOrDefault()}
	if p.replicas == 0 || v.topo.Kind == rbgsv1.WorkloadDeployment || len(v.old) > 0 {
		return p, false
	}
	if v.topo.MultiPod() {
		changing := false
		for _, in := range v.instances {
			if in.index >= p.replicas {
				continue
			}
			changing = changing || (in.exists && !in.current && !in.inPlace.relabel)
			if in.current && in.serving() {
				p.updated++
			}
		}
		return p, changing
	}
	s := obs.ch.statefulSets[v.topo.Service]
	if s == nil || v.inPlace.relabel {
		return p, false
	}
	if s.Annotations[rbgsv1.AnnotationTemplateInputs] != v.inputs {
		return p, true
	}
	st := s.Status
	if st.ObservedGeneration < s.Generation {
		p.unseen = true
		return p, true
	}
	p.updated = min(updatedReadyPods(roleScope(v.spec.Role).of(obs.ch.pods), st.UpdateRevision, p.replicas), p.replicas)
	return p, st.CurrentRevision != st.UpdateRevision || p.updated < p.replicas
}

// updatedReadyPods counts the pods below ordinal n that run revision rev
// and are Ready.
func updatedReadyPods(pods []corev1.Pod, rev string, n int32) int32 {
	var out int32
	for i := range pods {
		p := &pods[i]
		k, ok, err := labelIndex(p, appsv1.PodIndexLabel)
		if ok && err == nil && k < n && p.DeletionTimestamp == nil && podReady(p) && p.Labels[appsv1.ControllerRevisionHashLabelKey] == rev {
			out++
		}
	}
	return out
}

// limit is how many more of role's instances may start moving to the new
// template, given those at it or on their way (moving); -1 when nothing
// holds the role back.
func (c coordination) limit(role string, moving int32) int32 {
	capped, ok := c.caps[role]
	switch {
	case !ok:
		return -1
	case c.hold:
		return 0
	}
	return max(capped-moving, 0)
}

// partition is the partition that keeps role's StatefulSet s (from the
// cache, nil when absent) of replicas pods within its cap: the ordinals
// from it up move; 0 when not capped. While holding, s keeps its own.
func (c coordination) partition(role string, s *appsv1.StatefulSet, replicas int32) int32 {
	capped, ok := c.caps[role]
	switch {
	case !ok:
		return 0
	case c.hold:
		return livePartition(s)
	}
	return max(replicas-capped, 0)
}
