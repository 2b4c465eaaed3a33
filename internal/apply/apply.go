// Package apply writes the objects the operator owns under one field owner:
// it creates those that do not exist, changes the others with server-side
// apply, and skips the write when the cached object already holds what would
// be applied.
//
// An object is up to date when two things hold:
//   - its AnnotationSpecHash equals the hash of the desired object, so the
//     operator's intent has not changed since it last applied (this also
//     covers fields the operator stopped setting, which a comparison of
//     values alone cannot see), and
//   - every value the desired object sets is present and equal in the live
//     object (Subset), so nobody changed or removed them out of band.
//
// Fields set by others, and defaults filled in by the API server, are not
// the operator's concern and never cause a write.
package apply

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/status"
)

// FieldOwner is the field manager of every object the operator applies.
const FieldOwner = "rbgs-operator"

// Desired is an object ready to apply: its unstructured form, with the hash
// of its content stamped in AnnotationSpecHash.
type Desired struct {
	Object *unstructured.Unstructured
	Hash   string
}

// Prepare turns a typed object into its apply form: apiVersion and kind set,
// status and null creation timestamps removed, the hash annotation added.
func Prepare(obj client.Object, scheme *runtime.Scheme) (Desired, error) {
	gvk, err := apiutil.GVKForObject(obj, scheme)
	if err != nil {
		return Desired{}, fmt.Errorf("kind of %T: %w", obj, err)
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return Desired{}, fmt.Errorf("converting %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	delete(m, "status")
	dropNullTimestamps(m)
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(gvk)

	annotations := u.GetAnnotations()
	delete(annotations, rbgsv1.AnnotationSpecHash)
	u.SetAnnotations(annotations)
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return Desired{}, fmt.Errorf("hashing %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	sum := sha256.Sum256(raw)
	hash := hex.EncodeToString(sum[:10])

	annotations = maps.Clone(annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[rbgsv1.AnnotationSpecHash] = hash
	u.SetAnnotations(annotations)
	return Desired{Object: u, Hash: hash}, nil
}

// UpToDate reports whether live (from the cache; nil when absent) already
// holds everything d would apply.
func (d Desired) UpToDate(live client.Object) (bool, error) {
	if isNil(live) {
		return false, nil
	}
	if live.GetAnnotations()[rbgsv1.AnnotationSpecHash] != d.Hash {
		return false, nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
	if err != nil {
		return false, fmt.Errorf("converting live %s: %w", live.GetName(), err)
	}
	for k, v := range d.Object.Object {
		if k == "apiVersion" || k == "kind" {
			continue // typed objects from the cache carry no type meta
		}
		if !Subset(v, m[k]) {
			return false, nil
		}
	}
	return true, nil
}

// Subset reports whether every value set in desired is present and equal in
// live. Maps may hold more keys in live. Lists of objects match when the
// desired elements appear, in order, among the live ones (others may add
// entries to lists such as env or volumes); lists of scalars must be equal.
// Empty maps and lists in desired match a missing value.
func Subset(desired, live any) bool {
	switch d := desired.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		for k, dv := range d {
			lv, ok := l[k]
			if !ok {
				if isEmpty(dv) {
					continue
				}
				return false
			}
			if !Subset(dv, lv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok {
			return len(d) == 0 && live == nil
		}
		if len(d) > 0 && !isObject(d[0]) {
			return reflect.DeepEqual(d, l)
		}
		j := 0
		for _, de := range d {
			for j < len(l) && !Subset(de, l[j]) {
				j++
			}
			if j == len(l) {
				return false
			}
			j++
		}
		return true
	case nil:
		return true
	default:
		return reflect.DeepEqual(desired, live)
	}
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// dropNullTimestamps removes "creationTimestamp": null, which typed
// ObjectMeta serialises and the API server never returns.
func dropNullTimestamps(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case map[string]any:
			dropNullTimestamps(t)
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					dropNullTimestamps(em)
				}
			}
		}
	}
}

// Writer writes the desired children of one parent in one reconcile. It is
// safe for concurrent use; errors are collected so one failed write does not
// hold back the others.
//
// A child the cache does not show is created, not applied: a create fails
// when an object of that name exists, so the operator never takes over an
// object it did not make (see ConflictError), and it costs the API server
// less than an apply. A create records its fields under an Update entry of
// FieldOwner in the object's managed fields; before the object's first
// apply, that entry is turned into the apply entry (see ownCreatedFields),
// so applies remove what the operator stops setting.
type Writer struct {
	ctx    context.Context
	client client.Client
	reader client.Reader
	scheme *runtime.Scheme
	memo   *Memo
	parent string
	intent string

	mu   sync.Mutex
	errs []error
}

// NewWriter returns a Writer for the children of parent; intent must change
// whenever any desired child would (see Memo). c writes and reads from the
// cache; reader reads from the API server, for the checks the cache cannot
// answer.
func NewWriter(ctx context.Context, c client.Client, reader client.Reader, scheme *runtime.Scheme, memo *Memo, parent string, intent string) *Writer {
	return &Writer{ctx: ctx, client: c, reader: reader, scheme: scheme, memo: memo, parent: parent, intent: intent}
}

// Write makes the child live (from the cache, nil when absent) what build
// returns, unless the memo or a comparison shows it already is. build runs
// only when needed. It reports whether it wrote.
func (w *Writer) Write(live client.Object, build func() client.Object) bool {
	return w.WriteFor(w.intent, live, build)
}

// WriteFor is Write for a child whose desired state depends on more than
// the parent's intent.
func (w *Writer) WriteFor(intent string, live client.Object, build func() client.Object) bool {
	if isNil(live) {
		live = nil
	} else if w.memo.Fresh(w.parent, live, intent) {
		return false
	}
	target := build()
	d, err := Prepare(target, w.scheme)
	if err != nil {
		w.fail(err)
		return false
	}
	if ok, err := d.UpToDate(live); err != nil || ok {
		if ok {
			w.memo.Remember(w.parent, live, intent)
		}
		w.fail(err)
		return false
	}
	if live == nil {
		err = w.create(target, d)
	} else {
		err = w.apply(target, live, d)
	}
	if err != nil {
		if _, ok := errors.AsType[*ConflictError](err); !ok {
			err = fmt.Errorf("writing %s %s: %w", d.Object.GetKind(), d.Object.GetName(), err)
		}
		w.fail(err)
		return false
	}
	// The response is the object as stored: remember it, so the next
	// reconcile skips it once the cache shows the same.
	w.memo.Remember(w.parent, target, intent)
	return true
}

// create creates target. When an object of that name exists, it is either
// one this operator created and the cache does not show yet, which is then
// applied, or someone else's, which is left alone.
func (w *Writer) create(target client.Object, d Desired) error {
	target.SetAnnotations(d.Object.GetAnnotations())
	err := w.client.Create(w.ctx, target, client.FieldOwner(FieldOwner))
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing, err := w.read(target, d.Object.GroupVersionKind())
	if err != nil {
		return err
	}
	owner, ref := metav1.GetControllerOf(target), metav1.GetControllerOf(existing)
	if owner == nil || ref == nil || ref.UID != owner.UID {
		return &ConflictError{Kind: d.Object.GetKind(), Key: client.ObjectKeyFromObject(target), Owner: owner}
	}
	if err := w.ownCreatedFields(existing); err != nil {
		return err
	}
	return w.patch(target, d)
}

// apply applies d to the existing child live, first moving the fields of
// the child's create to the apply entry if the cache shows it has not been
// applied since.
func (w *Writer) apply(target client.Object, live client.Object, d Desired) error {
	if Created(live) {
		existing, err := w.read(live, d.Object.GroupVersionKind())
		if err != nil {
			return err
		}
		if err := w.ownCreatedFields(existing); err != nil {
			return err
		}
	}
	return w.patch(target, d)
}

// patch sends d as a server-side apply.
func (w *Writer) patch(target client.Object, d Desired) error {
	body, err := json.Marshal(d.Object.Object)
	if err != nil {
		return err
	}
	// A raw apply patch on the typed object: the response lands in target,
	// and the client's read-your-writes tracking sees a write of the typed
	// kind the reconcilers read from the cache.
	return w.client.Patch(w.ctx, target, client.RawPatch(types.ApplyPatchType, body),
		client.FieldOwner(FieldOwner), client.ForceOwnership)
}

// read returns the metadata of obj, managed fields included, from the API
// server.
func (w *Writer) read(obj client.Object, gvk schema.GroupVersionKind) (*metav1.PartialObjectMetadata, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(gvk)
	if err := w.reader.Get(w.ctx, client.ObjectKeyFromObject(obj), m); err != nil {
		return nil, err
	}
	return m, nil
}

// ownCreatedFields turns the managed-fields entry of the operator's create
// into its apply entry, so the next apply owns every field the create set,
// and removes those it no longer sets. Without this, the create's entry
// would keep them. The patch fails if obj changed since it was read.
func (w *Writer) ownCreatedFields(obj *metav1.PartialObjectMetadata) error {
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(obj, sets.New(FieldOwner), FieldOwner)
	if err != nil || patch == nil {
		return err
	}
	return w.client.Patch(w.ctx, obj, client.RawPatch(types.JSONPatchType, patch))
}

// ConflictError: an object the operator would create exists and is not
// controlled by the object that wants it. The operator leaves it alone.
type ConflictError struct {
	Kind  string
	Key   client.ObjectKey
	Owner *metav1.OwnerReference
}

func (e *ConflictError) Error() string {
	owner, kind := "the operator", "owner"
	if e.Owner != nil {
		owner, kind = e.Owner.Kind+" "+e.Owner.Name, e.Owner.Kind
	}
	return fmt.Sprintf("%s %s already exists and is not controlled by %s, which does not take over objects it did not create: "+
		"delete or rename that %s, or give the %s another name", e.Kind, e.Key, owner, e.Kind, kind)
}

// ReasonNameConflict is the reason of the conditions and events that tell
// of a ConflictError.
const ReasonNameConflict = "NameConflict"

// SetConditions turns the Ready and Progressing conditions in conds False,
// with the conflict as their reason and message: nothing progresses until
// the name is free.
func (e *ConflictError) SetConditions(conds *[]metav1.Condition, generation int64, now metav1.Time) {
	status.SetNotReady(conds, ReasonNameConflict, e.Error(), generation, now)
}

// Created reports whether obj (from the cache, see StripManagedFields) was
// created by this operator and not applied since.
func Created(obj metav1.Object) bool {
	for _, e := range obj.GetManagedFields() {
		if isCreateEntry(e) {
			return true
		}
	}
	return false
}

func isCreateEntry(e metav1.ManagedFieldsEntry) bool {
	return e.Manager == FieldOwner && e.Operation == metav1.ManagedFieldsOperationUpdate && e.Subresource == ""
}

// StripManagedFields is a cache transform: it drops the managed fields of
// cached objects, which are large and which the operator does not read,
// except a marker of the operator's own create entry (see Created).
func StripManagedFields(obj any) (any, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return obj, nil
	}
	var kept []metav1.ManagedFieldsEntry
	for _, e := range o.GetManagedFields() {
		if isCreateEntry(e) {
			kept = []metav1.ManagedFieldsEntry{{Manager: e.Manager, Operation: e.Operation}}
			break
		}
	}
	o.SetManagedFields(kept)
	return obj, nil
}

func (w *Writer) fail(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	w.errs = append(w.errs, err)
	w.mu.Unlock()
}

// Err joins the errors of every write so far.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// Parallel runs f(0) ... f(n-1), at most limit at a time, and waits for all.
func Parallel(limit, n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

func isNil(o client.Object) bool {
	return o == nil || reflect.ValueOf(o).IsNil()
}
