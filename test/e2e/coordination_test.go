package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/wrappers"
)

// roleRecorder follows, from a watch of its pods, every state the API
// server stores of one group's roles, and counts each role's pods: those
// that run image and are Ready below the role's replicas, the Ready ones
// of any image, and the live ones (none terminating).
type roleRecorder struct {
	mu sync.Mutex
	// worstSkew is the largest gap seen between the updated and Ready
	// fractions of two of the roles, with the counts of that state.
	worstSkew float64
	worstAt   string
	// leastReady and mostLive are the fewest Ready and most live pods
	// seen, by role.
	leastReady, mostLive map[string]int
	// states counts the states recorded.
	states int
	finish func()
}

// recordRoles records group's roles (replicas by role) until finish;
// skewed lists the roles whose fractions are compared.
func recordRoles(t *testing.T, ns, group, image string, replicas map[string]int, skewed []string) *roleRecorder {
	t.Helper()
	scheme, err := rbgsscheme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// The pods as they are, then every change from there.
	var pl corev1.PodList
	if err := c.List(ctx, &pl, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelGroupName: group}); err != nil {
		t.Fatal(err)
	}
	pw, err := c.Watch(ctx, &pl, client.InNamespace(ns), client.MatchingLabels{rbgsv1.LabelGroupName: group},
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: pl.ResourceVersion}})
	if err != nil {
		t.Fatal(err)
	}
	r := &roleRecorder{leastReady: map[string]int{}, mostLive: map[string]int{}}
	for role := range replicas {
		r.leastReady[role] = 1 << 30
	}
	live := map[string]*corev1.Pod{}
	for i := range pl.Items {
		live[pl.Items[i].Name] = &pl.Items[i]
	}
	r.record(live, image, replicas, skewed)
	var wg sync.WaitGroup
	wg.Go(func() {
		for e := range pw.ResultChan() {
			p, ok := e.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if e.Type == watch.Deleted {
				delete(live, p.Name)
			} else {
				live[p.Name] = p
			}
			r.record(live, image, replicas, skewed)
		}
	})
	var once sync.Once
	r.finish = func() {
		once.Do(func() {
			cancel()
			pw.Stop()
			wg.Wait()
		})
	}
	t.Cleanup(r.finish)
	return r
}

// record counts one state of the pods, by name.
func (r *roleRecorder) record(pods map[string]*corev1.Pod, image string, replicas map[string]int, skewed []string) {
	updated, ready, live := map[string]int{}, map[string]int{}, map[string]int{}
	for _, p := range pods {
		role := p.Labels[rbgsv1.LabelRole]
		if !p.DeletionTimestamp.IsZero() {
			continue
		}
		live[role]++
		if ok, _ := podReady(p); !ok {
			continue
		}
		ready[role]++
		var ordinal int
		if _, err := fmt.Sscan(p.Labels[appsv1.PodIndexLabel], &ordinal); err == nil && ordinal < replicas[role] && templateOf(p) == image {
			updated[role]++
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.states++
	for role := range replicas {
		r.leastReady[role] = min(r.leastReady[role], ready[role])
		r.mostLive[role] = max(r.mostLive[role], live[role])
	}
	for _, a := range skewed {
		for _, b := range skewed {
			fa, fb := float64(updated[a])/float64(replicas[a]), float64(updated[b])/float64(replicas[b])
			if d := fa - fb; d > r.worstSkew+1e-9 {
				r.worstSkew = d
				r.worstAt = fmt.Sprintf("state %d: %s %d/%d and %s %d/%d updated and Ready", r.states, a, updated[a], replicas[a], b, updated[b], replicas[b])
			}
		}
	}
}

// A group of prefill 8 and decode 4 with maxSkew 25% rolls out on the real
// StatefulSet controller with the updated and Ready fractions of prefill
// and decode never more than 25% apart in any state of the pods the API
// server stores (a group without coordination drifts further), while
// router, unchanged, keeps its pod. Then decode rolls
// out alone with maxSurge 1 and maxUnavailable 0: a fifth decode pod
// serves before any old one goes, no state has fewer than 4 decode pods
// Ready nor more than 5 live, and it ends on ordinals 0-3.
func TestCoordinatedRoles(t *testing.T) {
	ns := namespace(t, "e2e-coordinated")
	// pd moves its roles together; free, the same without coordination,
	// shows the check can fail: its decode finishes far ahead of prefill.
	pd := wrappers.MakeGroup("pd", ns).Role("router", 1).Role("prefill", 8, "router").Role("decode", 4, "router").Obj()
	pd.Spec.Coordination = &rbgsv1.Coordination{MaxSkew: intstr.FromString("25%")}
	free := wrappers.MakeGroup("free", ns).Role("prefill", 8).Role("decode", 4).Obj()
	for _, g := range []*rbgsv1.RoleBasedGroup{pd, free} {
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
	}
	groupPhase(t, ns, "pd", rbgsv1.PhaseRunning)
	groupPhase(t, ns, "free", rbgsv1.PhaseRunning)
	router := roleReady(t, ns, "pd", "router", 1)[0]

	const v2 = "registry.example.com/llm-server:v2"
	replicas := map[string]int{"router": 1, "prefill": 8, "decode": 4}
	recorder := recordRoles(t, ns, "pd", v2, replicas, []string{"prefill", "decode"})
	control := recordRoles(t, ns, "free", v2, replicas, []string{"prefill", "decode"})
	for _, g := range []*rbgsv1.RoleBasedGroup{pd, free} {
		update(t, g, func(g *rbgsv1.RoleBasedGroup) {
			for i := range g.Spec.Roles {
				if g.Spec.Roles[i].Role != "router" {
					g.Spec.Roles[i].Template.Spec.Containers[0].Image = v2
				}
			}
		})
	}
	rolledOut(t, ns, "pd", v2, map[string]int{"prefill": 8, "decode": 4})
	rolledOut(t, ns, "free", v2, map[string]int{"prefill": 8, "decode": 4})
	recorder.finish()
	control.finish()
	if p := roleReady(t, ns, "pd", "router", 1)[0]; p.UID != router.UID {
		t.Errorf("router, unchanged, was replaced: pod %s became %s", router.UID, p.UID)
	}
	if recorder.worstSkew > 0.25+1e-9 || control.worstSkew <= 0.25 {
		t.Errorf("worst skew %.3f (%s) over %d states, %.3f without coordination (%s); want at most 0.25, and more without",
			recorder.worstSkew, recorder.worstAt, recorder.states, control.worstSkew, control.worstAt)
	}
	t.Logf("rollout of prefill 8 and decode 4 with maxSkew 25%%: worst skew %.3f (%s) over %d states; %.3f without coordination (%s)",
		recorder.worstSkew, recorder.worstAt, recorder.states, control.worstSkew, control.worstAt)

	// Decode alone, with a surge pod and nothing unavailable.
	const v3 = "registry.example.com/llm-server:v3"
	recorder = recordRoles(t, ns, "pd", v3, replicas, nil)
	update(t, pd, func(g *rbgsv1.RoleBasedGroup) {
		for i := range g.Spec.Roles {
			if r := &g.Spec.Roles[i]; r.Role == "decode" {
				surge, unavailable := intstr.FromInt32(1), intstr.FromInt32(0)
				r.RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxSurge: &surge, MaxUnavailable: &unavailable}
				r.Template.Spec.Containers[0].Image = v3
			}
		}
	})
	rolledOut(t, ns, "pd", v3, map[string]int{"decode": 4})
	gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "pd", rbgsv1.LabelRole: "decode", appsv1.PodIndexLabel: "4"})
	recorder.finish()
	if recorder.leastReady["decode"] < 4 || recorder.mostLive["decode"] != 5 {
		t.Errorf("decode: at worst %d pods Ready and at most %d live over %d states; want at least 4 Ready and a fifth, surge, pod",
			recorder.leastReady["decode"], recorder.mostLive["decode"], recorder.states)
	}
	t.Logf("decode rollout with maxSurge 1, maxUnavailable 0: at worst %d pods Ready, at most %d live, over %d states",
		recorder.leastReady["decode"], recorder.mostLive["decode"], recorder.states)
}

// rolledOut waits until group is Running at its generation and every pod
// of each listed role (want by role) runs image and is Ready.
func rolledOut(t *testing.T, ns, group, image string, want map[string]int) {
	t.Helper()
	eventually(t, "rolled out to "+image, 180*time.Second, func() error {
		var g rbgsv1.RoleBasedGroup
		if err := get(ns, group, &g); err != nil {
			return err
		}
		if g.Status.ObservedGeneration != g.Generation || g.Status.Phase != rbgsv1.PhaseRunning {
			msg := ""
			if c := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionReady); c != nil {
				msg = c.Message
			}
			// What the StatefulSets were told, and what they did.
			var l appsv1.StatefulSetList
			if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, x := range l.Items {
				partition := int32(0)
				if ru := x.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
					partition = *ru.Partition
				}
				msg += fmt.Sprintf("; %s: %d replicas, partition %d, generation %d seen %d, %d updated, %d ready",
					x.Name, *x.Spec.Replicas, partition, x.Generation, x.Status.ObservedGeneration, x.Status.UpdatedReplicas, x.Status.ReadyReplicas)
			}
			return fmt.Errorf("%s at generation %d of %d: %s", g.Status.Phase, g.Status.ObservedGeneration, g.Generation, msg)
		}
		for role, n := range want {
			ps := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group, rbgsv1.LabelRole: role})
			at := 0
			for i := range ps {
				if ok, _ := podReady(&ps[i]); ok && ps[i].DeletionTimestamp.IsZero() && templateOf(&ps[i]) == image {
					at++
				}
			}
			if at != n || len(ps) != n {
				return fmt.Errorf("%s: %d of %d pods Ready at %s, %d pods", role, at, n, image, len(ps))
			}
		}
		return nil
	})
}
