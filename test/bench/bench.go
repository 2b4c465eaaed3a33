package main

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/test/audit"
	"github.com/openpatio/rbgs/test/wrappers"
)

const (
	setName = "bench"
	imageV2 = "registry.example.com/llm-server:v2"
	imageV3 = "registry.example.com/llm-server:v3"
	workers = 64
)

// The shape of every group, which run sets for each of -instance-sizes:
// prefill 2 and decode 2 instances of instanceSize pods each.
var (
	instanceSize int32 = 1
	podsEach           = 4 * int(instanceSize)
)

type bench struct {
	config
	k8s     client.Client
	watcher client.WithWatch
	audit   *audit.Log
	track   *tracker
	prof    *profiler // nil unless profiles are asked for
	api     rest.Interface

	// ordered floor in progress: namespace, decode objects per group, started
	mu        sync.Mutex
	orderedNS string
	decode    map[string][]client.Object
	started   map[string]bool
	// readyPrefill: of groups of instances, the prefill StatefulSets Ready.
	readyPrefill map[string]map[string]bool
	work         chan []client.Object
}

// phase is one measured step.
type phase struct {
	Seconds float64 `json:"seconds"`
}

// operatorPhase is a step of the operator with its server-side request counts.
type operatorPhase struct {
	Seconds float64      `json:"seconds"`
	Counts  audit.Counts `json:"counts"`
}

type sizeResult struct {
	Groups int `json:"groups"`
	Pods   int `json:"pods"`
	// InstanceSize is the pods of each instance (1 when absent).
	InstanceSize int32 `json:"instanceSize,omitempty"`
	// Variant names the operator's flags (OperatorArgs) when a size runs
	// more than one operator after the same floors.
	Variant      string   `json:"variant,omitempty"`
	OperatorArgs []string `json:"operatorArgs,omitempty"`

	// Stages average, per group: start to prefill created, prefill created
	// to Ready, prefill Ready to decode created, decode created to Ready.
	FloorStages    [4]float64 `json:"floorOrderedStages"`
	OperatorStages [4]float64 `json:"operatorStages"`

	// Control plane CPU seconds, by process, during the ordered floor and
	// the operator's creation.
	FloorControlPlaneCPU    map[string]float64 `json:"floorOrderedControlPlaneCPU"`
	OperatorControlPlaneCPU map[string]float64 `json:"operatorControlPlaneCPU"`
	// The API server's counters over the same two phases (see apiCounters).
	FloorAPICounters    apiCounters `json:"floorOrderedAPICounters"`
	OperatorAPICounters apiCounters `json:"operatorAPICounters"`

	// By the server's clock (see serverclock.go): the floors' pods Ready
	// from their first object, the set's pods Ready and the set Ready
	// from its creation.
	FloorAllAtOnceServer float64 `json:"floorAllAtOnceServerSeconds"`
	FloorOrderedServer   float64 `json:"floorOrderedServerSeconds"`
	PodsReadyServer      float64 `json:"podsReadyServerSeconds"`
	SetReadyServer       float64 `json:"setReadyServerSeconds"`

	FloorAllAtOnce phase `json:"floorAllAtOnce"`
	FloorOrdered   phase `json:"floorOrdered"`
	FloorScaleUp   phase `json:"floorScaleUp"`
	FloorRollout   phase `json:"floorRollout"`
	FloorDeletion  phase `json:"floorDeletion"`

	PodsReady         operatorPhase `json:"podsReady"`
	SetReadySeconds   float64       `json:"setReadySeconds"`
	SetReadyAfterPods float64       `json:"setReadyAfterLastPodSeconds"`
	// SetReadyAfterStatefulSets splits SetReadyAfterPods: the part after
	// kube-controller-manager reported the last StatefulSet Ready.
	SetReadyAfterStatefulSets float64 `json:"setReadyAfterLastStatefulSetSeconds"`
	CreateCPUSeconds          float64 `json:"createCPUSeconds"`
	CreatePeakRSSMiB          float64 `json:"createPeakRSSMiB"`
	// IdleCPUSeconds and IdleRSSMiB are the operator's CPU and peak RSS
	// before the set was created (start-up, caches synced on an empty
	// namespace): what the creation figures above add to is theirs.
	IdleCPUSeconds      float64       `json:"idleCPUSeconds"`
	IdleRSSMiB          float64       `json:"idleRSSMiB"`
	Objects             int           `json:"objects"`
	NoChange            operatorPhase `json:"noChange"`
	Restart             operatorPhase `json:"restart"`
	RestartPodsReplaced int           `json:"restartPodsReplaced"`
	ScaleUp             operatorPhase `json:"scaleUp"`
	Rollout             operatorPhase `json:"rollout"`
	Deletion            operatorPhase `json:"deletion"`
	CPUSeconds          float64       `json:"cpuSeconds"`
	PeakRSSMiB          float64       `json:"peakRSSMiB"`
}

// countersSince returns how much the API server's counters grew since
// before.
func (b *bench) countersSince(ctx context.Context, before apiCounters) (apiCounters, error) {
	now, err := readAPICounters(ctx, b.api)
	if err != nil {
		return nil, err
	}
	return now.since(before), nil
}

func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

// template is the set every size runs: the seed example.
func template(ns string, n int) *rbgsv1.RoleBasedGroupSet {
	s := wrappers.MakeSet(setName, ns).Replicas(int32(n)).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	if instanceSize > 1 {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Size = new(instanceSize)
		}
	}
	return s
}

// objectsEach counts the objects of one group: the group and what the
// operator makes for it.
func objectsEach() int {
	first, decode := floorObjects("ns", 0, 1)
	n := 1
	for _, objs := range first {
		n += len(objs)
	}
	for _, objs := range decode {
		n += len(objs)
	}
	return n
}

// setGroup is group i of set s as the operator names and labels it, without
// owner.
func setGroup(s *rbgsv1.RoleBasedGroupSet, i int) *rbgsv1.RoleBasedGroup {
	return &rbgsv1.RoleBasedGroup{
		ObjectMeta: metav1.ObjectMeta{Name: naming.Group(s.Name, int32(i)), Namespace: s.Namespace, Labels: map[string]string{
			rbgsv1.LabelSetName: s.Name, rbgsv1.LabelGroupIndex: fmt.Sprint(i),
		}},
		Spec: rbgsv1.RoleBasedGroupSpec{StartupPolicy: s.Spec.StartupPolicy, GroupTemplate: s.Spec.GroupTemplate},
	}
}

// floorObjects renders the children of groups [from, to) of the set in ns
// exactly as the operator would, without owner (no group exists).
func floorObjects(ns string, from, to int) (first, decode map[string][]client.Object) {
	s := template(ns, to)
	first, decode = map[string][]client.Object{}, map[string][]client.Object{}
	for i := from; i < to; i++ {
		g := setGroup(s, i)
		o := group.Render(g)
		strip := func(objs []client.Object) []client.Object {
			for _, obj := range objs {
				obj.SetOwnerReferences(nil)
			}
			return objs
		}
		first[g.Name] = strip(append(o.ConfigMaps, o.Roles["prefill"]...))
		decode[g.Name] = strip(o.Roles["decode"])
	}
	return first, decode
}

// create creates the batches of objects on a pool of workers, each batch in
// order, and returns the first error.
func (b *bench) create(ctx context.Context, batches map[string][]client.Object) error {
	all := slices.Collect(maps.Values(batches))
	return parallel(workers, len(all), func(i int) error {
		var first error
		for _, o := range all[i] {
			if err := b.k8s.Create(ctx, o); err != nil && first == nil {
				first = err
			}
		}
		return first
	})
}

// parallel runs f(0) ... f(n-1) on a pool of workers and returns the first
// error.
func parallel(workers, n int, f func(int) error) error {
	ch := make(chan int)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range ch {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		ch <- i
	}
	close(ch)
	wg.Wait()
	return first
}

func (b *bench) namespace(ctx context.Context, name string) error {
	return client.IgnoreAlreadyExists(b.k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

// deleteAll deletes the workloads, Services and ConfigMaps of a namespace
// and waits until its pods are gone.
func (b *bench) deleteAll(ctx context.Context, ns string) (time.Duration, error) {
	start := time.Now()
	opts := []client.DeleteAllOfOption{client.InNamespace(ns), client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.MatchingLabels{rbgsv1.LabelSetName: setName}}
	for _, o := range []client.Object{&appsv1.StatefulSet{}, &corev1.Service{}, &corev1.ConfigMap{}} {
		// A collection of thousands may outlast one request: retry, the
		// deletion is idempotent.
		var err error
		for range 5 {
			if err = b.k8s.DeleteAllOf(ctx, o, opts...); err == nil {
				break
			}
			logf("deleting %T in %s: %v; retrying", o, ns, err)
			time.Sleep(2 * time.Second)
		}
		if err != nil {
			return 0, err
		}
	}
	_, err := waitFor("floor deletion in "+ns, b.timeout, func() bool { return b.track.empty(ns) })
	return time.Since(start), err
}

// statefulSetReady starts the decode role of a group of the ordered floor
// once its prefill is Ready: its StatefulSet, or every StatefulSet of its
// instances.
func (b *bench) statefulSetReady(s *appsv1.StatefulSet) {
	g, ok := strings.CutSuffix(s.Name, "-prefill")
	if instanceSize > 1 {
		i := strings.LastIndex(s.Name, "-prefill-")
		ok = i > 0
		g = s.Name[:max(i, 0)]
	}
	if !ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.Namespace != b.orderedNS || b.started[g] || b.decode[g] == nil {
		return
	}
	if instanceSize > 1 {
		if b.readyPrefill[g] == nil {
			b.readyPrefill[g] = map[string]bool{}
		}
		b.readyPrefill[g][s.Name] = true
		if len(b.readyPrefill[g]) < 2 {
			return
		}
	}
	b.started[g] = true
	objs := b.decode[g]
	go func() { b.work <- objs }()
}

// ordered creates groups [from, to) in dependency order: each group's
// decode role only once its prefill StatefulSet is Ready. It returns when
// every pod of the namespace is Ready.
func (b *bench) ordered(ctx context.Context, ns string, from, to int) (time.Duration, error) {
	first, decode := floorObjects(ns, from, to)
	b.mu.Lock()
	b.orderedNS, b.decode, b.started, b.work = ns, decode, map[string]bool{}, make(chan []client.Object)
	b.readyPrefill = map[string]map[string]bool{}
	work := b.work
	b.mu.Unlock()
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case objs := <-work:
					for _, o := range objs {
						if err := b.k8s.Create(ctx, o); err != nil {
							logf("ordered floor: %v", err)
						}
					}
				case <-stop:
					return
				}
			}
		})
	}
	if err := b.create(ctx, first); err != nil {
		close(stop)
		return 0, err
	}
	want := to * podsEach
	_, err := waitFor("ordered floor", b.timeout, func() bool { return b.track.readyPods(ns, "") == want })
	close(stop)
	wg.Wait()
	return time.Since(start), err
}

// size measures n groups: the floors, then each variant of the operator.
func (b *bench) size(ctx context.Context, n int) ([]sizeResult, error) {
	r := sizeResult{Groups: n, Pods: podsEach * n, InstanceSize: instanceSize}
	if b.floor {
		if err := b.floors(ctx, n, &r); err != nil {
			return nil, err
		}
	}
	var out []sizeResult
	for _, v := range b.variants {
		rv := r
		rv.Variant, rv.OperatorArgs = v.name, v.args
		if v.name != "" {
			logf("--- operator %s: %s", v.name, strings.Join(v.args, " "))
		}
		err := b.operatorRun(ctx, n, v, &rv)
		out = append(out, rv)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// floors measures the floors of n groups into r: all at once, in
// dependency order, then the ordered floor's scale-up, rollout and
// deletion.
func (b *bench) floors(ctx context.Context, n int, r *sizeResult) error {
	if err := b.floorAllAtOnce(ctx, n, r); err != nil {
		return err
	}
	return b.floorOrdered(ctx, n, r)
}

// floorAllAtOnce measures into r the creation of n groups' objects all at
// once, by the watch and by the server's clock.
func (b *bench) floorAllAtOnce(ctx context.Context, n int, r *sizeResult) error {
	ns := fmt.Sprintf("floor-all-%d", n)
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	first, decode := floorObjects(ns, 0, n)
	for g, objs := range decode {
		first[g] = append(first[g], objs...)
	}
	start := time.Now()
	if err := b.create(ctx, first); err != nil {
		return err
	}
	if _, err := waitFor("floor all at once", b.timeout, func() bool { return b.track.readyPods(ns, "") == n*podsEach }); err != nil {
		return err
	}
	r.FloorAllAtOnce.Seconds = seconds(time.Since(start))
	var err error
	if r.FloorAllAtOnceServer, err = b.serverFloor(ctx, ns, n*podsEach); err != nil {
		return err
	}
	logf("floor, all at once: %.1f s (server clock %.0f s)", r.FloorAllAtOnce.Seconds, r.FloorAllAtOnceServer)
	_, err = b.deleteAll(ctx, ns)
	return err
}

// floorOrdered measures into r the creation of n groups' objects in
// dependency order, then a scale-up by half, the rollout and the deletion.
func (b *bench) floorOrdered(ctx context.Context, n int, r *sizeResult) error {
	up := n + n/2
	ns := fmt.Sprintf("floor-ordered-%d", n)
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	orderedStart := time.Now()
	cpu := controlPlaneCPU(b.clusterDir)
	counters, err := readAPICounters(ctx, b.api)
	if err != nil {
		return err
	}
	profiled := b.prof.start(ctx, ns, false)
	d, err := b.ordered(ctx, ns, 0, n)
	if err != nil {
		return err
	}
	r.FloorOrdered.Seconds = seconds(d)
	r.FloorControlPlaneCPU = cpuSince(b.clusterDir, cpu)
	if r.FloorOrderedServer, err = b.serverFloor(ctx, ns, n*podsEach); err != nil {
		return err
	}
	if r.FloorAPICounters, err = b.countersSince(ctx, counters); err != nil {
		return err
	}
	profiled()
	r.FloorStages = b.track.stages(ns, orderedStart)
	logf("floor, ordered: %.1f s (server clock %.0f s)", r.FloorOrdered.Seconds, r.FloorOrderedServer)
	if d, err = b.ordered(ctx, ns, n, up); err != nil {
		return err
	}
	r.FloorScaleUp.Seconds = seconds(d)
	logf("floor, scale-up to %d groups: %.1f s", up, r.FloorScaleUp.Seconds)
	if b.rollout {
		if d, err = b.floorRollout(ctx, ns, up); err != nil {
			return err
		}
		r.FloorRollout.Seconds = seconds(d)
		logf("floor, image change of every StatefulSet: %.1f s", r.FloorRollout.Seconds)
	}
	if d, err = b.deleteAll(ctx, ns); err != nil {
		return err
	}
	r.FloorDeletion.Seconds = seconds(d)
	logf("floor, deletion: %.1f s", r.FloorDeletion.Seconds)

	return nil
}

// floorRollout changes the image of every StatefulSet of ns at once.
func (b *bench) floorRollout(ctx context.Context, ns string, groups int) (time.Duration, error) {
	var l appsv1.StatefulSetList
	if err := b.k8s.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	start := time.Now()
	_ = parallel(workers, len(l.Items), func(i int) error {
		s := &l.Items[i]
		patch := client.MergeFrom(s.DeepCopy())
		s.Spec.Template.Spec.Containers[0].Image = imageV2
		if err := b.k8s.Patch(ctx, s, patch); err != nil {
			logf("floor rollout: %v", err)
		}
		return nil
	})
	_, err := waitFor("floor rollout", b.timeout, func() bool { return b.track.readyPods(ns, imageV2) == groups*podsEach })
	return time.Since(start), err
}

func setReady(s *rbgsv1.RoleBasedGroupSet, groups int32) bool {
	c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
	return s.Status.ObservedGeneration == s.Generation && c != nil && c.Status == metav1.ConditionTrue &&
		s.Status.ReadyGroups == groups && s.Status.UpdatedGroups == groups
}

// waitWebhook returns once the API server admits the set through the
// operator's webhook (a dry run creates nothing).
func (b *bench) waitWebhook(ctx context.Context, ns string, n int) error {
	var err error
	_, werr := waitFor("webhook", time.Minute, func() bool {
		err = b.k8s.Create(ctx, template(ns, n), client.DryRunAll)
		return err == nil
	})
	if werr != nil {
		return fmt.Errorf("%w: %v", werr, err)
	}
	return nil
}

// waitSetReady watches the set until it reports Ready with groups: a watch,
// not polling, so the measurement adds no load of its own.
func (b *bench) waitSetReady(ctx context.Context, ns string, groups int32) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	for {
		w, err := b.watcher.Watch(ctx, &rbgsv1.RoleBasedGroupSetList{}, client.InNamespace(ns),
			client.MatchingFields{"metadata.name": setName})
		if err != nil {
			return time.Since(start), err
		}
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*rbgsv1.RoleBasedGroupSet); ok && setReady(s, groups) {
				w.Stop()
				return time.Since(start), nil
			}
		}
		if ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("set Ready: not done after %s", b.timeout)
		}
	}
}

func (b *bench) operatorRun(ctx context.Context, n int, v variant, r *sizeResult) error {
	name := strconv.Itoa(n)
	if v.name != "" {
		name += "-" + v.name
	}
	ns := "operator-" + name
	up := n + n/2
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	logPath := filepath.Join(b.logDir, "bench-operator-"+name+".log")
	op, err := startOperator(b.manager, b.operatorKubeconfig, logPath, append(b.prof.operatorArgs(), v.args...)...)
	if err != nil {
		return err
	}
	defer func() {
		if op != nil {
			op.stop(false)
		}
	}()
	if err := b.waitWebhook(ctx, ns, n); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // caches synced on an empty namespace
	if err := b.audit.Mark(); err != nil {
		return err
	}
	r.IdleCPUSeconds, r.IdleRSSMiB = op.stats()

	if err := b.creation(ctx, ns, n, op, r); err != nil {
		return err
	}
	logf("operator latencies:\n  %s", latencies())
	if b.creationOnly {
		r.CPUSeconds, r.PeakRSSMiB = op.stop(false)
		op = nil
		return nil
	}

	op, cpu1, rss1, err := b.quietAndRestart(ctx, ns, op, func() (*operator, error) {
		return startOperator(b.manager, b.operatorKubeconfig, logPath, v.args...)
	}, r)
	if err != nil {
		return err
	}
	s, err := b.scaleUp(ctx, ns, up, r)
	if err != nil {
		return err
	}
	if b.rollout {
		if err := b.operatorRollout(ctx, ns, s, up, r); err != nil {
			return err
		}
	}
	if err := b.deletion(ctx, ns, s, r); err != nil {
		return err
	}
	cpu2, rss2 := op.stop(false)
	op = nil
	r.CPUSeconds, r.PeakRSSMiB = cpu1+cpu2, max(rss1, rss2)
	return nil
}

// quietAndRestart measures into r a quiet period with nothing changing in
// ns, then a restart of op (started again by start) with nothing changed:
// its writes, and the pods it replaced. It returns the operator running
// now (nil when start failed), and the CPU seconds and peak RSS of the one
// it stopped.
func (b *bench) quietAndRestart(ctx context.Context, ns string, op *operator, start func() (*operator, error),
	r *sizeResult) (*operator, float64, float64, error) {
	time.Sleep(b.quiet)
	var err error
	if r.NoChange.Counts, err = b.audit.Count(); err != nil {
		return op, 0, 0, err
	}
	r.NoChange.Seconds = b.quiet.Seconds()
	logf("operator, no change for %s: %d writes, %d requests", b.quiet, r.NoChange.Counts.Writes, r.NoChange.Counts.Requests)

	uids, err := b.podUIDs(ctx, ns)
	if err != nil {
		return op, 0, 0, err
	}
	cpu, rss := op.stop(false)
	if op, err = start(); err != nil {
		return nil, cpu, rss, err
	}
	if err := b.audit.Mark(); err != nil {
		return op, cpu, rss, err
	}
	time.Sleep(b.quiet)
	if r.Restart.Counts, err = b.audit.Count(); err != nil {
		return op, cpu, rss, err
	}
	r.Restart.Seconds = b.quiet.Seconds()
	after, err := b.podUIDs(ctx, ns)
	if err != nil {
		return op, cpu, rss, err
	}
	for uid := range uids {
		if !after[uid] {
			r.RestartPodsReplaced++
		}
	}
	logf("operator, restart with nothing changed: %d writes, %d pods replaced", r.Restart.Counts.Writes, r.RestartPodsReplaced)
	return op, cpu, rss, nil
}

// scaleUp scales the set in ns to up groups and measures, into r, how long
// until every pod is Ready; it returns the set as patched.
func (b *bench) scaleUp(ctx context.Context, ns string, up int, r *sizeResult) (*rbgsv1.RoleBasedGroupSet, error) {
	var s rbgsv1.RoleBasedGroupSet
	if err := b.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: setName}, &s); err != nil {
		return nil, err
	}
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Replicas = new(int32(up))
	start := time.Now()
	if err := b.k8s.Patch(ctx, &s, patch); err != nil {
		return nil, err
	}
	if _, err := waitFor("scale-up pods", b.timeout, func() bool { return b.track.readyPods(ns, "") == up*podsEach }); err != nil {
		return nil, err
	}
	r.ScaleUp.Seconds = seconds(time.Since(start))
	if _, err := b.waitSetReady(ctx, ns, int32(up)); err != nil {
		return nil, err
	}
	var err error
	if r.ScaleUp.Counts, err = b.audit.Count(); err != nil {
		return nil, err
	}
	logf("operator, scale-up to %d groups: %.1f s", up, r.ScaleUp.Seconds)
	return &s, nil
}

// deletion deletes the set s in ns and measures, into r, how long until
// nothing of it is left.
func (b *bench) deletion(ctx context.Context, ns string, s *rbgsv1.RoleBasedGroupSet, r *sizeResult) error {
	start := time.Now()
	if err := b.k8s.Delete(ctx, s); err != nil {
		return err
	}
	if _, err := waitFor("deletion", b.timeout, func() bool { return b.track.empty(ns) }); err != nil {
		return err
	}
	r.Deletion.Seconds = seconds(time.Since(start))
	var err error
	if r.Deletion.Counts, err = b.audit.Count(); err != nil {
		return err
	}
	logf("operator, deletion: %.1f s", r.Deletion.Seconds)
	return nil
}

// creation measures the operator's creation of a set of n groups in ns
// into r: times by the watch and by the server's clock, control plane CPU,
// the API server's counters, the operator's CPU and memory and its
// writes, each logged.
func (b *bench) creation(ctx context.Context, ns string, n int, op *operator, r *sizeResult) error {
	cpu := controlPlaneCPU(b.clusterDir)
	counters, err := readAPICounters(ctx, b.api)
	if err != nil {
		return err
	}
	start := time.Now()
	profiled := b.prof.start(ctx, ns, true)
	if err := b.k8s.Create(ctx, template(ns, n)); err != nil {
		return err
	}
	podsDone := make(chan time.Duration, 1)
	go func() {
		d, _ := waitFor("pods", b.timeout, func() bool { return b.track.readyPods(ns, "") == n*podsEach })
		podsDone <- d
	}()
	setDur, err := b.waitSetReady(ctx, ns, int32(n))
	if err != nil {
		return err
	}
	r.SetReadySeconds = seconds(setDur)
	r.PodsReady.Seconds = seconds(<-podsDone)
	lastPod, lastSts := b.track.lastReady()
	r.SetReadyAfterPods = seconds(start.Add(setDur).Sub(lastPod))
	r.SetReadyAfterStatefulSets = seconds(start.Add(setDur).Sub(lastSts))
	r.OperatorStages = b.track.stages(ns, start)
	if r.PodsReadyServer, r.SetReadyServer, err = b.serverSet(ctx, ns, n*podsEach); err != nil {
		return err
	}
	r.OperatorControlPlaneCPU = cpuSince(b.clusterDir, cpu)
	if r.OperatorAPICounters, err = b.countersSince(ctx, counters); err != nil {
		return err
	}
	r.CreateCPUSeconds, r.CreatePeakRSSMiB = op.stats()
	profiled()
	time.Sleep(time.Second)
	if r.PodsReady.Counts, err = b.audit.Count(); err != nil {
		return err
	}
	r.Objects = 1 + objectsEach()*n
	logf("operator: pods Ready %.1f s, set Ready %.1f s (%.2f s after the last pod, %.2f s after the last StatefulSet), %d writes for %d objects, %.1f CPU s, peak RSS %.0f MiB",
		r.PodsReady.Seconds, r.SetReadySeconds, r.SetReadyAfterPods, r.SetReadyAfterStatefulSets, r.PodsReady.Counts.Writes, r.Objects, r.CreateCPUSeconds, r.CreatePeakRSSMiB)
	logf("stages per group (start->prefill, prefill->Ready, Ready->decode, decode->Ready): floor %.2f %.2f %.2f %.2f, operator %.2f %.2f %.2f %.2f",
		r.FloorStages[0], r.FloorStages[1], r.FloorStages[2], r.FloorStages[3],
		r.OperatorStages[0], r.OperatorStages[1], r.OperatorStages[2], r.OperatorStages[3])
	logf("writes by kind: %v", r.PodsReady.Counts.WritesBy)
	logf("control plane CPU s: floor %v, operator %v", r.FloorControlPlaneCPU, r.OperatorControlPlaneCPU)
	logf("API server counters, ordered floor -> operator (differences of at least %d):\n  %s", n/10,
		compareCounters(r.FloorAPICounters, r.OperatorAPICounters, float64(n/10)))
	return nil
}

// operatorRollout measures a template change rolled out across the set's
// up groups.
func (b *bench) operatorRollout(ctx context.Context, ns string, s *rbgsv1.RoleBasedGroupSet, up int, r *sizeResult) error {
	patch := client.MergeFrom(s.DeepCopy())
	for i := range s.Spec.GroupTemplate.Roles {
		s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = imageV2
	}
	s.Spec.RolloutStrategy.MaxUnavailable = new(intstr.Parse(b.rolloutMaxUnavailable))
	start := time.Now()
	if err := b.k8s.Patch(ctx, s, patch); err != nil {
		return err
	}
	if _, err := waitFor("rollout pods", b.timeout, func() bool { return b.track.readyPods(ns, imageV2) == up*podsEach }); err != nil {
		return err
	}
	if _, err := b.waitSetReady(ctx, ns, int32(up)); err != nil {
		return err
	}
	r.Rollout.Seconds = seconds(time.Since(start))
	counts, err := b.audit.Count()
	if err != nil {
		return err
	}
	r.Rollout.Counts = counts
	logf("operator, rollout (maxUnavailable %s): %.1f s", b.rolloutMaxUnavailable, r.Rollout.Seconds)
	return nil
}

func (b *bench) podUIDs(ctx context.Context, ns string) (map[string]bool, error) {
	var l corev1.PodList
	if err := b.k8s.List(ctx, &l, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(l.Items))
	for _, p := range l.Items {
		out[string(p.UID)] = true
	}
	return out, nil
}
