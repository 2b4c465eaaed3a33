package group

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
)

// podWrites remembers, per group, the pods this operator updated in place,
// as the API server returned them, until the cache shows each at least as
// new. The next reconcile may come before the cache has seen a patch: it
// then plans from the pod as patched, so it neither patches the pod again
// nor counts it as serving the old images (which would let the budget
// take one more). The group's reconciles never run side by side.
type podWrites struct {
	// byGroup maps a group's key to its patched pods, by UID.
	byGroup sync.Map
}

// overlay returns pods, the cache's pods of group key, with each pod the
// cache shows older than it was patched replaced by the patched pod. It
// forgets the pods the cache has caught up with, and those gone.
func (w *podWrites) overlay(key string, pods []corev1.Pod) []corev1.Pod {
	v, ok := w.byGroup.Load(key)
	if !ok {
		return pods
	}
	patched, behind := v.(map[types.UID]corev1.Pod), map[types.UID]corev1.Pod{}
	for i := range pods {
		p, ok := patched[pods[i].UID]
		if !ok {
			continue
		}
		if c, err := resourceversion.CompareResourceVersion(pods[i].ResourceVersion, p.ResourceVersion); err == nil && c < 0 {
			pods[i] = p
			behind[p.UID] = p
		}
	}
	if len(behind) == 0 {
		w.byGroup.Delete(key)
	} else {
		w.byGroup.Store(key, behind)
	}
	return pods
}

// remember records pods, as patched, for group key.
func (w *podWrites) remember(key string, pods []corev1.Pod) {
	if len(pods) == 0 {
		return
	}
	next := map[types.UID]corev1.Pod{}
	if v, ok := w.byGroup.Load(key); ok {
		for uid, p := range v.(map[types.UID]corev1.Pod) {
			next[uid] = p
		}
	}
	for _, p := range pods {
		next[p.UID] = p
	}
	w.byGroup.Store(key, next)
}

// forget drops what is remembered of group key.
func (w *podWrites) forget(key string) { w.byGroup.Delete(key) }
