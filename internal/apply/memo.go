package apply

import (
	"maps"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Memo remembers, per parent object, which children were last seen as the
// parent wants them, so a reconcile whose inputs did not change skips
// building, hashing and comparing their desired state: most reconciles are
// woken by status changes and have nothing to write.
//
// An entry pairs the parent's intent (a string that changes whenever the
// desired child would: the parent's UID, generation, labels, ...) with the
// child's fingerprint: its generation and metadata for kinds whose spec
// changes bump the generation, its resource version for the others. Any
// edit of the child's spec or metadata, by anyone, changes the fingerprint,
// and the child is compared in full again.
type Memo struct {
	mu       sync.Mutex
	children map[string]map[types.UID]*memoEntry
}

type memoEntry struct {
	intent      string
	fingerprint print
	// seen is a resource version known to have fingerprint: a set compares
	// every one of its groups on each reconcile, and most have not changed
	// since the last.
	seen string
}

// matches reports whether obj has e's fingerprint, remembering obj's
// resource version when it does.
func (e *memoEntry) matches(obj metav1.Object) bool {
	rv := obj.GetResourceVersion()
	if rv != "" && rv == e.seen {
		return true
	}
	if e.fingerprint != fingerprint(obj) {
		return false
	}
	e.seen = rv
	return true
}

// NewMemo returns an empty Memo.
func NewMemo() *Memo {
	return &Memo{children: map[string]map[types.UID]*memoEntry{}}
}

// Fresh reports whether live was last seen up to date for intent.
func (m *Memo) Fresh(parent string, live metav1.Object, intent string) bool {
	if live == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.children[parent][live.GetUID()]
	return ok && e.intent == intent && e.matches(live)
}

// Settled reports whether the cached obj shows this operator's last write
// of it, or this operator never wrote it: either way a read that waits for
// the cache to catch up would return obj itself.
func (m *Memo) Settled(parent string, obj metav1.Object) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.children[parent][obj.GetUID()]
	return !ok || e.matches(obj)
}

// Remember records that obj is up to date for intent.
func (m *Memo) Remember(parent string, obj metav1.Object, intent string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.children[parent]
	if c == nil {
		c = map[types.UID]*memoEntry{}
		m.children[parent] = c
	}
	c[obj.GetUID()] = &memoEntry{intent: intent, fingerprint: fingerprint(obj), seen: obj.GetResourceVersion()}
}

// Forget drops the entry of parent's child uid (a child deleted).
func (m *Memo) Forget(parent string, uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.children[parent], uid)
	if len(m.children[parent]) == 0 {
		delete(m.children, parent)
	}
}

// Retain drops the entries of parent's children not in keep (deleted
// children), or every entry of parent when keep is empty.
func (m *Memo) Retain(parent string, keep map[types.UID]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(keep) == 0 {
		delete(m.children, parent)
		return
	}
	maps.DeleteFunc(m.children[parent], func(uid types.UID, _ *memoEntry) bool { return !keep[uid] })
}

// fingerprint changes whenever obj's spec or metadata does.
func fingerprint(obj metav1.Object) print {
	if g := obj.GetGeneration(); g > 0 {
		return print{generation: g, meta: MapHash(obj.GetLabels()) ^ (MapHash(obj.GetAnnotations()) * 31)}
	}
	return print{resourceVersion: obj.GetResourceVersion()}
}

// print is a child's fingerprint: its generation and a hash of its labels
// and annotations, or its resource version for kinds without generation.
type print struct {
	generation      int64
	meta            uint64
	resourceVersion string
}

// MapHash is an order-independent hash of a string map: the sum of the
// FNV-1a hashes of its entries. It allocates nothing; it runs for every
// child and group a reconcile looks at.
func MapHash(m map[string]string) uint64 {
	var sum uint64
	for k, v := range m {
		h := fnvAdd(fnvOffset, k)
		h *= fnvPrime // a zero byte between key and value
		sum += fnvAdd(h, v)
	}
	return sum
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvAdd(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}
