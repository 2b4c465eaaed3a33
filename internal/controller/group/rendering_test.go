package group

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

func TestTemplateInputs(t *testing.T) {
	base := func() *rbgsv1.RoleBasedGroup { return seedGroup() }
	g := base()
	want := templateInputs(g, &g.Spec.Roles[0])
	for _, tc := range []struct {
		name    string
		change  func(g *rbgsv1.RoleBasedGroup)
		differs bool
	}{
		{"replicas", func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(7)) }, false},
		{"restart settings of the group", func(g *rbgsv1.RoleBasedGroup) { g.Spec.RestartPolicy = rbgsv1.RestartRecreateGroup }, false},
		{"another role", func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[1].Template.Spec.Containers[0].Image = "other" }, false},
		{"an unrelated label", func(g *rbgsv1.RoleBasedGroup) { g.Labels["team"] = "a" }, false},
		{"the image", func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Template.Spec.Containers[0].Image = "other" }, true},
		{"the set's revision", func(g *rbgsv1.RoleBasedGroup) { g.Labels[rbgsv1.LabelGroupRevision] = "r2" }, true},
		{"the workload kind", func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Workload.Kind = rbgsv1.WorkloadDeployment }, true},
	} {
		g := base()
		tc.change(g)
		if got := templateInputs(g, &g.Spec.Roles[0]); (got != want) != tc.differs {
			t.Errorf("%s: inputs changed %v, want %v", tc.name, got != want, tc.differs)
		}
	}
}

// An upgrade that renders an unchanged role differently keeps the live
// pod template; anything else gets the fresh rendering.
func TestKeepRendering(t *testing.T) {
	scheme := wrappers.Scheme()
	g := seedGroup()
	role := &g.Spec.Roles[0]
	fresh := func() client.Object { return desiredStatefulSet(g, role) }
	applied := func() *appsv1.StatefulSet {
		// As the operator wrote it, with the API server's defaults.
		s := desiredStatefulSet(g, role)
		d, err := apply.Prepare(s, scheme)
		if err != nil {
			t.Fatal(err)
		}
		s.Annotations[rbgsv1.AnnotationSpecHash] = d.Hash
		s.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
		return s
	}
	template := func(o client.Object) corev1.PodTemplateSpec { return *podTemplateOf(o) }

	// An older operator rendered it with an extra variable.
	older := applied()
	older.Annotations[rbgsv1.AnnotationSpecHash] = "older"
	older.Spec.Template.Spec.Containers[0].Env = append(older.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "OLD", Value: "1"})
	// Someone edited the template behind the operator's back.
	edited := applied()
	edited.Spec.Template.Spec.Containers[0].Image = "edited"
	// The user changed the role since.
	changedRole := older.DeepCopy()
	changedRole.Annotations[rbgsv1.AnnotationTemplateInputs] = "before"

	for _, tc := range []struct {
		name string
		live client.Object
		want corev1.PodTemplateSpec
	}{
		{"absent", (*appsv1.StatefulSet)(nil), template(fresh())},
		{"rendered by an older operator, role unchanged", older, template(older)},
		{"edited behind the operator's back", edited, template(fresh())},
		{"role changed since", changedRole, template(fresh())},
	} {
		got := keepRendering(fresh(), tc.live, scheme)
		if diff := cmp.Diff(tc.want, template(got)); diff != "" {
			t.Errorf("%s: template (-want +got):\n%s", tc.name, diff)
		}
	}
	// Only the template is held: a new replica count is applied.
	role.Replicas = new(int32(5))
	got := keepRendering(fresh(), older, scheme)
	if s := got.(*appsv1.StatefulSet); *s.Spec.Replicas != 5 {
		t.Errorf("replicas %d", *s.Spec.Replicas)
	}
}

// An instance whose template is held keeps the hash of the template it
// runs, so a later change of the role that leaves the new rendering's
// template alone still replaces it rather than leaving old pods beside new.
func TestKeepRenderingKeepsAnInstancesTemplateHash(t *testing.T) {
	g := multiPodGroup()
	r := &g.Spec.Roles[1]
	role := topology.Resolve(g).Role("decode")
	older := desiredInstance(g, r, role, &role.Instances[0], 4)
	older.Annotations[rbgsv1.AnnotationSpecHash] = "older"
	older.Annotations[rbgsv1.AnnotationTemplateHash] = "older-template"
	got := keepRendering(desiredInstance(g, r, role, &role.Instances[0], 4), older, wrappers.Scheme())
	if h := got.GetAnnotations()[rbgsv1.AnnotationTemplateHash]; h != "older-template" {
		t.Errorf("template hash %q", h)
	}
}
