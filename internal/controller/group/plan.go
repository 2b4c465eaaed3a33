package group

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
)

// A plan is a value: every write one reconcile makes, decided from its
// observation before any (planGroup, which reads no client and no clock).
// apply carries it out in order, discovery first (no pod may start
// without its files), then gangs (before the pods that join them), then
// workloads, pod deletions and prunes; it decides nothing. The status
// comes last, once: the plan's, with what apply reports.
type plan struct {
	discovery []write
	gangs     []write
	workloads []write
	// budgets are the roles' PodDisruptionBudgets.
	budgets []write
	// scales are workloads of a role's former layout scaled down as the
	// new one comes up (see layout.go).
	scales []scaleWrite
	// recreation is what a restart policy asks for, nil when nothing.
	recreation *recreation
	// prune lists the children the spec no longer asks for.
	prune []objectRef
	// workerLabels are the pods of instances to label with their worker
	// index.
	workerLabels map[*corev1.Pod]string
	// patches are the pods updated in place (see inplace.go).
	patches []podPatch
	// whole are the instances whole now, for the next reconcile (see
	// disruption.go).
	whole wholeInstances
	// fallbacks say, by role, why a change the role would update in place
	// replaces its pods.
	fallbacks map[string]string
	// status is the status to write, but for the recreation's record.
	status rbgsv1.RoleBasedGroupStatus
	// started lists the roles whose workloads this reconcile creates.
	started []string
}

// write is one child to write: live from the cache (nil when absent),
// build its desired state, called only when the memo cannot tell it is
// already up to date (see apply.Writer).
type write struct {
	// intent replaces the group's intent when the desired object depends
	// on more than the group's spec (see apply.Memo).
	intent string
	live   client.Object
	build  func() client.Object
}

// objectRef is a child to delete, and why.
type objectRef struct {
	kind string
	obj  client.Object
	why  string
}

// planGroup plans one reconcile of the group of obs. scheme renders the
// workloads whose pod template is kept (see keepRendering).
func planGroup(obs *observation, scheme *runtime.Scheme) *plan {
	if surge := planSurge(obs); len(surge) > 0 {
		o := *obs
		o.t = topology.ResolveWithSurge(obs.g, surge)
		obs = &o
	}
	files := discovery.Files(obs.t, lingeringFiles(obs.t, obs.ch.pods))
	gangs := planGangs(obs)
	views := viewRoles(obs, gangs)
	roles := planRoles(obs.g, views, gangs.blocked)
	holdRecreating(obs.g, roles, oldPodsLeft(views, obs.ch))
	coord := planCoordination(obs, views)
	p := &plan{discovery: discoveryWrites(obs, files), gangs: gangs.writes, workerLabels: unlabelledWorkers(obs.ch.pods)}
	for i := range roles {
		roles[i].waitsFor = coord.waits[roles[i].spec.Role]
		rw := planRoleWrites(obs, scheme, &roles[i], gangs, coord)
		p.workloads = append(p.workloads, rw.writes...)
		p.scales = append(p.scales, rw.scales...)
		p.prune = append(p.prune, rw.gone...)
		p.patches = append(p.patches, rw.patches...)
		if rw.fallback != "" {
			if p.fallbacks == nil {
				p.fallbacks = map[string]string{}
			}
			p.fallbacks[roles[i].spec.Role] = rw.fallback
		}
		if roles[i].write && !roles[i].state.exists {
			p.started = append(p.started, roles[i].spec.Role)
		}
	}
	p.budgets = budgetWrites(obs, roles)
	p.prune = append(p.prune, staleObjects(obs, files, roles)...)
	p.prune = append(p.prune, gangs.replace...)
	slices.SortFunc(p.prune, func(a, b objectRef) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.obj.GetName(), b.obj.GetName()))
	})
	p.status = computeStatus(obs.g, roles, obs.now)
	if c := gangsCondition(obs, gangs.blocker); c != nil {
		apimeta.SetStatusCondition(&p.status.Conditions, *c)
	} else {
		apimeta.RemoveStatusCondition(&p.status.Conditions, rbgsv1.ConditionGangsScheduled)
	}
	p.recreation = planRestart(obs.g, &p.status, obs.restartable(), obs.whole, obs.now, obs.instanceOf)
	p.whole = wholeMembers(obs.whole, obs.t, obs.ch.pods)
	return p
}

// intent identifies everything the desired children of g depend on: its
// identity, generation and labels, and the replicas of its roles (a
// RoleScaler changes them without a new generation).
func intent(g *rbgsv1.RoleBasedGroup) string {
	counts := make([]int32, len(g.Spec.Roles))
	for i := range g.Spec.Roles {
		counts[i] = g.Spec.Roles[i].ReplicasOrDefault()
	}
	return fmt.Sprintf("%s/%d/%x/%v", g.UID, g.Generation, apply.MapHash(g.Labels), counts)
}

// discoveryWrites are the writes of the discovery ConfigMaps, files by
// name (see discovery.Files), and of the env ConfigMap. Files of pods the
// spec no longer has are among files until those pods are gone.
func discoveryWrites(obs *observation, files map[string]map[string]string) []write {
	g, t, ch := obs.g, obs.t, obs.ch
	fileIntent := intent(g)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		for _, key := range slices.Sorted(maps.Keys(files[name])) {
			fileIntent += "/" + name + "/" + key
		}
	}
	out := []write{{live: ch.configMaps[naming.EnvConfigMap(g.Name)], build: func() client.Object { return desiredEnvConfigMap(g, t) }}}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		out = append(out, write{intent: fileIntent, live: ch.configMaps[name], build: func() client.Object {
			return desiredClusterConfigMap(g, name, files[name])
		}})
	}
	return out
}

// staleObjects lists the children the spec (resolved as obs.t) no longer
// asks for: workloads and Services of removed roles, instances scaled
// away, PodGroups of gangs gone, and discovery ConfigMaps that hold no
// file (files, see discovery.Files). The workloads of a role's former
// layout are its move's to remove (see layout.go), and children already
// being deleted are left to finish.
func staleObjects(obs *observation, files map[string]map[string]string, roles []rolePlan) []objectRef {
	t, ch := obs.t, obs.ch
	want := map[string]map[string]bool{"StatefulSet": {}, "Deployment": {}, "Service": {}, "PodGroup": {}, "PodDisruptionBudget": {}}
	for i, r := range t.Roles {
		want["Service"][r.Service] = true
		if obs.g.Spec.Roles[i].DisruptionBudget != nil {
			want["PodDisruptionBudget"][r.Service] = true
		}
		for _, pg := range r.PodGroups {
			want["PodGroup"][pg.Name] = true
		}
		switch {
		case r.Kind == rbgsv1.WorkloadDeployment:
			want["Deployment"][r.Service] = true
		case r.MultiPod():
			for _, in := range r.Instances {
				want["StatefulSet"][in.Workload] = true
			}
		default:
			want["StatefulSet"][r.Service] = true
		}
	}
	var out []objectRef
	add := func(kind string, o client.Object) {
		if want[kind][o.GetName()] || o.GetDeletionTimestamp() != nil ||
			slices.ContainsFunc(roles, func(p rolePlan) bool { return p.old.owns(o) }) {
			return
		}
		out = append(out, objectRef{kind: kind, obj: o, why: whyStale(t.Role(o.GetLabels()[rbgsv1.LabelRole]), kind)})
	}
	for _, o := range ch.statefulSets {
		add("StatefulSet", o)
	}
	for _, o := range ch.deployments {
		add("Deployment", o)
	}
	for _, o := range ch.services {
		add("Service", o)
	}
	for _, o := range ch.podGroups {
		add("PodGroup", o)
	}
	for _, o := range ch.budgets {
		add("PodDisruptionBudget", o)
	}
	// Discovery ConfigMaps of instances scaled away, once their pods are
	// gone (until then their files linger among files).
	for name, o := range ch.configMaps {
		if _, ok := files[name]; !ok && name != naming.EnvConfigMap(t.Name) && o.DeletionTimestamp == nil {
			out = append(out, objectRef{kind: "ConfigMap", obj: o, why: "no pod reads it any more"})
		}
	}
	return out
}

// whyStale says why a child of kind of role (nil when the spec no longer
// has the role) is deleted.
func whyStale(role *topology.Role, kind string) string {
	switch {
	case role == nil:
		return "its role left the spec"
	case kind == "PodGroup" && role.Replicas == 0:
		return "its role runs no pods"
	case kind == "PodGroup":
		return "its gang left the spec"
	case kind == "StatefulSet":
		return "its instance was scaled away"
	case kind == "PodDisruptionBudget":
		return "its role has no disruptionBudget"
	}
	return "the role no longer has it"
}
