package apply_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
)

func TestSubset(t *testing.T) {
	obj := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	list := func(v ...any) []any { return v }
	cases := []struct {
		name          string
		desired, live any
		want          bool
	}{
		{"equal scalars", int64(2), int64(2), true},
		{"changed scalar", int64(2), int64(3), false},
		{"extra keys in live", obj("a", "x"), obj("a", "x", "b", "defaulted"), true},
		{"missing key in live", obj("a", "x", "b", "y"), obj("a", "x"), false},
		{"empty map matches missing", obj("resources", obj()), obj(), true},
		{"empty list matches missing", obj("env", list()), obj(), true},
		{"objects found in order among extras", list(obj("name", "A"), obj("name", "B")),
			list(obj("name", "A"), obj("name", "X"), obj("name", "B", "extra", true)), true},
		{"object removed from list", list(obj("name", "A"), obj("name", "B")), list(obj("name", "A")), false},
		{"objects out of order", list(obj("name", "A"), obj("name", "B")), list(obj("name", "B"), obj("name", "A")), false},
		{"scalar lists must be equal", list("serve", "--port=1"), list("serve", "--port=1", "--debug"), false},
		{"equal scalar lists", list("serve"), list("serve"), true},
		{"nested change", obj("spec", obj("replicas", int64(2))), obj("spec", obj("replicas", int64(1))), false},
		{"value of another type", obj("a", obj()), obj("a", "s"), false},
		{"non-empty map vs scalar", obj("a", obj("b", "c")), obj("a", "s"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := apply.Subset(tc.desired, tc.live); got != tc.want {
				t.Errorf("Subset = %v, want %v", got, tc.want)
			}
		})
	}
}

func scheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func statefulSet(replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "g-a", Namespace: "ns", Labels: map[string]string{"k": "v"}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "main", Image: "img",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("1000m")}},
			}}}},
		},
	}
}

func TestPrepare(t *testing.T) {
	d, err := apply.Prepare(statefulSet(2), scheme(t))
	if err != nil {
		t.Fatal(err)
	}
	u := d.Object
	if u.GetAPIVersion() != "apps/v1" || u.GetKind() != "StatefulSet" {
		t.Errorf("type meta %s %s", u.GetAPIVersion(), u.GetKind())
	}
	if _, ok := u.Object["status"]; ok {
		t.Errorf("status kept in the apply body")
	}
	if _, ok := u.Object["metadata"].(map[string]any)["creationTimestamp"]; ok {
		t.Errorf("null creationTimestamp kept")
	}
	tpl := u.Object["spec"].(map[string]any)["template"].(map[string]any)["metadata"].(map[string]any)
	if _, ok := tpl["creationTimestamp"]; ok {
		t.Errorf("null creationTimestamp kept in the pod template")
	}
	if u.GetAnnotations()[rbgsv1.AnnotationSpecHash] != d.Hash || len(d.Hash) != 20 {
		t.Errorf("hash annotation %q, hash %q", u.GetAnnotations()[rbgsv1.AnnotationSpecHash], d.Hash)
	}

	again, _ := apply.Prepare(statefulSet(2), scheme(t))
	other, _ := apply.Prepare(statefulSet(3), scheme(t))
	if again.Hash != d.Hash || other.Hash == d.Hash {
		t.Errorf("hash not a function of the content: %s %s %s", d.Hash, again.Hash, other.Hash)
	}
}

// The live object as the API server returns it: defaults filled in, our hash
// annotation present, quantities canonical.
func live(t *testing.T, d apply.Desired, replicas int32) *appsv1.StatefulSet {
	s := statefulSet(replicas)
	s.Annotations = map[string]string{rbgsv1.AnnotationSpecHash: d.Hash, "deployment.kubernetes.io/other": "x"}
	s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	s.Spec.Template.Spec.Containers[0].TerminationMessagePath = "/dev/termination-log"
	s.Spec.Template.Spec.Containers[0].Resources.Limits["cpu"] = resource.MustParse("1")
	s.Status.Replicas = 2
	return s
}

func TestUpToDate(t *testing.T) {
	d, err := apply.Prepare(statefulSet(2), scheme(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		live func() *appsv1.StatefulSet
		want bool
	}{
		{"absent", func() *appsv1.StatefulSet { return nil }, false},
		{"as applied, with server defaults", func() *appsv1.StatefulSet { return live(t, d, 2) }, true},
		{"edited out of band", func() *appsv1.StatefulSet { return live(t, d, 5) }, false},
		{"our label removed", func() *appsv1.StatefulSet { s := live(t, d, 2); delete(s.Labels, "k"); return s }, false},
		{"hash of an older intent", func() *appsv1.StatefulSet {
			s := live(t, d, 2)
			s.Annotations[rbgsv1.AnnotationSpecHash] = "0000"
			return s
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := d.UpToDate(tc.live())
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("UpToDate = %v, want %v", got, tc.want)
			}
		})
	}
}

// owned is statefulSet(replicas) controlled by the group with the given UID.
func owned(replicas int32, uid types.UID) *appsv1.StatefulSet {
	s := statefulSet(replicas)
	s.OwnerReferences = []metav1.OwnerReference{{APIVersion: rbgsv1.GroupVersion.String(), Kind: "RoleBasedGroup",
		Name: "g", UID: uid, Controller: new(true)}}
	return s
}

// A child the cache does not show is created; an object of the same name
// that its parent does not control is left as it is and reported; one it
// does control (the cache is behind) is applied.
func TestWriterCreates(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		existing *appsv1.StatefulSet
		wantErr  bool
		wantRepl int32
	}{
		{"absent", nil, false, 2},
		{"someone else's", statefulSet(5), true, 5},
		{"another owner's", owned(5, "other"), true, 5},
		{"ours, not yet cached", owned(5, "uid-g"), false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(scheme(t))
			if tc.existing != nil {
				b = b.WithObjects(tc.existing)
			}
			c := b.Build()
			w := apply.NewWriter(ctx, c, c, scheme(t), apply.NewMemo(), "ns/g", "i")
			wrote := w.Write(nil, func() client.Object { return owned(2, "uid-g") })
			var conflict *apply.ConflictError
			if gotErr := errors.As(w.Err(), &conflict); gotErr != tc.wantErr || wrote == tc.wantErr {
				t.Fatalf("wrote %v, error %v; want a conflict: %v", wrote, w.Err(), tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(conflict.Error(), "StatefulSet ns/g-a already exists and is not controlled by RoleBasedGroup g") {
				t.Errorf("message %q", conflict.Error())
			}
			var got appsv1.StatefulSet
			if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "g-a"}, &got); err != nil {
				t.Fatal(err)
			}
			if *got.Spec.Replicas != tc.wantRepl {
				t.Errorf("replicas %d, want %d", *got.Spec.Replicas, tc.wantRepl)
			}
			if !tc.wantErr && got.Annotations[rbgsv1.AnnotationSpecHash] == "" {
				t.Errorf("no hash annotation: %v", got.Annotations)
			}
			if tc.wantErr && !reflect.DeepEqual(got.OwnerReferences, tc.existing.OwnerReferences) {
				t.Errorf("owner references changed to %v", got.OwnerReferences)
			}
		})
	}
}

// The cache keeps, of the managed fields, only a marker of the operator's
// own create, which an apply then replaces.
func TestStripManagedFields(t *testing.T) {
	entry := func(manager string, op metav1.ManagedFieldsOperationType, sub string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Subresource: sub, APIVersion: "apps/v1",
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}
	}
	for _, tc := range []struct {
		name    string
		entries []metav1.ManagedFieldsEntry
		created bool
	}{
		{"created by the operator", []metav1.ManagedFieldsEntry{
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, "status"),
			entry(apply.FieldOwner, metav1.ManagedFieldsOperationUpdate, "")}, true},
		{"applied since", []metav1.ManagedFieldsEntry{entry(apply.FieldOwner, metav1.ManagedFieldsOperationApply, "")}, false},
		{"status written by the operator", []metav1.ManagedFieldsEntry{entry(apply.FieldOwner, metav1.ManagedFieldsOperationUpdate, "status")}, false},
		{"someone else's update", []metav1.ManagedFieldsEntry{entry("kubectl", metav1.ManagedFieldsOperationUpdate, "")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := statefulSet(1)
			s.ManagedFields = tc.entries
			if _, err := apply.StripManagedFields(s); err != nil {
				t.Fatal(err)
			}
			if apply.Created(s) != tc.created {
				t.Errorf("Created = %v, want %v", !tc.created, tc.created)
			}
			want := 0
			if tc.created {
				want = 1
			}
			if len(s.ManagedFields) != want || (want == 1 && s.ManagedFields[0].FieldsV1 != nil) {
				t.Errorf("kept %+v", s.ManagedFields)
			}
		})
	}
}
