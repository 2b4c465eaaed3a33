// Package validation checks a group's roles for what the CRD schema cannot
// express: dependency cycles, and limits that depend on several fields at
// once. The reconcilers call it before creating anything, so an invalid
// object that got past admission builds nothing and says why.
package validation

import (
	"fmt"
	"maps"
	"strings"

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

// Group checks the roles of group groupName (for a set, its longest group
// name) at path.
func Group(groupName string, roles []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(roles) == 0 {
		errs = append(errs, field.Required(path, "a group needs at least one role"))
	}
	if len(roles) > rbgsv1.MaxRoles {
		errs = append(errs, field.TooMany(path, len(roles), rbgsv1.MaxRoles))
	}
	if err := graph.Validate(roles); err != nil {
		errs = append(errs, field.Invalid(path, names(roles), strings.TrimPrefix(err.Error(), "roles: ")))
	}
	for i, r := range roles {
		if n := naming.Workload(groupName, r.Role); len(n) > rbgsv1.MaxWorkloadNameLength {
			errs = append(errs, field.Invalid(path.Index(i).Child("role"), r.Role, fmt.Sprintf(
				"%q names the role's StatefulSet and must be at most %d characters: shorten the group or role name",
				n, rbgsv1.MaxWorkloadNameLength)))
		}
		if len(r.Template.Spec.Containers) == 0 {
			errs = append(errs, field.Required(path.Index(i).Child("template", "spec", "containers"),
				"list at least one container"))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	t := discovery.Topology{Group: groupName, Roles: make([]discovery.Role, 0, len(roles))}
	for i := range roles {
		t.Roles = append(t.Roles, discovery.Role{Name: roles[i].Role, Kind: discovery.KindOf(&roles[i]),
			Replicas: discovery.ReplicasOf(&roles[i]), Port: discovery.FirstPort(&roles[i].Template.Spec)})
	}
	if size := t.ClusterFilesSize(); size > MaxClusterConfigBytes {
		errs = append(errs, field.Invalid(path, names(roles), fmt.Sprintf(
			"the group's discovery files would take %d bytes, over the %d a ConfigMap can hold: every pod's cluster.yaml lists every pod, so use fewer pods per group (more groups)",
			size, MaxClusterConfigBytes)))
	}
	return errs
}

// RoleBasedGroup checks a group.
func RoleBasedGroup(g *rbgsv1.RoleBasedGroup) field.ErrorList {
	path := field.NewPath("spec", "roles")
	errs := Group(g.Name, g.Spec.Roles, path)
	own := map[string]string{rbgsv1.LabelGroupName: g.Name}
	for _, k := range []string{rbgsv1.LabelSetName, rbgsv1.LabelGroupIndex} {
		own[k] = g.Labels[k]
	}
	return append(errs, templateLabels(g.Spec.Roles, path, own)...)
}

// RoleBasedGroupSet checks a set, for its longest group name.
func RoleBasedGroupSet(s *rbgsv1.RoleBasedGroupSet) field.ErrorList {
	path := field.NewPath("spec", "groupTemplate", "roles")
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	errs := Group(naming.Group(s.Name, max(replicas-1, 0)), s.Spec.GroupTemplate.Roles, path)
	// Group name and index differ from group to group: no template may set them.
	own := map[string]string{rbgsv1.LabelSetName: s.Name, rbgsv1.LabelGroupName: "", rbgsv1.LabelGroupIndex: ""}
	return append(errs, templateLabels(s.Spec.GroupTemplate.Roles, path, own)...)
}

// templateLabels refuses pod template labels that the operator sets to
// another value: its selectors and Services rely on them. own maps each
// group-level label to its value ("" when it differs between groups).
func templateLabels(roles []rbgsv1.RoleSpec, path *field.Path, own map[string]string) field.ErrorList {
	var errs field.ErrorList
	for i, r := range roles {
		want := maps.Clone(own)
		want[rbgsv1.LabelRole] = r.Role
		for k, v := range r.Template.Labels {
			expected, reserved := want[k]
			if reserved && (expected == "" || v != expected) {
				errs = append(errs, field.Invalid(path.Index(i).Child("template", "metadata", "labels").Key(k), v,
					"the operator sets this label on every pod to select it; remove it from the template"))
			}
		}
	}
	return errs
}

func names(roles []rbgsv1.RoleSpec) string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = r.Role
	}
	return strings.Join(out, ",")
}
