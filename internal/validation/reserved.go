package validation

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// Collisions refuses what a role's template would take from the discovery
// the operator injects into every container: env names and envFrom
// prefixes starting with RBGS_, a volume named rbgs-cluster, mounts of that
// volume or at or under /etc/rbgs, and a role whose discovery file key is
// another file's (a Deployment role named cluster). roles is the list at
// rolesPath; old is the same list before an update (nil on create).
//
// Only admission calls it, not the reconcilers: objects admitted before the
// check existed keep running. For the same reason an entry that old already
// had in the same role (same container and name, same volume, same mount
// path) is not refused: it comes back as a warning naming it and the fix.
func Collisions(roles, old []rbgsv1.RoleSpec, rolesPath *field.Path) (errs field.ErrorList, warnings []string) {
	had := map[string]bool{}
	for i := range old {
		for _, c := range roleCollisions(&old[i], nil) {
			had[c.key] = true
		}
	}
	for i := range roles {
		for _, c := range roleCollisions(&roles[i], rolesPath.Index(i)) {
			if had[c.key] {
				warnings = append(warnings, fmt.Sprintf("%s: %q: %s (allowed because the object already had it; a new entry like it is refused)",
					c.err.Field, c.err.BadValue, c.err.Detail))
				continue
			}
			errs = append(errs, c.err)
		}
	}
	return errs, warnings
}

// GroupCollisions is Collisions for a group; old is nil on create.
func GroupCollisions(g, old *rbgsv1.RoleBasedGroup) (field.ErrorList, []string) {
	var oldRoles []rbgsv1.RoleSpec
	if old != nil {
		oldRoles = old.Spec.Roles
	}
	return Collisions(g.Spec.Roles, oldRoles, field.NewPath("spec", "roles"))
}

// SetCollisions is Collisions for a set's group template; old is nil on
// create.
func SetCollisions(s, old *rbgsv1.RoleBasedGroupSet) (field.ErrorList, []string) {
	var oldRoles []rbgsv1.RoleSpec
	if old != nil {
		oldRoles = old.Spec.GroupTemplate.Roles
	}
	return Collisions(s.Spec.GroupTemplate.Roles, oldRoles, field.NewPath("spec", "groupTemplate", "roles"))
}

// collision is one refused entry; key identifies it across an update.
type collision struct {
	key string
	err *field.Error
}

// Why each entry is refused; every message ends with the fix.
const (
	envFix    = "the operator reserves the " + rbgsv1.EnvPrefix + " prefix for the discovery variables it sets in every container"
	volumeFix = "the operator adds a volume of this name to every pod, holding the discovery files"
	mountFix  = "the operator mounts its discovery files at " + rbgsv1.ClusterConfigPath + " and " + rbgsv1.LiveClusterConfigDir +
		" in every container, and reserves " + rbgsv1.ClusterConfigDir
	mountNameFix = rbgsv1.ClusterVolumeName + " is the operator's discovery volume, already mounted at " + rbgsv1.ClusterConfigPath +
		" and " + rbgsv1.LiveClusterConfigDir + " in every container"
)

// roleCollisions lists the collisions of one role; at is the role's path,
// nil when only keys are wanted.
// containerCollisions adds, with add, the collisions of container c, at
// cpath: injected variables and prefixes, and mounts and devices of or in
// the discovery volume.
func containerCollisions(c *corev1.Container, cpath func() *field.Path, add func(key string, err func() *field.Error)) {
	id := "\x00" + c.Name + "\x00"
	for j, e := range c.Env {
		if strings.HasPrefix(e.Name, rbgsv1.EnvPrefix) {
			add("env"+id+e.Name, func() *field.Error {
				return field.Invalid(cpath().Child("env").Index(j).Child("name"), e.Name, envFix+": rename the variable")
			})
		}
	}
	for j, e := range c.EnvFrom {
		if strings.HasPrefix(e.Prefix, rbgsv1.EnvPrefix) {
			add("envFrom"+id+e.Prefix, func() *field.Error {
				return field.Invalid(cpath().Child("envFrom").Index(j).Child("prefix"), e.Prefix, envFix+": choose another prefix")
			})
		}
	}
	for j, m := range c.VolumeMounts {
		if m.Name == rbgsv1.ClusterVolumeName {
			add("mountName"+id+cleanPath(m.MountPath), func() *field.Error {
				return field.Invalid(cpath().Child("volumeMounts").Index(j).Child("name"), m.Name,
					mountNameFix+": remove this mount and read the files there (a volume of your own needs another name)")
			})
		}
		if inClusterConfigDir(m.MountPath) {
			add("mountPath"+id+cleanPath(m.MountPath), func() *field.Error {
				return field.Invalid(cpath().Child("volumeMounts").Index(j).Child("mountPath"), m.MountPath, mountFix+": mount the volume elsewhere")
			})
		}
	}
	for j, d := range c.VolumeDevices {
		if inClusterConfigDir(d.DevicePath) {
			add("devicePath"+id+cleanPath(d.DevicePath), func() *field.Error {
				return field.Invalid(cpath().Child("volumeDevices").Index(j).Child("devicePath"), d.DevicePath, mountFix+": put the device elsewhere")
			})
		}
	}
}

func roleCollisions(r *rbgsv1.RoleSpec, at *field.Path) []collision {
	var out []collision
	add := func(key string, err func() *field.Error) {
		c := collision{key: r.Role + "\x00" + key}
		if at != nil {
			c.err = err()
		}
		out = append(out, c)
	}
	if k := naming.ClusterFileKey(r.Role, nil); r.KindOrDefault() == rbgsv1.WorkloadDeployment && k == naming.LiveClusterFileKey {
		add("role", func() *field.Error {
			return field.Invalid(at.Child("role"), r.Role, fmt.Sprintf(
				"a Deployment role's discovery file is the ConfigMap key %q, which holds the group's live topology (%s): rename the role, or run it as a StatefulSet",
				k, rbgsv1.LiveClusterConfigPath))
		})
	}
	spec := func() *field.Path { return at.Child("template", "spec") }
	for i, v := range r.Template.Spec.Volumes {
		if v.Name == rbgsv1.ClusterVolumeName {
			add("volume\x00"+v.Name, func() *field.Error {
				return field.Invalid(spec().Child("volumes").Index(i).Child("name"), v.Name,
					volumeFix+": rename the volume and its mounts")
			})
		}
	}
	containers := func(kind string, list []corev1.Container) {
		for i := range list {
			containerCollisions(&list[i], func() *field.Path { return spec().Child(kind).Index(i) }, add)
		}
	}
	containers("initContainers", r.Template.Spec.InitContainers)
	containers("containers", r.Template.Spec.Containers)
	return out
}

// inClusterConfigDir reports whether a container path is the discovery
// folder or lies under it, as the kubelet resolves it (a relative path
// starts at the root).
func inClusterConfigDir(p string) bool {
	c := cleanPath(p)
	return c == rbgsv1.ClusterConfigDir || strings.HasPrefix(c, rbgsv1.ClusterConfigDir+"/")
}

func cleanPath(p string) string {
	return path.Clean("/" + p)
}
