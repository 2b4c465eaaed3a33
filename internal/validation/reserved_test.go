package validation_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// role is a StatefulSet role whose only container "main" is changed by edit.
func role(name string, edit func(*corev1.PodSpec)) rbgsv1.RoleSpec {
	r := wrappers.RoleSpec(name, 1)
	if edit != nil {
		edit(&r.Template.Spec)
	}
	return r
}

func withEnv(names ...string) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) {
		for _, n := range names {
			s.Containers[0].Env = append(s.Containers[0].Env, corev1.EnvVar{Name: n, Value: "x"})
		}
	}
}

func withMount(volume, path string) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) {
		s.Containers[0].VolumeMounts = append(s.Containers[0].VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: path})
	}
}

const (
	envFix       = "the operator reserves the RBGS_ prefix for the discovery variables it sets in every container"
	mountFix     = "the operator mounts its discovery files at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container, and reserves /etc/rbgs: mount the volume elsewhere"
	mountNameFix = "rbgs-cluster is the operator's discovery volume, already mounted at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container: remove this mount and read the files there (a volume of your own needs another name)"
)

func TestCollisions(t *testing.T) {
	deployment := func(name string) rbgsv1.RoleSpec {
		r := role(name, nil)
		r.Workload.Kind = rbgsv1.WorkloadDeployment
		return r
	}
	cases := []struct {
		name  string
		roles []rbgsv1.RoleSpec
		want  []string
	}{
		{"seed example", []rbgsv1.RoleSpec{role("prefill", nil), role("decode", nil)}, nil},
		{"env of the user's", []rbgsv1.RoleSpec{role("a", withEnv("MODEL", "RBGS", "rbgs_x", "MY_RBGS_X"))}, nil},
		{"env named like the operator's", []rbgsv1.RoleSpec{role("a", nil), role("b", withEnv("MODEL", "RBGS_LOCAL_RANK"))}, []string{
			`spec.roles[1].template.spec.containers[0].env[1].name: Invalid value: "RBGS_LOCAL_RANK": ` + envFix + ": rename the variable",
		}},
		{"env in the reserved prefix, in an init container", []rbgsv1.RoleSpec{role("a", func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Env: []corev1.EnvVar{{Name: "RBGS_MINE"}}}}
		})}, []string{
			`spec.roles[0].template.spec.initContainers[0].env[0].name: Invalid value: "RBGS_MINE": ` + envFix + ": rename the variable",
		}},
		{"envFrom prefix", []rbgsv1.RoleSpec{role("a", func(s *corev1.PodSpec) {
			s.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "APP_"}, {Prefix: "RBGS_ROLES_"}}
		})}, []string{
			`spec.roles[0].template.spec.containers[0].envFrom[1].prefix: Invalid value: "RBGS_ROLES_": ` + envFix + ": choose another prefix",
		}},
		{"volume named like the operator's", []rbgsv1.RoleSpec{role("a", func(s *corev1.PodSpec) {
			s.Volumes = []corev1.Volume{{Name: "data"}, {Name: "rbgs-cluster"}}
		})}, []string{
			`spec.roles[0].template.spec.volumes[1].name: Invalid value: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts`,
		}},
		{"mount of the operator's volume", []rbgsv1.RoleSpec{role("a", withMount("rbgs-cluster", "/config"))}, []string{
			`spec.roles[0].template.spec.containers[0].volumeMounts[0].name: Invalid value: "rbgs-cluster": ` + mountNameFix,
		}},
		{"mounts at or under /etc/rbgs, however written", []rbgsv1.RoleSpec{role("a", func(s *corev1.PodSpec) {
			for _, p := range []string{"/etc/rbgs", "/etc/rbgs/live", "/etc//rbgs/", "etc/rbgs/x", "/etc/rbgs-data", "/etc", "/etc/./rbgs/../rbgs/cluster.yaml"} {
				withMount("data", p)(s)
			}
		})}, []string{
			`spec.roles[0].template.spec.containers[0].volumeMounts[0].mountPath: Invalid value: "/etc/rbgs": ` + mountFix,
			`spec.roles[0].template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/etc/rbgs/live": ` + mountFix,
			`spec.roles[0].template.spec.containers[0].volumeMounts[2].mountPath: Invalid value: "/etc//rbgs/": ` + mountFix,
			`spec.roles[0].template.spec.containers[0].volumeMounts[3].mountPath: Invalid value: "etc/rbgs/x": ` + mountFix,
			`spec.roles[0].template.spec.containers[0].volumeMounts[6].mountPath: Invalid value: "/etc/./rbgs/../rbgs/cluster.yaml": ` + mountFix,
		}},
		{"block device under /etc/rbgs", []rbgsv1.RoleSpec{role("a", func(s *corev1.PodSpec) {
			s.Containers[0].VolumeDevices = []corev1.VolumeDevice{{Name: "disk", DevicePath: "/etc/rbgs/disk"}}
		})}, []string{
			`spec.roles[0].template.spec.containers[0].volumeDevices[0].devicePath: Invalid value: "/etc/rbgs/disk": the operator mounts its discovery files at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container, and reserves /etc/rbgs: put the device elsewhere`,
		}},
		{"a Deployment role named cluster", []rbgsv1.RoleSpec{role("prefill", nil), deployment("cluster")}, []string{
			`spec.roles[1].role: Invalid value: "cluster": a Deployment role's discovery file is the ConfigMap key "cluster.yaml", which holds the group's live topology (/etc/rbgs/live/cluster.yaml): rename the role, or run it as a StatefulSet`,
		}},
		{"a StatefulSet role named cluster", []rbgsv1.RoleSpec{role("cluster", nil), deployment("router")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs, warnings := validation.Collisions(tc.roles, nil, field.NewPath("spec", "roles"))
			if diff := cmp.Diff(tc.want, lines(errs)); diff != "" {
				t.Errorf("Collisions (-want +got):\n%s", diff)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings on create: %q", warnings)
			}
		})
	}
}

// An update keeps, with a warning, what the role already had; anything new
// is refused.
func TestCollisionsRatchet(t *testing.T) {
	old := []rbgsv1.RoleSpec{
		role("prefill", func(s *corev1.PodSpec) {
			withEnv("RBGS_LOCAL_ROLE")(s)
			withMount("data", "/etc/rbgs/models")(s)
			s.Volumes = []corev1.Volume{{Name: "rbgs-cluster"}}
		}),
		func() rbgsv1.RoleSpec {
			r := role("cluster", nil)
			r.Workload.Kind = rbgsv1.WorkloadDeployment
			return r
		}(),
	}
	cases := []struct {
		name         string
		edit         func([]rbgsv1.RoleSpec)
		want         []string
		wantWarnings []string // exactly, or just their number as "N warnings"
	}{
		{"unchanged", func([]rbgsv1.RoleSpec) {}, nil, []string{
			`spec.roles[0].template.spec.volumes[0].name: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts (allowed because the object already had it; a new entry like it is refused)`,
			`spec.roles[0].template.spec.containers[0].env[0].name: "RBGS_LOCAL_ROLE": ` + envFix + `: rename the variable (allowed because the object already had it; a new entry like it is refused)`,
			`spec.roles[0].template.spec.containers[0].volumeMounts[0].mountPath: "/etc/rbgs/models": ` + mountFix + ` (allowed because the object already had it; a new entry like it is refused)`,
			`spec.roles[1].role: "cluster": a Deployment role's discovery file is the ConfigMap key "cluster.yaml", which holds the group's live topology (/etc/rbgs/live/cluster.yaml): rename the role, or run it as a StatefulSet (allowed because the object already had it; a new entry like it is refused)`,
		}},
		{"same entries, other values and order", func(r []rbgsv1.RoleSpec) {
			r[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MODEL"}, {Name: "RBGS_LOCAL_ROLE", Value: "other"}}
			r[0].Template.Spec.Containers[0].VolumeMounts[0].Name = "models"
			r[0], r[1] = r[1], r[0]
		}, nil, []string{"4 warnings"}},
		{"a new variable beside the old one", func(r []rbgsv1.RoleSpec) { withEnv("RBGS_GROUP_NAME")(&r[0].Template.Spec) }, []string{
			`spec.roles[0].template.spec.containers[0].env[1].name: Invalid value: "RBGS_GROUP_NAME": ` + envFix + ": rename the variable",
		}, []string{"4 warnings"}},
		{"the old variable in another container", func(r []rbgsv1.RoleSpec) {
			r[0].Template.Spec.Containers = append(r[0].Template.Spec.Containers, corev1.Container{Name: "sidecar",
				Env: []corev1.EnvVar{{Name: "RBGS_LOCAL_ROLE"}}})
		}, []string{
			`spec.roles[0].template.spec.containers[1].env[0].name: Invalid value: "RBGS_LOCAL_ROLE": ` + envFix + ": rename the variable",
		}, []string{"4 warnings"}},
		{"the old mount moved", func(r []rbgsv1.RoleSpec) {
			r[0].Template.Spec.Containers[0].VolumeMounts[0].MountPath = "/etc/rbgs/weights"
		}, []string{
			`spec.roles[0].template.spec.containers[0].volumeMounts[0].mountPath: Invalid value: "/etc/rbgs/weights": ` + mountFix,
		}, []string{"3 warnings"}},
		{"the old entries in a new role", func(r []rbgsv1.RoleSpec) { r[0].Role = "decode" }, []string{
			`spec.roles[0].template.spec.volumes[0].name: Invalid value: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts`,
			`spec.roles[0].template.spec.containers[0].env[0].name: Invalid value: "RBGS_LOCAL_ROLE": ` + envFix + ": rename the variable",
			`spec.roles[0].template.spec.containers[0].volumeMounts[0].mountPath: Invalid value: "/etc/rbgs/models": ` + mountFix,
		}, []string{"1 warnings"}},
		{"the Deployment role named cluster renamed", func(r []rbgsv1.RoleSpec) {
			r[1].Role = "router"
		}, nil, []string{"3 warnings"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			roles := make([]rbgsv1.RoleSpec, len(old))
			for i := range old {
				old[i].DeepCopyInto(&roles[i])
			}
			tc.edit(roles)
			errs, warnings := validation.Collisions(roles, old, field.NewPath("spec", "roles"))
			if diff := cmp.Diff(tc.want, lines(errs)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if len(tc.wantWarnings) == 1 && strings.HasSuffix(tc.wantWarnings[0], " warnings") {
				if got := fmt.Sprintf("%d warnings", len(warnings)); got != tc.wantWarnings[0] {
					t.Errorf("%s, want %s: %q", got, tc.wantWarnings[0], warnings)
				}
			} else if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCollisionsStatefulSetRoleTurnedDeployment(t *testing.T) {
	old := []rbgsv1.RoleSpec{role("cluster", nil)}
	roles := []rbgsv1.RoleSpec{role("cluster", nil)}
	roles[0].Workload.Kind = rbgsv1.WorkloadDeployment
	errs, _ := validation.Collisions(roles, old, field.NewPath("spec", "groupTemplate", "roles"))
	if len(errs) != 1 || errs[0].Field != "spec.groupTemplate.roles[0].role" {
		t.Errorf("errors %v, want spec.groupTemplate.roles[0].role refused", errs)
	}
}
