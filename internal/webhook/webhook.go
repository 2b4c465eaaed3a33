// Package webhook refuses, at admission, the groups and sets the operator
// cannot build, for the reasons the CRD's CEL rules cannot express
// (dependency cycles, the size of a group's discovery files, labels that
// would break the operator's selectors) and with the exact roles involved.
// The checks are the reconcilers' own (internal/validation), so an object
// that got in without the webhook is refused by the reconciler the same way.
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
	return nil, invalid("RoleBasedGroup", g.Name, validation.RoleBasedGroup(g))
}

func (groupValidator) ValidateUpdate(_ context.Context, _, g *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	return nil, invalid("RoleBasedGroup", g.Name, validation.RoleBasedGroup(g))
}

func (groupValidator) ValidateDelete(context.Context, *rbgsv1.RoleBasedGroup) (admission.Warnings, error) {
	return nil, nil
}

type setValidator struct{}

func (setValidator) ValidateCreate(_ context.Context, s *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return nil, invalid("RoleBasedGroupSet", s.Name, validation.RoleBasedGroupSet(s))
}

func (setValidator) ValidateUpdate(_ context.Context, _, s *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return nil, invalid("RoleBasedGroupSet", s.Name, validation.RoleBasedGroupSet(s))
}

func (setValidator) ValidateDelete(context.Context, *rbgsv1.RoleBasedGroupSet) (admission.Warnings, error) {
	return nil, nil
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(rbgsv1.GroupVersion.WithKind(kind).GroupKind(), name, errs)
}
