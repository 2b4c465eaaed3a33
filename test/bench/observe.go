package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// tracker counts, per namespace, the Ready pods by image and group, the
// groups whose pods are all Ready, and the StatefulSets, from informers:
// waiting on it costs no API requests.
type tracker struct {
	mu       sync.Mutex
	readyPod map[string]map[string]readyPod // namespace -> Ready pod
	// whole counts, by namespace, the groups with podsEach Ready pods (none
	// terminating), of groupReady: the Ready pods by namespace and group;
	// leastWhole is the fewest seen since startWhole, by namespace.
	groupReady map[string]map[string]int
	whole      map[string]int
	leastWhole map[string]int
	live       map[string]struct{} // namespace/name of every pod
	pods       map[string]int      // namespace -> pods
	sts        map[string]int      // namespace -> StatefulSets
	lastPod    time.Time           // last time a pod turned Ready
	lastSts    time.Time           // last time a StatefulSet turned Ready
	onStsRdy   func(*appsv1.StatefulSet)
	seen       map[string]time.Time // namespace/name of a StatefulSet -> first seen
	ready      map[string]time.Time // namespace/name of a StatefulSet -> first seen Ready
}

func newTracker(ctx context.Context, cs kubernetes.Interface, onStatefulSet func(*appsv1.StatefulSet)) (*tracker, error) {
	t := emptyTracker()
	t.onStsRdy = onStatefulSet
	f := informers.NewSharedInformerFactory(cs, 0)
	podInf := f.Core().V1().Pods().Informer()
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.pod(o.(*corev1.Pod), false) },
		UpdateFunc: func(_, o any) { t.pod(o.(*corev1.Pod), false) },
		DeleteFunc: func(o any) {
			if p, ok := o.(*corev1.Pod); ok {
				t.pod(p, true)
			} else if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if p, ok := d.Obj.(*corev1.Pod); ok {
					t.pod(p, true)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	stsInf := f.Apps().V1().StatefulSets().Informer()
	if _, err := stsInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { t.statefulSet(o.(*appsv1.StatefulSet), 1) },
		UpdateFunc: func(_, o any) { t.statefulSet(o.(*appsv1.StatefulSet), 0) },
		DeleteFunc: func(o any) {
			if s, ok := o.(*appsv1.StatefulSet); ok {
				t.statefulSet(s, -1)
			} else if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				if s, ok := d.Obj.(*appsv1.StatefulSet); ok {
					t.statefulSet(s, -1)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("informer for %v did not sync", typ)
		}
	}
	return t, nil
}

// emptyTracker is a tracker that has seen nothing.
func emptyTracker() *tracker {
	return &tracker{
		readyPod: map[string]map[string]readyPod{}, live: map[string]struct{}{}, pods: map[string]int{}, sts: map[string]int{},
		groupReady: map[string]map[string]int{}, whole: map[string]int{}, leastWhole: map[string]int{},
		seen: map[string]time.Time{}, ready: map[string]time.Time{},
	}
}

func (t *tracker) pod(p *corev1.Pod, deleted bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := p.Namespace + "/" + p.Name
	_, wasLive := t.live[key]
	switch {
	case deleted && wasLive:
		delete(t.live, key)
		t.pods[p.Namespace]--
	case !deleted && !wasLive:
		t.live[key] = struct{}{}
		t.pods[p.Namespace]++
	}
	ns := t.readyPod[p.Namespace]
	if ns == nil {
		ns = map[string]readyPod{}
		t.readyPod[p.Namespace] = ns
	}
	_, wasReady := ns[p.Name]
	ready := !deleted && p.DeletionTimestamp == nil && podReady(p)
	if ready {
		ns[p.Name] = readyPod{image: p.Spec.Containers[0].Image, group: p.Labels[rbgsv1.LabelGroupName]}
		if !wasReady {
			t.lastPod = time.Now()
		}
	} else {
		delete(ns, p.Name)
	}
	if g := p.Labels[rbgsv1.LabelGroupName]; g != "" && ready != wasReady {
		t.groupPodReady(p.Namespace, g, ready)
	}
}

// readyPod is what the tracker keeps of a Ready pod.
type readyPod struct{ image, group string }

// groupPodReady counts a pod of group g in ns turning Ready (or not).
func (t *tracker) groupPodReady(ns, g string, ready bool) {
	counts := t.groupReady[ns]
	if counts == nil {
		counts = map[string]int{}
		t.groupReady[ns] = counts
	}
	before := counts[g] >= podsEach
	if ready {
		counts[g]++
	} else {
		counts[g]--
	}
	switch after := counts[g] >= podsEach; {
	case after && !before:
		t.whole[ns]++
	case before && !after:
		t.whole[ns]--
		if least, ok := t.leastWhole[ns]; ok && t.whole[ns] < least {
			t.leastWhole[ns] = t.whole[ns]
		}
	}
}

// startWhole starts recording the fewest whole groups of ns.
func (t *tracker) startWhole(ns string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leastWhole[ns] = t.whole[ns]
}

// leastWholeOf is the fewest whole groups of ns seen since startWhole.
func (t *tracker) leastWholeOf(ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leastWhole[ns]
}

// readyByGroup counts the Ready pods of ns running image ("" for any), by
// group.
func (t *tracker) readyByGroup(ns, image string) map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for _, p := range t.readyPod[ns] {
		if image == "" || p.image == image {
			out[p.group]++
		}
	}
	return out
}

// livePods counts the pods of ns, terminating ones included.
func (t *tracker) livePods(ns string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pods[ns]
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (t *tracker) statefulSet(s *appsv1.StatefulSet, delta int) {
	ready := delta >= 0 && s.Spec.Replicas != nil &&
		s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas == *s.Spec.Replicas
	key := s.Namespace + "/" + s.Name
	now := time.Now()
	t.mu.Lock()
	t.sts[s.Namespace] += delta
	if _, ok := t.seen[key]; !ok && delta >= 0 {
		t.seen[key] = now
	}
	if _, ok := t.ready[key]; !ok && ready {
		t.ready[key] = now
		t.lastSts = now
	}
	t.mu.Unlock()
	if ready && t.onStsRdy != nil {
		t.onStsRdy(s)
	}
}

// stages averages, over the groups of a namespace, the time from start to
// the prefill StatefulSet's creation, from there to prefill Ready, from
// prefill Ready to the decode StatefulSet's creation (the reaction of
// whoever orders startup), and from there to decode Ready.
func (t *tracker) stages(ns string, start time.Time) [4]float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var sum [4]float64
	n := 0
	for key, prefillSeen := range t.seen {
		// Of instances, the first stands for its role.
		suffix := ""
		if instanceSize > 1 {
			suffix = "-0"
		}
		group, ok := strings.CutSuffix(key, "-prefill"+suffix)
		if !ok || !strings.HasPrefix(key, ns+"/") || prefillSeen.Before(start) {
			continue
		}
		decode := group + "-decode" + suffix
		pr, dSeen, dr := t.ready[key], t.seen[decode], t.ready[decode]
		if pr.IsZero() || dSeen.IsZero() || dr.IsZero() {
			continue
		}
		n++
		sum[0] += prefillSeen.Sub(start).Seconds()
		sum[1] += pr.Sub(prefillSeen).Seconds()
		sum[2] += dSeen.Sub(pr).Seconds()
		sum[3] += dr.Sub(dSeen).Seconds()
	}
	if n > 0 {
		for i := range sum {
			sum[i] /= float64(n)
		}
	}
	return sum
}

// readyPods counts the Ready pods of a namespace running image ("" for any).
func (t *tracker) readyPods(ns, image string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, p := range t.readyPod[ns] {
		if image == "" || p.image == image {
			n++
		}
	}
	return n
}

// empty reports whether a namespace has no pods and no StatefulSets left.
func (t *tracker) empty(ns string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pods[ns] == 0 && t.sts[ns] == 0
}

// lastReady returns when a pod, and when a StatefulSet, last turned Ready.
func (t *tracker) lastReady() (pod, statefulSet time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastPod, t.lastSts
}

// waitFor polls cond (in memory) until it holds or timeout passes.
func waitFor(what string, timeout time.Duration, cond func() bool) (time.Duration, error) {
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			return time.Since(start), fmt.Errorf("%s: not done after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), nil
}
