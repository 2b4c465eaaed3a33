// Package webhook refuses, at admission, the groups and sets the operator
// cannot build, for the reasons the CRD's CEL rules cannot express
// (unknown dependencies and dependency cycles, StatefulSet names too long,
// the size of a group's discovery files, labels that would break the
// operator's selectors), each at the exact field with its value and the fix.
// Those checks are the reconcilers' own (internal/validation), so an object
// that got in without the webhook is refused by the reconciler the same way.
//
// It also refuses RoleScalers that would fight over a role, or scale a role
// their target does not have.
//
// The webhook alone also refuses templates that would collide with the
// discovery the operator injects (validation.Collisions): a group admitted
// before that check existed keeps running, and an update keeps the entries
// it already had, with a warning.
package webhook

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/scaling"
	"github.com/openpatio/rbgs/internal/validation"
)

// +kubebuilder:webhook:path=/validate-openpatio-io-v1alpha1-rolebasedgroup,mutating=false,failurePolicy=fail,sideEffects=None,groups=openpatio.io,resources=rolebasedgroups,verbs=create;update,versions=v1alpha1,name=vrolebasedgroup.openpatio.io,admissionReviewVersions=v1,timeoutSeconds=5
// +kubebuilder:webhook:path=/validate-openpatio-io-v1alpha1-rolebasedgroupset,mutating=false,failurePolicy=fail,sideEffects=None,groups=openpatio.io,resources=rolebasedgroupsets,verbs=create;update,versions=v1alpha1,name=vrolebasedgroupset.openpatio.io,admissionReviewVersions=v1,timeoutSeconds=5

// +kubebuilder:webhook:path=/validate-openpatio-io-v1alpha1-rolescaler,mutating=false,failurePolicy=fail,sideEffects=None,groups=openpatio.io,resources=rolescalers,verbs=create,versions=v1alpha1,name=vrolescaler.openpatio.io,admissionReviewVersions=v1,timeoutSeconds=5

// Setup registers the validators with the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	if err := ctrl.NewWebhookManagedBy(mgr, &rbgsv1.RoleBasedGroup{}).WithValidator(groupValidator{}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &rbgsv1.RoleBasedGroupSet{}).WithValidator(setValidator{}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &rbgsv1.RoleScaler{}).WithValidator(scalerValidator{mgr.GetClient()}).Complete()
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
	if old != nil {
		errs = append(errs, validation.GangLayouts(g.Spec.Roles, old.Spec.Roles, field.NewPath("spec", "roles"))...)
	}
	collisions, warnings := validation.GroupCollisions(g, old)
	warnings = append(warnings, validation.DisruptionWarnings(g.Spec.Roles, field.NewPath("spec", "roles"))...)
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
	if old != nil {
		errs = append(errs, validation.GangLayouts(s.Spec.GroupTemplate.Roles, old.Spec.GroupTemplate.Roles, field.NewPath("spec", "groupTemplate", "roles"))...)
	}
	collisions, warnings := validation.SetCollisions(s, old)
	warnings = append(warnings, validation.DisruptionWarnings(s.Spec.GroupTemplate.Roles, field.NewPath("spec", "groupTemplate", "roles"))...)
	return warnings, invalid("RoleBasedGroupSet", s.Name, append(errs, collisions...))
}

func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(rbgsv1.GroupVersion.WithKind(kind).GroupKind(), name, errs)
}

// scalerValidator refuses a RoleScaler of a role that another RoleScaler
// already scales, of a role its target does not have, and of a group that
// belongs to a set. A target that does not exist yet is admitted: the
// RoleScaler's status says so until it does. targetRef and role cannot
// change (CEL), so only creation is checked.
type scalerValidator struct {
	reader client.Reader
}

func (v scalerValidator) ValidateCreate(ctx context.Context, rs *rbgsv1.RoleScaler) (admission.Warnings, error) {
	errs, err := v.check(ctx, rs)
	if err != nil {
		return nil, err
	}
	return nil, invalid("RoleScaler", rs.Name, errs)
}

func (scalerValidator) ValidateUpdate(context.Context, *rbgsv1.RoleScaler, *rbgsv1.RoleScaler) (admission.Warnings, error) {
	return nil, nil
}

func (scalerValidator) ValidateDelete(context.Context, *rbgsv1.RoleScaler) (admission.Warnings, error) {
	return nil, nil
}

func (v scalerValidator) check(ctx context.Context, rs *rbgsv1.RoleScaler) (field.ErrorList, error) {
	ref, role := rs.Spec.TargetRef, rs.Spec.Role
	spec := field.NewPath("spec")
	var others rbgsv1.RoleScalerList
	if err := v.reader.List(ctx, &others, client.InNamespace(rs.Namespace),
		client.MatchingFields{scaling.TargetIndex: scaling.TargetKey(ref.Kind, ref.Name)}); err != nil {
		return nil, err
	}
	for _, o := range others.Items {
		if o.Spec.Role == role && o.Name != rs.Name {
			return field.ErrorList{field.Invalid(spec.Child("role"), role, fmt.Sprintf(
				"RoleScaler %s already scales role %s of %s %s: scale that one, or delete it first", o.Name, role, ref.Kind, ref.Name))}, nil
		}
	}
	key := client.ObjectKey{Namespace: rs.Namespace, Name: ref.Name}
	var roles []rbgsv1.RoleSpec
	switch ref.Kind {
	case rbgsv1.TargetGroup:
		var g rbgsv1.RoleBasedGroup
		if err := v.reader.Get(ctx, key, &g); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		if set := g.Labels[rbgsv1.LabelSetName]; set != "" {
			return field.ErrorList{field.Invalid(spec.Child("targetRef"), ref.Name, fmt.Sprintf(
				"group %s belongs to set %s, whose groupTemplate sets its roles: target the set instead (kind RoleBasedGroupSet, name %s)", ref.Name, set, set))}, nil
		}
		roles = g.Spec.Roles
	default:
		var s rbgsv1.RoleBasedGroupSet
		if err := v.reader.Get(ctx, key, &s); err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		roles = s.Spec.GroupTemplate.Roles
	}
	if !slices.ContainsFunc(roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role }) {
		return field.ErrorList{field.Invalid(spec.Child("role"), role, fmt.Sprintf(
			"%s %s has no role %s (roles: %s): name one of its roles", ref.Kind, ref.Name, role, strings.Join(rbgsv1.RoleNames(roles), ", ")))}, nil
	}
	return nil, nil
}
