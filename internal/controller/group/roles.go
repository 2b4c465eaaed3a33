package group

import (
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
)

// roleState is what the cache shows of one role's workloads, judged
// against the role's spec.
type roleState struct {
	exists bool
	// ready: the role runs its spec: every replica (instance) available
	// at the role's current template and count.
	ready bool
	// serving: the role keeps serving while it only scales: its workloads
	// run the current template, no pod is being replaced, and no fewer
	// replicas are Ready than before the scale (at most as many as
	// wanted, see servingFloor). A group that was Running stays Running
	// while its roles are ready or serving.
	serving         bool
	readyReplicas   int32
	updatedReplicas int32
	// readyPods counts Ready pods, for roles of size > 1.
	readyPods int32
}

// roleView is one role as the plan sees it: its spec, its resolution,
// and the state of its workloads.
type roleView struct {
	spec  *rbgsv1.RoleSpec
	topo  *topology.Role
	state roleState
	// inputs is what its pod template is rendered from (templateInputs).
	inputs string
	// instances are the states of the instances of a role of size > 1.
	instances []instanceState
	// old are the role's workloads of a former layout (see layout.go).
	old oldLayout
	// inPlace: the role's StatefulSet (of size 1) is updated in place
	// (see inplace.go).
	inPlace inPlaceVerdict
	// recreating: under updatePolicy Recreate, the role's workloads run
	// another template than its own, or are emptied while it wants pods:
	// they go, or wait to start again (see recreate.go).
	recreating bool
}

// servingFloor is how many Ready replicas role keeps while it scales: as
// many as its previous status reported, at most want.
func servingFloor(prev *rbgsv1.RoleBasedGroupStatus, role string, want int32) int32 {
	rs := roleStatusOf(prev, role)
	if rs == nil {
		return want
	}
	return min(want, rs.ReadyReplicas)
}

// roleStatusOf is role's entry in st, nil when it has none.
func roleStatusOf(st *rbgsv1.RoleBasedGroupStatus, role string) *rbgsv1.RoleStatus {
	i := slices.IndexFunc(st.Roles, func(s rbgsv1.RoleStatus) bool { return s.Role == role })
	if i < 0 {
		return nil
	}
	return &st.Roles[i]
}

// judged is st, the state of a role's own workload, judged against the
// role: ready at its template inputs and count only; serving while it
// runs those inputs, replaces no pod (steady) and keeps floor Ready.
func judged(st roleState, atInputs, atCount, steady bool, floor int32) roleState {
	st.ready = st.ready && atInputs && atCount
	st.serving = st.exists && atInputs && steady && st.readyReplicas >= floor
	return st
}

// statefulSetRole is the state of a role of size 1 run by s (nil when
// absent), whose pods are pods.
func statefulSetRole(s *appsv1.StatefulSet, pods []corev1.Pod, inputs string, want, floor int32) roleState {
	st := statefulSetState(s, pods)
	if s == nil {
		return st
	}
	steady := s.Status.CurrentRevision == s.Status.UpdateRevision
	return judged(st, s.Annotations[rbgsv1.AnnotationTemplateInputs] == inputs, replicasOf(s.Spec.Replicas) == want, steady, floor)
}

// deploymentRole is the state of a Deployment role run by d (nil when
// absent).
func deploymentRole(d *appsv1.Deployment, inputs string, want, floor int32) roleState {
	st := deploymentState(d)
	if d == nil {
		return st
	}
	steady := d.Status.UpdatedReplicas == d.Status.Replicas
	return judged(st, d.Annotations[rbgsv1.AnnotationTemplateInputs] == inputs, replicasOf(d.Spec.Replicas) == want, steady, floor)
}

func replicasOf(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

// statefulSetState reads a StatefulSet, and its pods when the
// StatefulSet's status lags behind them: once the StatefulSet controller
// has seen the current spec (so its update revision is current), every pod
// Ready at that revision, as many as wanted, makes it ready without
// waiting for the controller to count them. Under load the controller
// updates statuses seconds after the pods turn Ready. A pod whose
// containers do not run the images of its spec yet (updated in place, see
// inplace.go) is not Ready, whatever the StatefulSet counts.
func statefulSetState(s *appsv1.StatefulSet, pods []corev1.Pod) roleState {
	if s == nil {
		return roleState{}
	}
	state := countedState(s, pods)
	restarting := int32(0)
	for i := range pods {
		if p := &pods[i]; p.DeletionTimestamp == nil && podReady(p) && podImagesPending(p) {
			restarting++
		}
	}
	if restarting > 0 {
		state.ready = false
		state.readyReplicas = max(state.readyReplicas-restarting, 0)
	}
	return state
}

// countedState is statefulSetState but for the pods restarting in place.
func countedState(s *appsv1.StatefulSet, pods []corev1.Pod) roleState {
	want := replicasOf(s.Spec.Replicas)
	st := s.Status
	state := roleState{
		exists:          true,
		readyReplicas:   st.ReadyReplicas,
		updatedReplicas: st.UpdatedReplicas,
		ready: st.ObservedGeneration >= s.Generation &&
			st.Replicas == want && st.AvailableReplicas == want && st.UpdatedReplicas == want &&
			(want == 0 || st.CurrentRevision == st.UpdateRevision),
	}
	if state.ready || st.ObservedGeneration < s.Generation || st.UpdateRevision == "" || s.Spec.MinReadySeconds > 0 {
		return state
	}
	var ready, total int32
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		total++
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == st.UpdateRevision && servesPod(p) {
			ready++
		}
	}
	if total == want && ready == want {
		state.ready = true
		state.readyReplicas = max(state.readyReplicas, ready)
		state.updatedReplicas = max(state.updatedReplicas, ready)
	}
	return state
}

// deploymentState reads a Deployment.
func deploymentState(d *appsv1.Deployment) roleState {
	if d == nil {
		return roleState{}
	}
	want := replicasOf(d.Spec.Replicas)
	st := d.Status
	return roleState{
		exists:          true,
		readyReplicas:   st.ReadyReplicas,
		updatedReplicas: st.UpdatedReplicas,
		ready: st.ObservedGeneration >= d.Generation &&
			st.Replicas == want && st.AvailableReplicas == want && st.UpdatedReplicas == want,
	}
}

// viewRoles reads each role of obs: its workloads of the kind and shape
// the spec asks for, the instances of roles of size > 1, and the
// workloads a former layout left (see layout.go). gangs tells which
// instances' gangs are in place (see gangPlan.ready).
func viewRoles(obs *observation, gangs *gangPlan) []roleView {
	g := obs.g
	views := make([]roleView, len(g.Spec.Roles))
	for i := range g.Spec.Roles {
		r, role := &g.Spec.Roles[i], &obs.t.Roles[i]
		v := roleView{spec: r, topo: role, inputs: templateInputs(g, r), old: findOldLayout(role, obs.ch)}
		want, floor := r.ReplicasOrDefault(), servingFloor(&g.Status, r.Role, r.ReplicasOrDefault())
		pods := roleScope(r.Role).of(obs.ch.pods)
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			v.state = deploymentRole(obs.ch.deployments[role.Service], v.inputs, want, floor)
		case role.MultiPod():
			v.instances = make([]instanceState, len(role.Instances))
			for j := range role.Instances {
				in := &role.Instances[j]
				v.instances[j] = observeInstance(g, r, role, in, obs.ch.statefulSets[in.Workload], pods, gangs)
			}
			v.state = instancesState(v.instances, floor)
		default:
			// Its own pods: none of an instance of a former layout.
			own := ownPods(pods)
			live := obs.ch.statefulSets[role.Service]
			v.state = statefulSetRole(live, own, v.inputs, want, floor)
			v.inPlace = roleInPlace(g, r, v.inputs, live, own)
		}
		v.state = v.old.mixedInto(v.state)
		v.recreating = g.Spec.UpdatePolicyOrDefault() == rbgsv1.UpdateRecreate && recreatingRole(&v, obs.ch)
		views[i] = v
	}
	return views
}
