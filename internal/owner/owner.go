// Package owner ties the objects the operator creates to the object that
// controls them: a set to its groups, a group to its workloads, Services
// and ConfigMaps. The garbage collector deletes them with their owner, and
// an index finds them by their owner without scanning a namespace.
package owner

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Index indexes objects by the UID of the RoleBasedGroupSet or
// RoleBasedGroup that controls them.
const Index = "rbgs.controller.uid"

// IndexFunc is the Index function.
func IndexFunc(o client.Object) []string {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.APIVersion != rbgsv1.GroupVersion.String() {
		return nil
	}
	return []string{string(ref.UID)}
}

// AddIndex registers Index for each kind of objs.
func AddIndex(ctx context.Context, mgr ctrl.Manager, objs ...client.Object) error {
	for _, o := range objs {
		if err := mgr.GetFieldIndexer().IndexField(ctx, o, Index, IndexFunc); err != nil {
			return fmt.Errorf("indexing %T by owner: %w", o, err)
		}
	}
	return nil
}

// Of lists options that select, in the parent's namespace, the objects it
// controls.
func Of(parent client.Object) []client.ListOption {
	return []client.ListOption{client.InNamespace(parent.GetNamespace()), client.MatchingFields{Index: string(parent.GetUID())}}
}

// Ref makes parent, of kind (RoleBasedGroupSet or RoleBasedGroup), the
// controlling owner of an object: the garbage collector deletes the object
// with parent, after it (blockOwnerDeletion) under foreground deletion.
func Ref(parent client.Object, kind string) metav1.OwnerReference {
	return *metav1.NewControllerRef(parent, rbgsv1.GroupVersion.WithKind(kind))
}
