// Package graph checks the dependencies between the roles of a group and
// answers which roles may start.
//
// The dependencies form a directed graph from a role to the roles it needs.
// A valid graph names only roles of the group, has no self-loops and no
// cycles; Validate reports the first problem of each kind with the exact
// roles involved, so a user can fix the spec from the message alone.
package graph

import (
	"fmt"
	"slices"
	"strings"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Validate returns nil when the roles' dependencies form a valid graph, or
// an error naming every unknown dependency, self-dependency, duplicate role
// and the first cycle found.
func Validate(roles []rbgsv1.RoleSpec) error {
	known := make(map[string]bool, len(roles))
	var problems []string
	for _, r := range roles {
		if known[r.Role] {
			problems = append(problems, fmt.Sprintf("role %s is listed twice", r.Role))
		}
		known[r.Role] = true
	}
	for _, r := range roles {
		for _, d := range r.Dependencies {
			switch {
			case d == r.Role:
				problems = append(problems, fmt.Sprintf("role %s depends on itself", r.Role))
			case !known[d]:
				problems = append(problems, fmt.Sprintf("role %s depends on unknown role %s", r.Role, d))
			}
		}
	}
	if len(problems) == 0 {
		if cycle := FindCycle(roles); cycle != nil {
			problems = append(problems, "dependency cycle "+strings.Join(cycle, " -> "))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("roles: %s", strings.Join(problems, "; "))
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
