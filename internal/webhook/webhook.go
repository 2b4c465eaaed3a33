// Package webhook refuses, at admission, the groups and sets the operator
// cannot build, for the reasons the CRD's CEL rules cannot express
// (unknown dependencies and dependency cycles, StatefulSet names too long,
// the size of a group's discovery files, labels that would break the
// operator's selectors), each at the exact field with its value and the fix.
// Those checks are the reconcilers' own (internal/validation), so an object
// that got in without the webhook is refused by the reconciler the same way.
//
// The webhook alone also refuses templates that would collide with the
// discovery the operator injects (validation.Collisions): a group admitted
// before that check existed keeps running, and an update keeps the entries
// it already had, with a warning.
package webhook

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/validation"
)

// +kubebuilder:webhook:path=/validate-openpatio-io-v1alpha1-rolebasedgroup,mutating=false,failurePolicy=fail,sideEffects=None,groups=openpatio.io,resources=rolebasedgroups,verbs=create;update,versions=v1alpha1,name=vrolebasedgroup.openpatio.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-openpatio-io-v1alpha1-rolebasedgroupset,mutating=false,failurePolicy=fail,sideEffects=None,groups=openpatio.io,resources=rolebasedgroupsets,verbs=create;update,versions=v1alpha1,name=vrolebasedgroupset.openpatio.io,admissionReviewVersions=v1,timeoutSeconds=5

// Setup registers both validators with the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &rbgsv1.RoleBasedGroup{}).WithValidator(groupValidator{}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &rbgsv1.RoleBasedGroupSet{}).WithValidator(setValidator{}).Complete()
}

type groupValidator struct{}

func (groupValidator) ValidateCreate(_ context.Context, g *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	return checkGroup(g, nil)
}

func (groupValidator) ValidateUpdate(_ context.Context, old, g *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	return checkGroup(g, old)
}

func (groupValidator) ValidateDelete(context.Context, *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	return nil, nil
}

func checkGroup(g, old *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	errs := validation.RoleBasedGroup(g)
	collisions, warnings := validation.GroupCollisions(g, old)
	return warnings, invalid("RoleBasedGroup", g.Name, append(errs, collisions...))
}

type setValidator struct{}

func (setValidator) ValidateCreate(_ context.Context, s *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return checkSet(s, nil)
}

func (setValidator) ValidateUpdate(_ context.Context, old, s *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return checkSet(s, old)
}

func (setValidator) ValidateDelete(context.Context, *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return nil, nil
}

func checkSet(s, old *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	errs := validation.RoleBasedGroupSet(s)
	collisions, warnings := validation.SetCollisions(s, old)
	return warnings, invalid("RoleBasedGroupSet", s.Name, append(errs, collisions...))
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(rbgsv1.GroupVersion.WithKind(kind).GroupKind(), name, errs)
}
