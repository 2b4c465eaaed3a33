package group

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
	"github.com/openpatio/rbgs/internal/topology"
)

// children are the objects a group controls, by name, as the cache sees them.
type children struct {
	statefulSets map[string]*appsv1.StatefulSet
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	// podGroups are the gangs (empty when the operator does not watch
	// PodGroups).
	podGroups map[string]*schedulingv1beta1.PodGroup
	// pods of the group (trimmed, see TrimPod), from the cache.
	pods []corev1.Pod
}

// podsOf returns the pods of role.
func (ch *children) podsOf(role string) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range ch.pods {
		if p.Labels[rbgsv1.LabelRole] == role {
			out = append(out, p)
		}
	}
	return out
}

// lingeringFiles lists the cluster.yaml files of pods that exist but that
// the spec (resolved as t) no longer has: a role scaled down or removed, a
// role whose workload changed kind or size. Their pods keep reading them
// until they are gone. Sorted by ConfigMap and key.
func lingeringFiles(t *topology.Group, pods []corev1.Pod) []discovery.PodRef {
	type file struct{ configMap, key string }
	wanted := map[file]bool{}
	for _, r := range t.Roles {
		if r.Kind == rbgsv1.WorkloadDeployment {
			wanted[file{naming.ClusterConfigMap(t.Name), naming.ClusterFileKey(r.Name, nil)}] = true
			continue
		}
		for _, in := range r.Instances {
			for _, p := range in.Pods {
				wanted[file{in.ConfigMap, p.FileKey}] = true
			}
		}
	}
	var out []discovery.PodRef
	seen := map[file]bool{}
	for i := range pods {
		ref, ok := podRef(&pods[i])
		if !ok {
			continue
		}
		cm, key := ref.File(t.Name)
		if f := (file{cm, key}); !wanted[f] && !seen[f] {
			seen[f] = true
			out = append(out, ref)
		}
	}
	slices.SortFunc(out, func(a, b discovery.PodRef) int {
		acm, akey := a.File(t.Name)
		bcm, bkey := b.File(t.Name)
		return cmp.Or(cmp.Compare(acm, bcm), cmp.Compare(akey, bkey))
	})
	return out
}

// podRef reads what a pod's labels say of its place: its role, its
// instance (its ordinal, for a role of size 1; none for a Deployment pod)
// and its worker index within an instance of size > 1.
func podRef(p *corev1.Pod) (discovery.PodRef, bool) {
	ref := discovery.PodRef{Role: p.Labels[rbgsv1.LabelRole]}
	if ref.Role == "" {
		return ref, false
	}
	ordinal, ok, err := labelIndex(p, appsv1.PodIndexLabel)
	if err != nil {
		return ref, false
	}
	if !ok {
		return ref, true // a Deployment pod
	}
	instance, multi, err := labelIndex(p, rbgsv1.LabelInstance)
	switch {
	case err != nil:
		return ref, false
	case multi:
		ref.Rank, ref.Worker = &instance, &ordinal
	default:
		ref.Rank = &ordinal
	}
	return ref, true
}

// labelIndex reads a non-negative index from label key of p.
func labelIndex(p *corev1.Pod, key string) (int32, bool, error) {
	v, ok := p.Labels[key]
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 31)
	return int32(n), true, err
}

// uids are the UIDs of every child.
func (ch *children) uids() map[types.UID]bool {
	out := make(map[types.UID]bool, len(ch.statefulSets)+len(ch.deployments)+len(ch.services)+len(ch.configMaps))
	for _, o := range ch.statefulSets {
		out[o.UID] = true
	}
	for _, o := range ch.deployments {
		out[o.UID] = true
	}
	for _, o := range ch.services {
		out[o.UID] = true
	}
	for _, o := range ch.configMaps {
		out[o.UID] = true
	}
	for _, o := range ch.podGroups {
		out[o.UID] = true
	}
	return out
}

// observe reads the group's children from the cache. The children the spec
// names are read one by one: each read waits until the cache has seen this
// operator's own last write of that object, so a lagging cache never makes
// a reconcile write again what it just wrote, and reconciles of other
// groups never wait for each other. Strays (children of roles the spec no
// longer has) are found through the owner index without waiting: deleting
// them a moment late is harmless.
func (r *Reconciler) observe(ctx context.Context, g *rbgsv1.RoleBasedGroup, t *topology.Group) (*children, error) {
	opts := append(owner.Of(g), client.DisableReadYourWritesConsistency)
	var (
		sts  appsv1.StatefulSetList
		deps appsv1.DeploymentList
		svcs corev1.ServiceList
		cms  corev1.ConfigMapList
	)
	for _, l := range []client.ObjectList{&sts, &deps, &svcs, &cms} {
		if err := r.Client.List(ctx, l, opts...); err != nil {
			return nil, fmt.Errorf("listing children of %s: %w", g.Name, err)
		}
	}
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(g.Namespace), client.MatchingFields{PodGroupIndex: g.Name},
		client.DisableReadYourWritesConsistency); err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", g.Name, err)
	}
	ch := &children{
		statefulSets: byName(sts.Items),
		deployments:  byName(deps.Items),
		services:     byName(svcs.Items),
		configMaps:   byName(cms.Items),
		podGroups:    map[string]*schedulingv1beta1.PodGroup{},
		pods:         pods.Items,
	}
	if r.Gangs {
		var pgs schedulingv1beta1.PodGroupList
		if err := r.Client.List(ctx, &pgs, opts...); err != nil {
			return nil, fmt.Errorf("listing PodGroups of %s: %w", g.Name, err)
		}
		ch.podGroups = byName(pgs.Items)
	}

	type read struct {
		name string
		obj  client.Object
		set  func(found bool)
	}
	var reads []read
	add := func(name string, obj client.Object, set func(bool)) {
		reads = append(reads, read{name: name, obj: obj, set: set})
	}
	for _, name := range []string{naming.ClusterConfigMap(g.Name), naming.EnvConfigMap(g.Name)} {
		cm := &corev1.ConfigMap{}
		add(name, cm, func(found bool) { setChild(ch.configMaps, name, cm, found) })
	}
	for i := range t.Roles {
		role := &t.Roles[i]
		svc := &corev1.Service{}
		add(role.Service, svc, func(found bool) { setChild(ch.services, role.Service, svc, found) })
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			d := &appsv1.Deployment{}
			add(role.Service, d, func(found bool) { setChild(ch.deployments, role.Service, d, found) })
		case role.MultiPod():
			for _, in := range role.Instances {
				s, cm := &appsv1.StatefulSet{}, &corev1.ConfigMap{}
				add(in.Workload, s, func(found bool) { setChild(ch.statefulSets, in.Workload, s, found) })
				add(in.ConfigMap, cm, func(found bool) { setChild(ch.configMaps, in.ConfigMap, cm, found) })
			}
		default:
			s := &appsv1.StatefulSet{}
			add(role.Service, s, func(found bool) { setChild(ch.statefulSets, role.Service, s, found) })
		}
		for _, pg := range role.PodGroups {
			if !r.Gangs {
				break
			}
			o := &schedulingv1beta1.PodGroup{}
			add(pg.Name, o, func(found bool) { setChild(ch.podGroups, pg.Name, o, found) })
		}
	}
	errs := make([]error, len(reads))
	found := make([]bool, len(reads))
	apply.Parallel(8, len(reads), func(i int) {
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: reads[i].name}, reads[i].obj)
		switch {
		case err == nil:
			found[i] = metav1.IsControlledBy(reads[i].obj, g)
		case !apierrors.IsNotFound(err):
			errs[i] = fmt.Errorf("reading %s of %s: %w", reads[i].name, g.Name, err)
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, rd := range reads {
		rd.set(found[i])
	}
	return ch, nil
}

// setChild records what a read by name found: the object, or its absence.
func setChild[P client.Object](m map[string]P, name string, obj P, found bool) {
	if found {
		m[name] = obj
	} else {
		delete(m, name)
	}
}

func byName[T any, P interface {
	*T
	client.Object
}](items []T) map[string]P {
	m := make(map[string]P, len(items))
	for i := range items {
		p := P(&items[i])
		m[p.GetName()] = p
	}
	return m
}

// roleState is what the cache shows of one role's workloads.
type roleState struct {
	exists bool
	// ready: every replica (instance) available and up to date.
	ready           bool
	readyReplicas   int32
	updatedReplicas int32
	// readyPods counts Ready pods, for roles of size > 1.
	readyPods int32
}

// observeRoles reads each role's workloads of the kind the spec (resolved
// as t) asks for; for roles of size > 1, also the state of each instance.
func observeRoles(g *rbgsv1.RoleBasedGroup, t *topology.Group, ch *children) (map[string]roleState, map[string][]instanceState) {
	states := make(map[string]roleState, len(g.Spec.Roles))
	instances := map[string][]instanceState{}
	for i := range g.Spec.Roles {
		r, role := &g.Spec.Roles[i], &t.Roles[i]
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			states[r.Role] = deploymentState(ch.deployments[role.Service])
		case role.MultiPod():
			in := make([]instanceState, len(role.Instances))
			for j := range role.Instances {
				in[j] = observeInstance(g, r, role, &role.Instances[j], ch.statefulSets[role.Instances[j].Workload], ch.podGroups, ch.pods)
			}
			states[r.Role], instances[r.Role] = instancesState(in), in
		default:
			states[r.Role] = statefulSetState(ch.statefulSets[role.Service], ch.podsOf(r.Role))
		}
	}
	return states, instances
}

// statefulSetState reads a role's StatefulSet, and its pods when the
// StatefulSet's status lags behind them: once the StatefulSet controller
// has seen the current spec (so its update revision is current), every pod
// Ready at that revision, as many as wanted, makes the role ready without
// waiting for the controller to count them. Under load the controller
// updates statuses seconds after the pods turn Ready.
func statefulSetState(s *appsv1.StatefulSet, pods []corev1.Pod) roleState {
	if s == nil {
		return roleState{}
	}
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
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
		if p.Labels[appsv1.ControllerRevisionHashLabelKey] == st.UpdateRevision && podReady(p) {
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

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func deploymentState(d *appsv1.Deployment) roleState {
	if d == nil {
		return roleState{}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	return roleState{
		exists:          true,
		readyReplicas:   st.ReadyReplicas,
		updatedReplicas: st.UpdatedReplicas,
		ready: st.ObservedGeneration >= d.Generation &&
			st.Replicas == want && st.AvailableReplicas == want && st.UpdatedReplicas == want,
	}
}
