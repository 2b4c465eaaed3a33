// Package graph checks the dependencies between the roles of a group and
// answers which roles may start.
//
// The dependencies form a directed graph from a role to the roles it needs.
// A valid graph names only roles of the group, has no self-loops and no
// cycles; Validate reports every duplicate name, self-dependency and unknown
// dependency, or else the first cycle, each at the exact dependency to
// change, so a user can fix the spec from the message alone.
package graph

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Validate checks the dependencies of roles, the list at path. It returns
// an error for every role named like an earlier one (at its role field),
// every dependency on the role itself or on a name that is not a role (at
// that entry of dependencies), and, when there is none of those, for the
// first dependency cycle (at the dependency that leaves the cycle's first
// role).
func Validate(roles []rbgsv1.RoleSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	index := make(map[string]int, len(roles))
	for i, r := range roles {
		if first, ok := index[r.Role]; ok {
			errs = append(errs, field.Invalid(path.Index(i).Child("role"), r.Role, fmt.Sprintf(
				"%s has the same name: role names are unique in a group; rename or remove one of them", path.Index(first))))
			continue
		}
		index[r.Role] = i
	}
	for i, r := range roles {
		for j, d := range r.Dependencies {
			at := path.Index(i).Child("dependencies").Index(j)
			switch _, known := index[d]; {
			case d == r.Role:
				errs = append(errs, field.Invalid(at, d, "a role cannot depend on itself: remove it from dependencies"))
			case !known:
				errs = append(errs, field.Invalid(at, d, fmt.Sprintf(
					"not a role of this group (roles: %s): add the role or remove it from dependencies", names(roles))))
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if cycle := FindCycle(roles); cycle != nil {
		i := index[cycle[0]]
		j := slices.Index(roles[i].Dependencies, cycle[1])
		errs = append(errs, field.Invalid(path.Index(i).Child("dependencies").Index(j), cycle[1], fmt.Sprintf(
			"dependency cycle %s: none of these roles can start first; remove one of these dependencies",
			strings.Join(cycle, " -> "))))
	}
	return errs
}

// names lists the roles' names, comma-separated, in spec order.
func names(roles []rbgsv1.RoleSpec) string {
	return strings.Join(rbgsv1.RoleNames(roles), ", ")
}

// FindCycle returns a dependency cycle as the list of roles along it, the
// first role repeated at the end (e.g. [decode router decode]), or nil.
// Roles are visited in spec order so the answer is deterministic. Unknown
// dependencies and self-dependencies are ignored.
func FindCycle(roles []rbgsv1.RoleSpec) []string {
	deps := make(map[string][]string, len(roles))
	for _, r := range roles {
		deps[r.Role] = r.Dependencies
	}
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[string]int, len(roles))
	var path []string
	var visit func(string) []string
	visit = func(role string) []string {
		state[role] = onPath
		path = append(path, role)
		for _, d := range deps[role] {
			if _, ok := deps[d]; !ok || d == role {
				continue
			}
			switch state[d] {
			case onPath:
				start := slices.Index(path, d)
				return append(slices.Clone(path[start:]), d)
			case unvisited:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		state[role] = done
		return nil
	}
	for _, r := range roles {
		if state[r.Role] == unvisited {
			if c := visit(r.Role); c != nil {
				return c
			}
		}
	}
	return nil
}

// Blockers returns, for a role, the dependencies that are not ready, in
// the order the spec lists them; ready reports readiness by role name.
func Blockers(role rbgsv1.RoleSpec, ready func(string) bool) []string {
	var out []string
	for _, d := range role.Dependencies {
		if !ready(d) {
			out = append(out, d)
		}
	}
	return out
}
