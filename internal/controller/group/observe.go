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
	policyv1 "k8s.io/api/policy/v1"
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

// observation is what one reconcile reads of a group and the cluster:
// everything the plan decides from, and nothing else.
type observation struct {
	// g is the group, its roles at the counts of the RoleScalers that
	// drive them (see driven); t is g resolved.
	g  *rbgsv1.RoleBasedGroup
	t  *topology.Group
	ch *children
	// gangs says whether the cluster can take the group's PodGroups.
	gangs gangAPI
	now   metav1.Time
	// recreated are the pods of ch that a recreation already deleted or
	// emptied (see Reconciler.recreated): whatever the cache still shows
	// of them, the restart policies have dealt with them.
	recreated map[types.UID]bool
	// whole are the instances the last reconcile saw whole (see
	// disruption.go).
	whole wholeInstances
}

// children are the objects a group controls, by name, as the cache sees them.
type children struct {
	statefulSets map[string]*appsv1.StatefulSet
	deployments  map[string]*appsv1.Deployment
	services     map[string]*corev1.Service
	configMaps   map[string]*corev1.ConfigMap
	// podGroups are the gangs (empty when the operator does not watch
	// PodGroups).
	podGroups map[string]*schedulingv1beta1.PodGroup
	// budgets are the roles' PodDisruptionBudgets.
	budgets map[string]*policyv1.PodDisruptionBudget
	// pods of the group (trimmed, see TrimPod), from the cache.
	pods []corev1.Pod
}

// observe reads the children of g, whose roles run the counts their
// RoleScalers give, from the cache.
func (r *Reconciler) observe(ctx context.Context, g *rbgsv1.RoleBasedGroup, now metav1.Time) (*observation, error) {
	t := topology.Resolve(g)
	ch, err := r.listChildren(ctx, g)
	if err != nil {
		return nil, err
	}
	if err := r.readNamed(ctx, g, t, ch); err != nil {
		return nil, err
	}
	ch.pods = r.patched.overlay(client.ObjectKeyFromObject(g).String(), ch.pods)
	obs := &observation{g: g, t: t, ch: ch, now: now, gangs: gangAPI{watched: r.Gangs}, recreated: r.recreatedOf(g, ch.pods)}
	if v, ok := r.whole.Load(client.ObjectKeyFromObject(g).String()); ok {
		obs.whole = v.(wholeInstances)
	}
	if len(gangRoles(t)) > 0 {
		obs.gangs.served = r.PodGroups.Served()
	}
	return obs, nil
}

// listChildren lists every child of g through the owner index, and its
// pods through PodsOfGroupIndex, without waiting for the cache: strays
// (children of roles the spec no longer has) deleted a moment late do no
// harm, and readNamed waits for those the spec names.
func (r *Reconciler) listChildren(ctx context.Context, g *rbgsv1.RoleBasedGroup) (*children, error) {
	opts := append(owner.Of(g), client.DisableReadYourWritesConsistency)
	var (
		sts  appsv1.StatefulSetList
		deps appsv1.DeploymentList
		svcs corev1.ServiceList
		cms  corev1.ConfigMapList
		pdbs policyv1.PodDisruptionBudgetList
		pods corev1.PodList
	)
	for _, l := range []client.ObjectList{&sts, &deps, &svcs, &cms, &pdbs} {
		if err := r.Client.List(ctx, l, opts...); err != nil {
			return nil, fmt.Errorf("listing children of %s: %w", g.Name, err)
		}
	}
	if err := r.Client.List(ctx, &pods, client.InNamespace(g.Namespace), client.MatchingFields{PodsOfGroupIndex: g.Name},
		client.DisableReadYourWritesConsistency); err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", g.Name, err)
	}
	ch := &children{
		statefulSets: byName(sts.Items),
		deployments:  byName(deps.Items),
		services:     byName(svcs.Items),
		configMaps:   byName(cms.Items),
		budgets:      byName(pdbs.Items),
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
	return ch, nil
}

// namedRead is one child the spec names, read by name.
type namedRead struct {
	name string
	obj  client.Object
	set  func(found bool)
}

// readNamed reads, side by side, the children the spec (resolved as t)
// names: each read waits until the cache has seen this operator's own
// last write of that object, so a lagging cache never makes a reconcile
// write again what it just wrote, and reconciles of other groups never
// wait for each other.
func (r *Reconciler) readNamed(ctx context.Context, g *rbgsv1.RoleBasedGroup, t *topology.Group, ch *children) error {
	reads := namedReads(g, t, ch, r.Gangs)
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
		return err
	}
	for i, rd := range reads {
		rd.set(found[i])
	}
	return nil
}

// namedReads lists the reads of readNamed: the discovery ConfigMaps, and
// each role of g's (resolved as t) Service, workloads, disruption budget
// and (when watched) PodGroups.
func namedReads(g *rbgsv1.RoleBasedGroup, t *topology.Group, ch *children, gangs bool) []namedRead {
	var reads []namedRead
	add := func(m func(string, client.Object, bool), name string, obj client.Object) {
		reads = append(reads, namedRead{name: name, obj: obj, set: func(found bool) { m(name, obj, found) }})
	}
	setCM := func(n string, o client.Object, f bool) { setChild(ch.configMaps, n, o.(*corev1.ConfigMap), f) }
	setSvc := func(n string, o client.Object, f bool) { setChild(ch.services, n, o.(*corev1.Service), f) }
	setSTS := func(n string, o client.Object, f bool) { setChild(ch.statefulSets, n, o.(*appsv1.StatefulSet), f) }
	setDeploy := func(n string, o client.Object, f bool) { setChild(ch.deployments, n, o.(*appsv1.Deployment), f) }
	setPG := func(n string, o client.Object, f bool) { setChild(ch.podGroups, n, o.(*schedulingv1beta1.PodGroup), f) }
	setPDB := func(n string, o client.Object, f bool) { setChild(ch.budgets, n, o.(*policyv1.PodDisruptionBudget), f) }
	add(setCM, naming.ClusterConfigMap(t.Name), &corev1.ConfigMap{})
	add(setCM, naming.EnvConfigMap(t.Name), &corev1.ConfigMap{})
	for i := range t.Roles {
		role := &t.Roles[i]
		add(setSvc, role.Service, &corev1.Service{})
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			add(setDeploy, role.Service, &appsv1.Deployment{})
		case role.MultiPod():
			for _, in := range role.Instances {
				add(setSTS, in.Workload, &appsv1.StatefulSet{})
				add(setCM, in.ConfigMap, &corev1.ConfigMap{})
			}
		default:
			add(setSTS, role.Service, &appsv1.StatefulSet{})
		}
		if g.Spec.Roles[i].DisruptionBudget != nil {
			add(setPDB, role.Service, &policyv1.PodDisruptionBudget{})
		}
		for _, pg := range role.PodGroups {
			if gangs {
				add(setPG, pg.Name, &schedulingv1beta1.PodGroup{})
			}
		}
	}
	return reads
}

// instanceOf is the StatefulSet of the instance of size > 1 that s scopes,
// nil when s scopes no such instance or it is absent; emptied says it asks
// for no pods already (a recreation or an update under way).
func (obs *observation) instanceOf(s podScope) (sts *appsv1.StatefulSet, emptied bool) {
	if s.instance == nil || s.ordinal {
		return nil, false
	}
	role := obs.t.Role(s.role)
	if role == nil || !role.MultiPod() || int(*s.instance) >= len(role.Instances) {
		return nil, false
	}
	sts = obs.ch.statefulSets[role.Instances[*s.instance].Workload]
	if sts == nil {
		return nil, false
	}
	return sts, replicasOf(sts.Spec.Replicas) == 0
}

// restartable are the pods of the group the restart policies look at:
// all but those a recreation already dealt with.
func (obs *observation) restartable() []corev1.Pod {
	if len(obs.recreated) == 0 {
		return obs.ch.pods
	}
	out := make([]corev1.Pod, 0, len(obs.ch.pods))
	for _, p := range obs.ch.pods {
		if !obs.recreated[p.UID] {
			out = append(out, p)
		}
	}
	return out
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
	for _, o := range ch.budgets {
		out[o.UID] = true
	}
	return out
}

// podScope selects pods of a group: every pod (role ""), the pods of one
// role, or of one instance of a role.
type podScope struct {
	role string
	// instance narrows the scope to one instance: the pods labelled with
	// it (LabelInstance, size > 1), or with ordinal the pod of that
	// ordinal that has no instance label (size 1).
	instance *int32
	ordinal  bool
}

// roleScope selects the pods of role.
func roleScope(role string) podScope { return podScope{role: role} }

// instanceScope selects the pods of instance i of a role of size > 1.
func instanceScope(role string, i int32) podScope { return podScope{role: role, instance: &i} }

// ordinalScope selects pod k of a role of size 1.
func ordinalScope(role string, k int32) podScope {
	return podScope{role: role, instance: &k, ordinal: true}
}

// contains reports whether p is in the scope.
func (s podScope) contains(p *corev1.Pod) bool {
	switch {
	case s.role == "":
		return true
	case p.Labels[rbgsv1.LabelRole] != s.role:
		return false
	case s.instance == nil:
		return true
	}
	instance, multi, err := labelIndex(p, rbgsv1.LabelInstance)
	if !s.ordinal {
		return multi && err == nil && instance == *s.instance
	}
	ordinal, ok, err := labelIndex(p, appsv1.PodIndexLabel)
	return !multi && ok && err == nil && ordinal == *s.instance
}

// of lists the pods of pods in the scope.
func (s podScope) of(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for i := range pods {
		if s.contains(&pods[i]) {
			out = append(out, pods[i])
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

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
