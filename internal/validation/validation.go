// Package validation checks groups and sets for what the CRD schema cannot
// express, or not at the exact field: group and set names, dependencies,
// and limits that depend on several fields at once. The reconcilers call it
// before creating anything, so an invalid object that got past admission
// builds nothing and says why. Every error names the field, its value and
// the fix.
//
// Collisions, which only admission calls, refuses templates that would
// shadow the discovery the operator injects.
package validation

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/graph"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
)

// MaxClusterConfigBytes bounds the data of each discovery ConfigMap,
// below the 1 MiB limit of a ConfigMap. Every pod's cluster.yaml lists
// every pod of the group, so the data grows with the square of the pods
// that share a ConfigMap (about 100 pods of size 1 per group fit; an
// instance of size > 1 has a ConfigMap of its own).
const MaxClusterConfigBytes = discovery.MaxConfigMapBytes

// Group checks the roles of group groupName at path.
func Group(groupName string, roles []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	return group(groupName, roles, path, "shorten the role name or the group's")
}

// group checks roles as Group does; shorten is the fix for a StatefulSet
// name that is too long.
func group(groupName string, roles []rbgsv1.RoleSpec, path *field.Path, shorten string) field.ErrorList {
	var errs field.ErrorList
	if len(roles) == 0 {
		errs = append(errs, field.Required(path, "a group needs at least one role: add one"))
	}
	if len(roles) > rbgsv1.MaxRoles {
		errs = append(errs, field.TooMany(path, len(roles), rbgsv1.MaxRoles))
	}
	errs = append(errs, graph.Validate(roles, path)...)
	for i := range roles {
		errs = append(errs, role(groupName, roles, i, path, shorten)...)
	}
	if len(errs) > 0 {
		return errs
	}
	return append(errs, discoverySize(groupName, roles, path)...)
}

// role checks role i of roles, which are at rolesPath.
func role(groupName string, roles []rbgsv1.RoleSpec, i int, rolesPath *field.Path, shorten string) field.ErrorList {
	var errs field.ErrorList
	r, path := &roles[i], rolesPath.Index(i)
	size := r.SizeOrDefault()
	switch {
	case size > 1 && r.KindOrDefault() == rbgsv1.WorkloadDeployment:
		errs = append(errs, field.Invalid(path.Child("size"), size, fmt.Sprintf(
			"role %s: size %d needs a StatefulSet workload (its pods need stable names): remove workload.kind Deployment, or set size to 1", r.Role, size)))
	case size > 1:
		if n := naming.Instance(groupName, r.Role, max(r.ReplicasOrDefault()-1, 0)); len(n) > rbgsv1.MaxWorkloadNameLength {
			errs = append(errs, field.Invalid(path.Child("role"), r.Role, fmt.Sprintf(
				"the StatefulSet of the role's last instance would be named %q, %d characters, over the %d allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): %s, or lower replicas",
				n, len(n), rbgsv1.MaxWorkloadNameLength, shorten)))
		}
		for j := range roles {
			if suffix, ok := strings.CutPrefix(roles[j].Role, r.Role+"-"); ok && instanceSuffix.MatchString(suffix) {
				other := roles[j].Role
				errs = append(errs, field.Invalid(rolesPath.Index(j).Child("role"), other, fmt.Sprintf(
					"role %s has size %d, so its instances' StatefulSets are named %q, %q, ...: a role named %q would take one of those names; rename it",
					r.Role, size, naming.Instance(groupName, r.Role, 0), naming.Instance(groupName, r.Role, 1), other)))
			}
		}
	default:
		if n := naming.Workload(groupName, r.Role); len(n) > rbgsv1.MaxWorkloadNameLength {
			errs = append(errs, field.Invalid(path.Child("role"), r.Role, fmt.Sprintf(
				"the role's StatefulSet would be named %q, %d characters, over the %d allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): %s",
				n, len(n), rbgsv1.MaxWorkloadNameLength, shorten)))
		}
	}
	if len(r.Template.Spec.Containers) == 0 {
		errs = append(errs, field.Required(path.Child("template", "spec", "containers"),
			fmt.Sprintf("role %s has no container: add at least one", r.Role)))
	}
	if key := r.TopologyKeyOf(); key != "" {
		if msgs := utilvalidation.IsQualifiedName(key); len(msgs) > 0 {
			errs = append(errs, field.Invalid(path.Child("scheduling", "topologyKey"), key, fmt.Sprintf(
				"role %s: topologyKey must be a node label key, e.g. topology.kubernetes.io/rack: %s", r.Role, strings.Join(msgs, "; "))))
		}
	}
	if r.GangOrDefault() != rbgsv1.GangNone && size == 1 && r.PodManagementPolicy == appsv1.OrderedReadyPodManagement {
		errs = append(errs, field.Invalid(path.Child("podManagementPolicy"), r.PodManagementPolicy, fmt.Sprintf(
			"role %s: a gang places all its pods together, and OrderedReady creates each pod only once the previous one is Ready, so the gang would wait forever: "+
				"use podManagementPolicy Parallel (it cannot change on a role: remove the role and add it again under another name), or remove scheduling.gang", r.Role)))
	}
	if r.RestartPolicy == rbgsv1.RestartRecreateInstance && r.KindOrDefault() == rbgsv1.WorkloadDeployment {
		errs = append(errs, field.Invalid(path.Child("restartPolicy"), r.RestartPolicy, fmt.Sprintf(
			"role %s runs as a Deployment, whose pods are no instances of their own to recreate: use None (the Deployment replaces a failed pod) or RecreateGroup", r.Role)))
	}
	if b := r.DisruptionBudget; b != nil && !validBudget(&b.MaxUnavailable) {
		errs = append(errs, field.Invalid(path.Child("disruptionBudget", "maxUnavailable"), b.MaxUnavailable.String(),
			"must be a number of instances of at least 0, or a percentage from 0% to 100%: e.g. 1 to let a drain take one instance at a time"))
	}
	return append(errs, rolloutStrategy(r, path.Child("rolloutStrategy"))...)
}

// DisruptionWarnings warns of the roles (at rolesPath) whose disruption
// budget lets no instance go: a drain of a node running one of their pods
// waits until the budget changes.
func DisruptionWarnings(roles []rbgsv1.RoleSpec, rolesPath *field.Path) []string {
	var out []string
	for i := range roles {
		r := &roles[i]
		if n, ok := r.DisruptionsAllowed(); ok && n == 0 && r.ReplicasOrDefault() > 0 {
			out = append(out, fmt.Sprintf("%s: role %s lets no instance of its %d be evicted, so a drain of a node that runs one of its pods waits until this changes: "+
				"set maxUnavailable to 1 (or more) if drains should proceed", rolesPath.Index(i).Child("disruptionBudget", "maxUnavailable"), r.Role, r.ReplicasOrDefault()))
		}
	}
	return out
}

// rolloutStrategy checks the rollout strategy of role r, at path.
func rolloutStrategy(r *rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	rs := r.RolloutStrategy
	if rs == nil {
		return nil
	}
	var errs field.ErrorList
	switch rs.PodUpdatePolicy {
	case "", rbgsv1.PodUpdateRecreate:
	case rbgsv1.PodUpdateInPlaceIfPossible:
		if r.KindOrDefault() == rbgsv1.WorkloadDeployment {
			errs = append(errs, field.Invalid(path.Child("podUpdatePolicy"), rs.PodUpdatePolicy, fmt.Sprintf(
				"role %s runs as a Deployment, whose ReplicaSets replace pods of a new template on their own: use Recreate, or run the role as a StatefulSet (remove workload.kind)", r.Role)))
		}
	default:
		errs = append(errs, field.NotSupported(path.Child("podUpdatePolicy"), rs.PodUpdatePolicy,
			[]rbgsv1.PodUpdatePolicy{rbgsv1.PodUpdateRecreate, rbgsv1.PodUpdateInPlaceIfPossible}))
	}
	if v := rs.MaxUnavailable; v != nil && !validBudget(v) {
		errs = append(errs, field.Invalid(path.Child("maxUnavailable"), v.String(),
			"must be a number of instances of at least 0, or a percentage from 0% to 100%: e.g. 1 to replace one instance at a time, 25%, or 0 with maxSurge 1 to start one before one goes"))
	}
	if v := rs.MaxSurge; v != nil && !validBudget(v) {
		errs = append(errs, field.Invalid(path.Child("maxSurge"), v.String(),
			"must be a number of instances of at least 0, or a percentage from 0% to 100%: e.g. 1 to start one instance at the new template before an old one goes, or 25%"))
	}
	if len(errs) == 0 && isZero(rs.MaxUnavailable) && (rs.MaxSurge == nil || isZero(rs.MaxSurge)) {
		var surge any = 0
		if rs.MaxSurge != nil {
			surge = rs.MaxSurge.String()
		}
		errs = append(errs, field.Invalid(path.Child("maxSurge"), surge, fmt.Sprintf(
			"role %s: maxUnavailable and maxSurge are both 0, so no instance could ever be replaced: set maxSurge to 1 (or more) to start one at the new template before an old one goes, or maxUnavailable to 1", r.Role)))
	}
	return errs
}

// groupRestartPolicy refuses a group-wide restartPolicy (at path) of
// RecreateInstance while a Deployment role, whose pods are no instances,
// has no policy of its own.
func groupRestartPolicy(policy rbgsv1.RestartPolicy, roles []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	if policy != rbgsv1.RestartRecreateInstance {
		return nil
	}
	for _, r := range roles {
		if r.KindOrDefault() == rbgsv1.WorkloadDeployment && r.RestartPolicy == "" {
			return field.ErrorList{field.Invalid(path, policy, fmt.Sprintf(
				"role %s runs as a Deployment, whose pods are no instances of their own to recreate: give that role a restartPolicy of its own (None or RecreateGroup), or use another policy here", r.Role))}
		}
	}
	return nil
}

// budgetPercent is the form of a maxUnavailable or maxSurge percentage.
var budgetPercent = regexp.MustCompile(`^([0-9]{1,2}|100)%$`)

// validBudget reports whether v is a count of at least 0 or a percentage
// from 0% to 100%.
func validBudget(v *intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal >= 0
	}
	return budgetPercent.MatchString(v.StrVal)
}

// isZero reports whether v is set to 0 or 0%.
func isZero(v *intstr.IntOrString) bool {
	return v != nil && ((v.Type == intstr.Int && v.IntVal == 0) || (v.Type == intstr.String && v.StrVal == "0%"))
}

// instanceSuffix is what follows "<role>-" in the name of an instance.
var instanceSuffix = regexp.MustCompile(`^[0-9]+$`)

// discoverySize refuses a group whose discovery files would not fit in
// their ConfigMaps.
func discoverySize(groupName string, roles []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	pods, largest := 0, 0
	for i := range roles {
		r := &roles[i]
		pods += int(r.ReplicasOrDefault() * r.SizeOrDefault())
		if r.ReplicasOrDefault() > roles[largest].ReplicasOrDefault() {
			largest = i
		}
	}
	const fix = "lower replicas or size, or spread the pods over more groups"
	if bytes := discovery.EstimateFileBytes(pods); bytes > MaxClusterConfigBytes/2 {
		// Far over the limit: not worth resolving.
		return field.ErrorList{field.Invalid(path.Index(largest).Child("replicas"), roles[largest].ReplicasOrDefault(), fmt.Sprintf(
			"the group's %d pods need more than %d bytes for each pod's cluster.yaml, which lists every pod of the group; a ConfigMap holds %d: %s",
			pods, bytes, MaxClusterConfigBytes, fix))}
	}
	g := &rbgsv1.RoleBasedGroup{ObjectMeta: metav1.ObjectMeta{Name: groupName}, Spec: rbgsv1.RoleBasedGroupSpec{GroupTemplate: rbgsv1.GroupTemplate{Roles: roles}}}
	name, bytes, files := discovery.Largest(topology.Resolve(g))
	if bytes <= MaxClusterConfigBytes {
		return nil
	}
	at := path.Index(largest).Child("replicas")
	var value any = roles[largest].ReplicasOrDefault()
	for i := range roles {
		if naming.InstanceConfigMap(groupName, roles[i].Role, 0) == name {
			at, value = path.Index(i).Child("size"), roles[i].SizeOrDefault()
		}
	}
	return field.ErrorList{field.Invalid(at, value, fmt.Sprintf(
		"the group's %d pods need %d bytes of discovery files in ConfigMap %s (%d files, each listing every pod of the group), over the %d a ConfigMap holds: %s",
		pods, bytes, name, files, MaxClusterConfigBytes, fix))}
}

// serviceNamePrefix is the form of a group or set name: it starts the
// names of Services, which are DNS-1035 labels.
var serviceNamePrefix = regexp.MustCompile(`^[a-z]([-a-z0-9]*[a-z0-9])?$`)

// RoleBasedGroup checks a group.
func RoleBasedGroup(g *rbgsv1.RoleBasedGroup) field.ErrorList {
	var errs field.ErrorList
	if !serviceNamePrefix.MatchString(g.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), g.Name,
			"a group name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of the group's Services, which are DNS-1035 labels): rename the group"))
	}
	path := field.NewPath("spec", "roles")
	errs = append(errs, Group(g.Name, g.Spec.Roles, path)...)
	errs = append(errs, groupRestartPolicy(g.Spec.RestartPolicy, g.Spec.Roles, field.NewPath("spec", "restartPolicy"))...)
	own := map[string]string{rbgsv1.LabelGroupName: g.Name}
	for _, k := range []string{rbgsv1.LabelSetName, rbgsv1.LabelGroupIndex, rbgsv1.LabelGroupRevision} {
		own[k] = g.Labels[k]
	}
	return append(errs, templateLabels(g.Spec.Roles, path, own,
		"the operator sets this label only on the pods of a set's groups, and this group is not one")...)
}

// RoleBasedGroupSet checks a set, for its longest group name.
func RoleBasedGroupSet(s *rbgsv1.RoleBasedGroupSet) field.ErrorList {
	var errs field.ErrorList
	if !serviceNamePrefix.MatchString(s.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), s.Name,
			"a set name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of its groups' Services, which are DNS-1035 labels): rename the set"))
	}
	path := field.NewPath("spec", "groupTemplate", "roles")
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	// The last group is the last surge group a rollout may run.
	_, surge := s.Spec.RolloutStrategy.Budget(replicas)
	last := naming.Group(s.Name, max(replicas-1+surge, 0))
	errs = append(errs, group(last, s.Spec.GroupTemplate.Roles, path,
		fmt.Sprintf("shorten the role name or the set's, or lower replicas (%q is the set's last group)", last))...)
	errs = append(errs, groupRestartPolicy(s.Spec.RestartPolicy, s.Spec.GroupTemplate.Roles, field.NewPath("spec", "restartPolicy"))...)
	// Group name and index differ from group to group: no template may set them.
	own := map[string]string{rbgsv1.LabelSetName: s.Name, rbgsv1.LabelGroupName: "", rbgsv1.LabelGroupIndex: "", rbgsv1.LabelGroupRevision: ""}
	return append(errs, templateLabels(s.Spec.GroupTemplate.Roles, path, own,
		"the operator sets this label on every pod, to a value that differs from group to group, and selects the pods by it")...)
}

// templateLabels refuses pod template labels that the operator sets to
// another value: its selectors and Services rely on them. own maps each
// group-level label to its value, "" when no pod may carry it from the
// template; unset says why for those.
func templateLabels(roles []rbgsv1.RoleSpec, path *field.Path, own map[string]string, unset string) field.ErrorList {
	var errs field.ErrorList
	for i, r := range roles {
		want := maps.Clone(own)
		want[rbgsv1.LabelRole] = r.Role
		for _, k := range slices.Sorted(maps.Keys(r.Template.Labels)) {
			v := r.Template.Labels[k]
			expected, reserved := want[k]
			switch {
			case !reserved || v == expected:
			case expected == "":
				errs = append(errs, field.Invalid(path.Index(i).Child("template", "metadata", "labels").Key(k), v,
					unset+": remove it from the template"))
			default:
				errs = append(errs, field.Invalid(path.Index(i).Child("template", "metadata", "labels").Key(k), v, fmt.Sprintf(
					"the operator sets this label to %q on every pod of this role and selects the pods by it: remove it from the template",
					expected)))
			}
		}
	}
	return errs
}

// GangLayouts refuses, in an update of roles from old, a change between
// size 1 and more, or of workload kind, of a running role placed as one
// gang: its pods can only be placed together, so it cannot move a few
// instances at a time (see the group controller's layout.go), and would
// go down whole. Scaling it to 0 first, then changing it, says the user
// means that.
func GangLayouts(roles, old []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range roles {
		r := &roles[i]
		o := roleNamed(old, r.Role)
		if o == nil || r.GangOrDefault() != rbgsv1.GangRole || o.ReplicasOrDefault() == 0 || r.ReplicasOrDefault() == 0 {
			continue
		}
		if (r.SizeOrDefault() > 1) == (o.SizeOrDefault() > 1) && r.KindOrDefault() == o.KindOrDefault() {
			continue
		}
		errs = append(errs, field.Forbidden(path.Index(i), fmt.Sprintf(
			"role %s is placed as one gang (scheduling.gang Role), so it cannot change between size 1 and size over 1, or its workload kind, a few instances at a time: "+
				"its pods are only placed together. Do it in two steps: set replicas to 0, then change size (or workload.kind) and replicas", r.Role)))
	}
	return errs
}

func roleNamed(roles []rbgsv1.RoleSpec, name string) *rbgsv1.RoleSpec {
	for i := range roles {
		if roles[i].Role == name {
			return &roles[i]
		}
	}
	return nil
}
