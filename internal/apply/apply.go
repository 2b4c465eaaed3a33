// Package apply writes the objects the operator owns with server-side apply
// under one field owner, and skips the write when the cached object already
// holds what would be applied.
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

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
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

// Writer applies the desired children of one parent in one reconcile. It
// is safe for concurrent use; errors are collected so one failed write does
// not hold back the others.
type Writer struct {
	ctx    context.Context
	client client.Client
	scheme *runtime.Scheme
	memo   *Memo
	parent string
	intent string

	mu   sync.Mutex
	errs []error
}

// NewWriter returns a Writer for the children of parent; intent must change
// whenever any desired child would (see Memo).
func NewWriter(ctx context.Context, c client.Client, scheme *runtime.Scheme, memo *Memo, parent string, intent string) *Writer {
	return &Writer{ctx: ctx, client: c, scheme: scheme, memo: memo, parent: parent, intent: intent}
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
	body, err := json.Marshal(d.Object.Object)
	if err == nil {
		// A raw apply patch on the typed object: the response lands in
		// target, and the client's read-your-writes tracking sees a write of
		// the typed kind the reconcilers read from the cache.
		err = w.client.Patch(w.ctx, target, client.RawPatch(types.ApplyPatchType, body),
			client.FieldOwner(FieldOwner), client.ForceOwnership)
	}
	if err != nil {
		w.fail(fmt.Errorf("applying %s %s: %w", d.Object.GetKind(), d.Object.GetName(), err))
		return false
	}
	// The response is the object as stored: remember it, so the next
	// reconcile skips it once the cache shows the same.
	w.memo.Remember(w.parent, target, intent)
	return true
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
