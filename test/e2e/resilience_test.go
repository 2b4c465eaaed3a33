package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/audit"
	"github.com/openpatio/rbgs/test/wrappers"
)

// podTracker records, from a watch, every pod of a namespace that ever
// existed and every graceful pod deletion, so a test can tell which pods
// were replaced. The operator and the StatefulSet controller delete pods
// gracefully (the pod is seen terminating with a grace period). kwok,
// playing the kubelet, then deletes terminating pods by name with no grace
// period, and retries on error: a retry can remove the pod recreated under
// the same name meanwhile. Such a deletion, never graceful, is the fake
// kubelet's, and is not counted.
type podTracker struct {
	mu      sync.Mutex
	images  map[types.UID]string // every pod seen, by UID, with its image
	deleted map[types.UID]string // pods seen terminating gracefully, by UID
}

func trackPods(t *testing.T, ns string) *podTracker {
	t.Helper()
	cs, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	tr := &podTracker{images: map[types.UID]string{}, deleted: map[types.UID]string{}}
	seen := func(o any) {
		p, ok := o.(*corev1.Pod)
		if !ok {
			return
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.images[p.UID] = p.Spec.Containers[0].Image
		if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds > 0 {
			tr.deleted[p.UID] = p.Name
		}
	}
	lw := toolscache.NewListWatchFromClient(cs.CoreV1().RESTClient(), "pods", ns, fields.Everything())
	_, ctrl := toolscache.NewInformerWithOptions(toolscache.InformerOptions{
		ListerWatcher: lw, ObjectType: &corev1.Pod{},
		Handler: toolscache.ResourceEventHandlerFuncs{
			AddFunc:    seen,
			UpdateFunc: func(_, o any) { seen(o) },
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go ctrl.RunWithContext(ctx)
	if !toolscache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		t.Fatal("pod watch did not sync")
	}
	return tr
}

// deletions returns the deleted pods' images, by pod name.
func (tr *podTracker) deletions() map[string][]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := map[string][]string{}
	for uid, name := range tr.deleted {
		out[name] = append(out[name], tr.images[uid])
	}
	return out
}

// converged checks that the set's n groups and their children exist once
// each, with nothing left over and nothing orphaned.
func converged(t *testing.T, ns, set string, n int, image string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d groups with exactly their children", n), 60*time.Second, func() error {
		groups := map[string]bool{}
		for _, g := range setGroups(t, ns, set) {
			groups[g.Name] = true
		}
		if len(groups) != n {
			return fmt.Errorf("%d groups", len(groups))
		}
		for i := range n {
			if !groups[fmt.Sprintf("%s-%d", set, i)] {
				return fmt.Errorf("group %s-%d missing", set, i)
			}
		}
		managed := client.MatchingLabels{rbgsv1.LabelManagedBy: rbgsv1.ManagedByValue}
		var stss appsv1.StatefulSetList
		var svcs corev1.ServiceList
		var cms corev1.ConfigMapList
		for _, l := range []client.ObjectList{&stss, &svcs, &cms} {
			if err := k8s.List(context.Background(), l, client.InNamespace(ns), managed); err != nil {
				return err
			}
		}
		if len(stss.Items) != 2*n || len(svcs.Items) != 2*n || len(cms.Items) != 2*n {
			return fmt.Errorf("%d StatefulSets, %d Services, %d ConfigMaps; want %d each", len(stss.Items), len(svcs.Items), len(cms.Items), 2*n)
		}
		for _, s := range stss.Items {
			owner := s.Labels[rbgsv1.LabelGroupName]
			if !groups[owner] || len(s.OwnerReferences) != 1 || s.OwnerReferences[0].Name != owner {
				return fmt.Errorf("StatefulSet %s: owner %v, group %s", s.Name, s.OwnerReferences, owner)
			}
		}
		ps := pods(t, ns, map[string]string{rbgsv1.LabelSetName: set})
		for _, p := range ps {
			if p.Spec.Containers[0].Image != image {
				return fmt.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
			}
		}
		if len(ps) != 2*n {
			return fmt.Errorf("%d pods", len(ps))
		}
		return nil
	})
}

// serviceRepaired deletes a group's Service and waits until the operator
// has recreated it: proof that an operator is reconciling.
func serviceRepaired(t *testing.T, ns, name string, within time.Duration) {
	t.Helper()
	var svc corev1.Service
	if err := get(ns, name, &svc); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Delete(context.Background(), &svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the operator recreates Service "+name, within, func() error {
		var again corev1.Service
		if err := get(ns, name, &again); err != nil {
			return err
		}
		if again.UID == svc.UID {
			return fmt.Errorf("old Service still there")
		}
		return nil
	})
}

// Killing the operator with SIGKILL while a set of 60 groups is created,
// scaled and rolled out, and starting it again, ends where an uninterrupted
// run ends: every group and child once, nothing orphaned, no pod replaced
// but those the rollout replaces, once each. A restart with nothing changed
// then writes nothing.
func TestCrashSafety(t *testing.T) {
	const v1, v2 = "registry.example.com/llm-server:v1", "registry.example.com/llm-server:v2"
	ns := namespace(t, "e2e-crash")
	tr := trackPods(t, ns)
	s := wrappers.MakeSet("fleet", ns).Replicas(60).Role("prefill", 1).Role("decode", 1, "prefill").
		MaxUnavailable(intstr.FromString("25%")).Obj()
	for i := range s.Spec.GroupTemplate.Roles {
		s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = v1
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	kills := 0
	killAfter := func(d time.Duration) {
		time.Sleep(d)
		restartOperator(t, true)
		kills++
	}
	noDeletions := func(phase string) {
		if d := tr.deletions(); len(d) > 0 {
			t.Errorf("%s: pods deleted: %v", phase, d)
		}
	}

	killAfter(time.Second) // groups being created
	killAfter(2 * time.Second)
	setRunning(t, ns, "fleet", 60)
	converged(t, ns, "fleet", 60, v1)
	noDeletions("creation")

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.Replicas = new(int32(90)) })
	killAfter(time.Second) // groups 60..89 being created
	setRunning(t, ns, "fleet", 90)
	converged(t, ns, "fleet", 90, v1)
	noDeletions("scale-up")

	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = v2
		}
	})
	killAfter(2 * time.Second) // first groups rolling
	killAfter(3 * time.Second)
	eventually(t, "rollout done", 180*time.Second, func() error {
		if err := get(ns, "fleet", s); err != nil {
			return err
		}
		if s.Status.UpdatedGroups != 90 || s.Status.ReadyGroups != 90 || s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("updated %d, ready %d", s.Status.UpdatedGroups, s.Status.ReadyGroups)
		}
		return nil
	})
	converged(t, ns, "fleet", 90, v2)
	// The rollout replaces each v1 pod once, and nothing else.
	for name, images := range tr.deletions() {
		if len(images) != 1 || images[0] != v1 {
			t.Errorf("pod %s deleted %d times, images %v; want once, at %s", name, len(images), images, v1)
		}
	}
	if n := len(tr.deletions()); n != 180 {
		t.Errorf("%d pods replaced by the rollout, want 180", n)
	}
	t.Logf("converged after %d SIGKILLs (2 during creation, 1 during scale-up, 2 during the rollout)", kills)

	// A restart with nothing changed writes nothing and replaces no pod.
	// Counted in the test's namespace: those of earlier tests may still be
	// being torn down, which is a change.
	before := len(tr.deletions())
	log := &audit.Log{Path: os.Getenv("RBGS_E2E_AUDIT_LOG"), User: "rbgs-operator", Namespace: ns}
	if log.Path == "" {
		t.Skip("RBGS_E2E_AUDIT_LOG not set")
	}
	if err := log.Mark(); err != nil {
		t.Fatal(err)
	}
	metrics := freeAddress(t)
	restartOperator(t, false, "--metrics-bind-address="+metrics)
	settled(t, metrics, map[string]float64{"rolebasedgroup": 90, "rolebasedgroupset": 1})
	counts, err := log.Count()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Writes != 0 || len(tr.deletions()) != before {
		t.Errorf("restart with nothing changed: %d writes (%v), %d pods deleted", counts.Writes, counts.WritesBy, len(tr.deletions())-before)
	}
	t.Logf("restart with nothing changed: %d requests, %d writes", counts.Requests, counts.Writes)
}

// Two operators with leader election: the leader is killed (SIGKILL) and
// the other takes over once the lease expires.
func TestLeaderTakeover(t *testing.T) {
	ns := namespace(t, "e2e-leader")
	g := wrappers.MakeGroup("lg", ns).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	groupPhase(t, ns, "lg", rbgsv1.PhaseRunning)

	op.stop(false, false)
	logDir := os.Getenv("RBGS_E2E_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	electing := []string{"--leader-elect", "--leader-election-namespace=rbgs-system"}
	replicas := map[string]*operatorProcess{}
	for _, name := range []string{"leader-a", "leader-b"} {
		_ = os.Remove(filepath.Join(logDir, name+".log"))
		// Each replica serves its webhook on a port of its own (the
		// registration still names the one the test suite started with).
		_, port, _ := net.SplitHostPort(freeAddress(t))
		p, err := startOperator(name, append(electing, "--webhook-port="+port)...)
		if err != nil {
			t.Fatal(err)
		}
		replicas[name] = p
	}
	t.Cleanup(func() {
		for _, p := range replicas {
			p.stop(false, t.Failed())
		}
		var err error
		if op, err = startOperator("manager"); err == nil {
			err = waitForWebhook()
		}
		if err != nil {
			t.Fatal(err)
		}
	})

	leaderOf := func() (string, error) {
		for name := range replicas {
			raw, _ := os.ReadFile(filepath.Join(logDir, name+".log"))
			if strings.Contains(string(raw), "Successfully acquired lease") {
				return name, nil
			}
		}
		return "", fmt.Errorf("no leader yet")
	}
	var leader string
	eventually(t, "a leader", 60*time.Second, func() (err error) { leader, err = leaderOf(); return err })
	var lease coordinationv1.Lease
	if err := get("rbgs-system", "rbgs.openpatio.io", &lease); err != nil || lease.Spec.HolderIdentity == nil {
		t.Fatalf("lease: %v, %+v", err, lease.Spec)
	}

	killed := time.Now()
	replicas[leader].stop(true, false)
	delete(replicas, leader)
	serviceRepaired(t, ns, "lg-decode", 60*time.Second)
	takeover := time.Since(killed)
	t.Logf("leader %s killed; the other replica took over and repaired the group %.1f s later", leader, takeover.Seconds())
	if takeover > 45*time.Second {
		t.Errorf("takeover took %s", takeover)
	}
}

// Restarting etcd and the API server under the running operator: it
// carries on without help and without touching running pods.
func TestAPIServerRestart(t *testing.T) {
	ns := namespace(t, "e2e-apiserver")
	g := wrappers.MakeGroup("ag", ns).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	groupPhase(t, ns, "ag", rbgsv1.PhaseRunning)
	uids := map[types.UID]bool{}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ag"}) {
		uids[p.UID] = true
	}

	// Twice a watch the operator resumed right after such a restart stayed
	// silent for minutes (a group it had just created never saw its
	// StatefulSet turn Ready, while a fresh operator saw it at once). Until
	// that is understood, the tests after this one start with a fresh
	// operator, so that it does not fail them.
	t.Cleanup(func() { restartOperator(t, false) })
	restarted := time.Now()
	out, err := exec.Command(filepath.Join(root, "hack", "cluster.sh"), "restart-apiserver").CombinedOutput()
	if err != nil {
		t.Fatalf("restarting the API server: %v\n%s", err, out)
	}
	t.Logf("API server restarted in %s", time.Since(restarted).Round(100*time.Millisecond))
	if err := op.cmd.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the operator exited while the API server was down: %v", err)
	}
	eventually(t, "API server answering", 30*time.Second, func() error { return get(ns, "ag-prefill", &corev1.Service{}) })
	// The operator's watches were cut for the restart's ~20 s. client-go
	// retries a broken watch after a backoff that doubles up to 30 s, and
	// the restarted API server may end the first resumed watch at once
	// (its cache starts anew), which costs one more backoff: the operator
	// may see the deletion only a minute or so after the restart.
	deleted := time.Now()
	serviceRepaired(t, ns, "ag-prefill", 150*time.Second)
	t.Logf("a Service deleted after the restart was recreated %s later", time.Since(deleted).Round(100*time.Millisecond))
	groupPhase(t, ns, "ag", rbgsv1.PhaseRunning)
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ag"}) {
		if !uids[p.UID] {
			t.Errorf("pod %s was replaced", p.Name)
		}
	}
}
