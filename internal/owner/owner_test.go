package owner

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/openpatio/rbgs/test/wrappers"
)

func TestRefAndIndex(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").UID("uid-1").Obj()
	ref := Ref(g, "RoleBasedGroup")
	want := metav1.OwnerReference{APIVersion: "openpatio.io/v1alpha1", Kind: "RoleBasedGroup", Name: "g", UID: "uid-1",
		Controller: new(true), BlockOwnerDeletion: new(true)}
	if diff := cmp.Diff(want, ref); diff != "" {
		t.Errorf("owner reference (-want +got):\n%s", diff)
	}
	child := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ref}}}
	if got := IndexFunc(child); !cmp.Equal(got, []string{"uid-1"}) {
		t.Errorf("index of a child: %v", got)
	}
	foreign := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: "Deployment", Name: "x", UID: "uid-2", Controller: new(true)}}}}
	if got := IndexFunc(foreign); got != nil {
		t.Errorf("index of an object controlled by another kind: %v", got)
	}
	ref.Controller = new(false)
	if got := IndexFunc(&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{ref}}}); got != nil {
		t.Errorf("index of an object the group owns but does not control: %v", got)
	}
}
