package webhook

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

// cause is one refusal as the API server reports it.
type cause struct{ Field, Message string }

// causes reads the refusals of err, an Invalid status error.
func causes(t *testing.T, err error) []cause {
	t.Helper()
	if err == nil {
		return nil
	}
	var status *apierrors.StatusError
	if !errors.As(err, &status) || status.ErrStatus.Reason != metav1.StatusReasonInvalid {
		t.Fatalf("error %v is not an Invalid status", err)
	}
	var out []cause
	for _, c := range status.ErrStatus.Details.Causes {
		out = append(out, cause{c.Field, c.Message})
	}
	return out
}

func groupWith(edit func(*rbgsv1.RoleBasedGroup)) *rbgsv1.RoleBasedGroup {
	g := wrappers.MakeGroup("g", "ns").Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	edit(g)
	return g
}

func TestGroupValidatorCreate(t *testing.T) {
	cases := []struct {
		name string
		g    *rbgsv1.RoleBasedGroup
		want []cause
	}{
		{"valid", groupWith(func(*rbgsv1.RoleBasedGroup) {}), nil},
		{"unknown dependency", groupWith(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Dependencies = []string{"nope"} }), []cause{{
			"spec.roles[1].dependencies[0]",
			`Invalid value: "nope": not a role of this group (roles: prefill, decode): add the role or remove it from dependencies`,
		}}},
		{"cycle", groupWith(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Dependencies = []string{"decode"} }), []cause{{
			"spec.roles[0].dependencies[0]",
			`Invalid value: "decode": dependency cycle prefill -> decode -> prefill: none of these roles can start first; remove one of these dependencies`,
		}}},
		{"reserved label", groupWith(func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[1].Template.Labels = map[string]string{rbgsv1.LabelRole: "prefill"}
		}), []cause{{
			"spec.roles[1].template.metadata.labels[patio.io/rbgs-role]",
			`Invalid value: "prefill": the operator sets this label to "decode" on every pod of this role and selects the pods by it: remove it from the template`,
		}}},
		{"reserved env and mount, with a cycle", groupWith(func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Dependencies = []string{"decode"}
			c := &g.Spec.Roles[1].Template.Spec.Containers[0]
			c.Env = []corev1.EnvVar{{Name: rbgsv1.EnvGroupName, Value: "mine"}}
			c.VolumeMounts = []corev1.VolumeMount{{Name: "cfg", MountPath: "/etc/rbgs/"}}
		}), []cause{
			{"spec.roles[0].dependencies[0]", `Invalid value: "decode": dependency cycle prefill -> decode -> prefill: none of these roles can start first; remove one of these dependencies`},
			{"spec.roles[1].template.spec.containers[0].env[0].name", `Invalid value: "RBGS_GROUP_NAME": the operator reserves the RBGS_ prefix for the discovery variables it sets in every container: rename the variable`},
			{"spec.roles[1].template.spec.containers[0].volumeMounts[0].mountPath", `Invalid value: "/etc/rbgs/": the operator mounts its discovery files at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container, and reserves /etc/rbgs: mount the volume elsewhere`},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			warnings, err := groupValidator{}.ValidateCreate(context.Background(), tc.g)
			if diff := cmp.Diff(tc.want, causes(t, err)); diff != "" {
				t.Errorf("refusals (-want +got):\n%s", diff)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings on create: %q", warnings)
			}
		})
	}
}

func TestGroupValidatorUpdateRatchets(t *testing.T) {
	old := groupWith(func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles[0].Template.Spec.Volumes = []corev1.Volume{{Name: rbgsv1.ClusterVolumeName}}
	})

	kept := groupWith(func(g *rbgsv1.RoleBasedGroup) {
		old.Spec.DeepCopyInto(&g.Spec)
		g.Spec.Roles[0].Replicas = new(int32(3))
	})
	warnings, err := groupValidator{}.ValidateUpdate(context.Background(), old, kept)
	if err != nil {
		t.Errorf("an unchanged volume refused: %v", err)
	}
	want := admission.Warnings{`spec.roles[0].template.spec.volumes[0].name: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts (allowed because the object already had it; a new entry like it is refused)`}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	added := kept.DeepCopy()
	added.Spec.Roles[1].Template.Spec.Volumes = []corev1.Volume{{Name: rbgsv1.ClusterVolumeName}}
	warnings, err = groupValidator{}.ValidateUpdate(context.Background(), old, added)
	wantCauses := []cause{{"spec.roles[1].template.spec.volumes[0].name",
		`Invalid value: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts`}}
	if diff := cmp.Diff(wantCauses, causes(t, err)); diff != "" {
		t.Errorf("refusals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestSetValidator(t *testing.T) {
	s := wrappers.MakeSet("s", "ns").Role("cluster", 1).Obj()
	s.Spec.GroupTemplate.Roles[0].Workload.Kind = rbgsv1.WorkloadDeployment
	s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "RBGS_"}}
	_, err := setValidator{}.ValidateCreate(context.Background(), s)
	want := []cause{
		{"spec.groupTemplate.roles[0].role", `Invalid value: "cluster": a Deployment role's discovery file is the ConfigMap key "cluster.yaml", which holds the group's live topology (/etc/rbgs/live/cluster.yaml): rename the role, or run it as a StatefulSet`},
		{"spec.groupTemplate.roles[0].template.spec.containers[0].envFrom[0].prefix", `Invalid value: "RBGS_": the operator reserves the RBGS_ prefix for the discovery variables it sets in every container: choose another prefix`},
	}
	if diff := cmp.Diff(want, causes(t, err)); diff != "" {
		t.Errorf("refusals on create (-want +got):\n%s", diff)
	}

	warnings, err := setValidator{}.ValidateUpdate(context.Background(), s, s.DeepCopy())
	if err != nil || len(warnings) != 2 {
		t.Errorf("unchanged set: error %v, warnings %q; want none and 2", err, warnings)
	}
	renamed := s.DeepCopy()
	renamed.Spec.GroupTemplate.Roles[0].Role = "router"
	if _, err := (setValidator{}).ValidateUpdate(context.Background(), s, renamed); len(causes(t, err)) != 1 {
		t.Errorf("a role renamed with the old prefix: %v, want the prefix refused", err)
	}
}
