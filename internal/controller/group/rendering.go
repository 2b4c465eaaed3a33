package group

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/revision"
)

// An upgrade of the operator may render pod templates differently for the
// same spec. Applied at once, that would restart every pod of every group
// together: the one thing a fleet must never see. So a workload records
// what its pod template was rendered from (AnnotationTemplateInputs: the
// role's spec but its replica count, and the group's identity, revision
// included); while that is unchanged and the operator would now render the
// workload differently, the live pod template is kept, and only the rest
// (replicas, labels, ...) is applied. The new rendering reaches a role with
// its next change; in a set, with the next rollout, which moves groups a
// few at a time. An edit of the template behind the operator's back, with
// the rendering unchanged, is still put back.

// templateInputs is a hash of what the pod template of role r of g is
// rendered from.
func templateInputs(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) string {
	identity := map[string]string{"group": g.Name, "namespace": g.Namespace}
	for _, k := range []string{rbgsv1.LabelSetName, rbgsv1.LabelGroupIndex, rbgsv1.LabelGroupRevision} {
		identity[k] = g.Labels[k]
	}
	h, _ := revision.Hash(struct {
		Role     *rbgsv1.RoleSpec  `json:"role"`
		Identity map[string]string `json:"identity"`
	}{revision.PodShaping(r), identity}, 10)
	return h
}

// podTemplateOf is the pod template of a workload.
func podTemplateOf(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.Deployment:
		return &w.Spec.Template
	}
	return nil
}

// keepRendering returns desired, a workload, with the pod template of live
// (from the cache, nil when absent) when the template's inputs are
// unchanged but the operator would now write something else: its
// rendering changed.
func keepRendering(desired, live client.Object, scheme *runtime.Scheme) client.Object {
	if isNil(live) || live.GetAnnotations()[rbgsv1.AnnotationTemplateInputs] != desired.GetAnnotations()[rbgsv1.AnnotationTemplateInputs] {
		return desired
	}
	d, err := apply.Prepare(desired, scheme)
	if err != nil || live.GetAnnotations()[rbgsv1.AnnotationSpecHash] == d.Hash {
		return desired
	}
	*podTemplateOf(desired) = *podTemplateOf(live).DeepCopy()
	// What the operator records of the template goes with it (see
	// observeInstance and templateFields).
	keepAnnotations(desired.GetAnnotations(), live.GetAnnotations(), rbgsv1.AnnotationTemplateHash, rbgsv1.AnnotationTemplateFields)
	return desired
}

// keepAnnotations sets keys of desired as live has them: present with
// live's value, or absent.
func keepAnnotations(desired, live map[string]string, keys ...string) {
	for _, k := range keys {
		if v, ok := live[k]; ok {
			desired[k] = v
		} else {
			delete(desired, k)
		}
	}
}

func isNil(o client.Object) bool {
	switch w := o.(type) {
	case nil:
		return true
	case *appsv1.StatefulSet:
		return w == nil
	case *appsv1.Deployment:
		return w == nil
	}
	return false
}
