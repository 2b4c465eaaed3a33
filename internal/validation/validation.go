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

	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/graph"
	"github.com/openpatio/rbgs/internal/naming"
)

// MaxClusterConfigBytes bounds the data of a group's cluster ConfigMap,
// below the 1 MiB limit of a ConfigMap. Every pod's cluster.yaml lists
// every pod of the group, so the data grows with the square of the group's
// pod count (about 100 pods per group fit).
const MaxClusterConfigBytes = 1000 * 1000

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
	for i, r := range roles {
		if n := naming.Workload(groupName, r.Role); len(n) > rbgsv1.MaxWorkloadNameLength {
			errs = append(errs, field.Invalid(path.Index(i).Child("role"), r.Role, fmt.Sprintf(
				"the role's StatefulSet would be named %q, %d characters, over the %d allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): %s",
				n, len(n), rbgsv1.MaxWorkloadNameLength, shorten)))
		}
		if len(r.Template.Spec.Containers) == 0 {
			errs = append(errs, field.Required(path.Index(i).Child("template", "spec", "containers"),
				fmt.Sprintf("role %s has no container: add at least one", r.Role)))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	t := discovery.Topology{Group: groupName, Roles: make([]discovery.Role, 0, len(roles))}
	pods, largest := int32(0), 0
	for i := range roles {
		t.Roles = append(t.Roles, discovery.Role{Name: roles[i].Role, Kind: discovery.KindOf(&roles[i]),
			Replicas: discovery.ReplicasOf(&roles[i]), Port: discovery.FirstPort(&roles[i].Template.Spec)})
		pods += t.Roles[i].Replicas
		if t.Roles[i].Replicas > t.Roles[largest].Replicas {
			largest = i
		}
	}
	if size := t.ClusterFilesSize(); size > MaxClusterConfigBytes {
		errs = append(errs, field.Invalid(path.Index(largest).Child("replicas"), t.Roles[largest].Replicas, fmt.Sprintf(
			"the group's %d pods need %d bytes of discovery files, over the %d a ConfigMap holds (every pod's cluster.yaml lists every pod of the group: about 100 pods fit): lower replicas, or spread the pods over more groups",
			pods, size, MaxClusterConfigBytes)))
	}
	return errs
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
	own := map[string]string{rbgsv1.LabelGroupName: g.Name}
	for _, k := range []string{rbgsv1.LabelSetName, rbgsv1.LabelGroupIndex} {
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
	last := naming.Group(s.Name, max(replicas-1, 0))
	errs = append(errs, group(last, s.Spec.GroupTemplate.Roles, path,
		fmt.Sprintf("shorten the role name or the set's, or lower replicas (%q is the set's last group)", last))...)
	// Group name and index differ from group to group: no template may set them.
	own := map[string]string{rbgsv1.LabelSetName: s.Name, rbgsv1.LabelGroupName: "", rbgsv1.LabelGroupIndex: ""}
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
