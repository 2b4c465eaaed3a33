package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/audit"
	"github.com/openpatio/rbgs/test/wrappers"
)

// placed is where each pod of a group runs, by name: its UID and node.
func placed(t *testing.T, ns, group string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group}) {
		out[p.Name] = string(p.UID) + "@" + p.Spec.NodeName
	}
	return out
}

// runImage waits until every pod of role of group asks for image, the
// kubelet reports it, and the pod is Ready.
func runImage(t *testing.T, ns, group, role, image string, n int) []corev1.Pod {
	t.Helper()
	var ps []corev1.Pod
	eventually(t, fmt.Sprintf("%d pods of %s/%s Ready on %s", n, group, role, image), 90*time.Second, func() error {
		ps = pods(t, ns, map[string]string{rbgsv1.LabelGroupName: group, rbgsv1.LabelRole: role})
		if len(ps) != n {
			return fmt.Errorf("%d pods", len(ps))
		}
		for i := range ps {
			p := &ps[i]
			ready, _ := podReady(p)
			switch {
			case p.Spec.Containers[0].Image != image:
				return fmt.Errorf("pod %s asks for %s", p.Name, p.Spec.Containers[0].Image)
			case len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].Image != image:
				return fmt.Errorf("pod %s does not report %s yet", p.Name, image)
			case !ready || !p.DeletionTimestamp.IsZero():
				return fmt.Errorf("pod %s not Ready", p.Name)
			}
		}
		return nil
	})
	return ps
}

// evict asks the eviction API to evict pod name, as a drain does.
func evict(ns, name string) error {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	return k8s.SubResource("eviction").Create(context.Background(), p, &policyv1.Eviction{ObjectMeta: p.ObjectMeta})
}

// budgetAllows waits until the PodDisruptionBudget name allows n
// disruptions: the disruption controller has counted the pods.
func budgetAllows(t *testing.T, ns, name string, n int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("budget %s allows %d", name, n), 60*time.Second, func() error {
		var pdb policyv1.PodDisruptionBudget
		if err := get(ns, name, &pdb); err != nil {
			return err
		}
		if pdb.Status.ObservedGeneration != pdb.Generation || pdb.Status.DisruptionsAllowed != n {
			return fmt.Errorf("allows %d at generation %d/%d", pdb.Status.DisruptionsAllowed, pdb.Status.ObservedGeneration, pdb.Generation)
		}
		return nil
	})
}

// eventMessages are the notes of the events of reason about object name.
func eventMessages(t *testing.T, ns, name, reason string) string {
	t.Helper()
	return kubectl(t, "get", "events.events.k8s.io", "-n", ns, "--field-selector", "reason="+reason+",regarding.name="+name,
		"-o", "jsonpath={.items[*].note}")
}

// A role of 2 pods and a role of one instance of 2 pods, both
// InPlaceIfPossible, with disruption budgets of one instance, on the real
// StatefulSet controller, disruption controller and eviction API, with
// kwok playing the kubelet's restart of a changed container: an image edit
// keeps every pod where it is; an env edit replaces the pods and says
// why; the budget lets one eviction through and refuses the next; an
// evicted worker recreates its instance at once, counted toward nothing.
func TestInPlaceUpdates(t *testing.T) {
	ns := namespace(t, "e2e-inplace")
	g := wrappers.MakeGroup("ip", ns).Role("decode", 2).Role("worker", 1).Size(2).Obj()
	for i := range g.Spec.Roles {
		r := &g.Spec.Roles[i]
		r.RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
		r.DisruptionBudget = &rbgsv1.DisruptionBudget{MaxUnavailable: intstr.FromInt32(1)}
	}
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "ip", "decode", 2)
	roleReady(t, ns, "ip", "worker", 2)
	groupPhase(t, ns, "ip", rbgsv1.PhaseRunning)
	before := placed(t, ns, "ip")

	// An image edit of both roles: the pods stay, restart their container
	// once, one decode pod at a time, the worker instance whole.
	serving := sampleServing(t, ns, "ip", "decode", 2)
	writes := &audit.Log{Path: os.Getenv("RBGS_E2E_AUDIT_LOG"), User: "rbgs-operator", Namespace: ns}
	if err := writes.Mark(); err != nil {
		t.Fatalf("the audit log (RBGS_E2E_AUDIT_LOG): %v", err)
	}
	const image = "registry.example.com/llm-server:v2"
	start := time.Now()
	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		for i := range g.Spec.Roles {
			g.Spec.Roles[i].Template.Spec.Containers[0].Image = image
		}
	})
	runImage(t, ns, "ip", "decode", image, 2)
	runImage(t, ns, "ip", "worker", image, 2)
	got := groupPhase(t, ns, "ip", rbgsv1.PhaseRunning)
	serving.finish()
	t.Logf("image edit in place: Running again after %s", time.Since(start).Round(time.Millisecond))
	if after := placed(t, ns, "ip"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pods moved on an image edit:\nbefore %v\nafter  %v", before, after)
	}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ip"}) {
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 1 {
			t.Errorf("pod %s restarted its container %d times, want 1 (the kubelet's restart for the new image)", p.Name, n)
		}
	}
	if got.Status.Restarts != 0 || got.Status.LastRestart != nil {
		t.Errorf("the in-place restarts were taken for crashes: restarts %d, last %+v", got.Status.Restarts, got.Status.LastRestart)
	}
	if serving.least < 1 || serving.samples == 0 {
		t.Errorf("decode served with %d pods at the least over %d samples, want at least 1 (maxUnavailable 1)", serving.least, serving.samples)
	}
	if serving.short == 0 {
		t.Errorf("no sample saw a decode pod restart for its image (%d samples)", serving.samples)
	}
	// One patch per pod, whatever the cache showed the reconciles in
	// between, and no pod deleted.
	counts, err := writes.Count()
	if err != nil {
		t.Fatal(err)
	}
	for name := range before {
		if n := counts.WritesTo["patch pods "+name]; n != 1 {
			t.Errorf("pod %s patched %d times by the operator, want once", name, n)
		}
	}
	if n := counts.WritesBy["delete pods"]; n != 0 {
		t.Errorf("the operator deleted %d pods on an image edit", n)
	}
	t.Logf("image edit in place: operator writes %v", counts.WritesBy)

	// Another image, and the operator killed once the first pod is patched:
	// the operator started again carries on from what the pods and
	// StatefulSets say, and still moves no pod.
	const image3 = "registry.example.com/llm-server:v3"
	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		for i := range g.Spec.Roles {
			g.Spec.Roles[i].Template.Spec.Containers[0].Image = image3
		}
	})
	eventually(t, "a decode pod patched to v3", 30*time.Second, func() error {
		for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ip", rbgsv1.LabelRole: "decode"}) {
			if p.Spec.Containers[0].Image == image3 {
				return nil
			}
		}
		return fmt.Errorf("no decode pod asks for %s yet", image3)
	})
	restartOperator(t, true)
	runImage(t, ns, "ip", "decode", image3, 2)
	runImage(t, ns, "ip", "worker", image3, 2)
	got = groupPhase(t, ns, "ip", rbgsv1.PhaseRunning)
	if after := placed(t, ns, "ip"); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pods moved on an image edit across an operator kill:\nbefore %v\nafter  %v", before, after)
	}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ip"}) {
		if n := p.Status.ContainerStatuses[0].RestartCount; n != 2 {
			t.Errorf("pod %s restarted its container %d times after two image edits, want 2", p.Name, n)
		}
	}
	if got.Status.Restarts != 0 {
		t.Errorf("the in-place restarts across an operator kill were taken for crashes: %+v", got.Status.LastRestart)
	}

	// An env edit cannot be made in place: the decode pods are replaced,
	// and an event names the field.
	start = time.Now()
	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		c := &g.Spec.Roles[0].Template.Spec.Containers[0]
		c.Env = append(c.Env, corev1.EnvVar{Name: "MODEL", Value: "llama"})
	})
	wantEvent(t, ns, "ip", "InPlaceFallback")
	if note := eventMessages(t, ns, "ip", "InPlaceFallback"); !strings.Contains(note, "role decode") || !strings.Contains(note, "spec.containers[main].env") {
		t.Errorf("fallback event %q does not name the role and the field", note)
	}
	eventually(t, "decode pods replaced with the new env", 90*time.Second, func() error {
		for _, p := range roleReady(t, ns, "ip", "decode", 2) {
			if strings.HasPrefix(before[p.Name], string(p.UID)+"@") {
				return fmt.Errorf("pod %s not replaced yet", p.Name)
			}
		}
		return nil
	})
	groupPhase(t, ns, "ip", rbgsv1.PhaseRunning)
	t.Logf("env edit replacing the decode pods: Running again after %s", time.Since(start).Round(time.Millisecond))

	// The budget of one decode pod: a drain's first eviction passes, and
	// the next is refused at once while the evicted pod is still going
	// (a finalizer holds it, as a slow shutdown would: kwok would replace
	// it within milliseconds, and a Ready replacement rightly lets the
	// next one through).
	budgetAllows(t, ns, "ip-decode", 1)
	holdPod(t, ns, "ip-decode-0", true)
	if err := evict(ns, "ip-decode-0"); err != nil {
		t.Errorf("the first eviction within a budget of 1: %v", err)
	}
	if err := evict(ns, "ip-decode-1"); !apierrors.IsTooManyRequests(err) {
		t.Errorf("a second eviction within a budget of 1: %v, want 429 Too Many Requests", err)
	}
	holdPod(t, ns, "ip-decode-0", false)
	roleReady(t, ns, "ip", "decode", 2)

	// An evicted worker takes its instance with it, at once and uncounted,
	// twice in a row (a crash would wait out a backoff the second time).
	for round := 1; round <= 2; round++ {
		// A budget of one instance is one pod: each pod taken breaks an
		// instance.
		budgetAllows(t, ns, "ip-worker", 1)
		workers := uidsOf(pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "ip", rbgsv1.LabelRole: "worker"}))
		evictedAt := time.Now()
		if err := evict(ns, "ip-worker-0-1"); err != nil {
			t.Fatalf("evicting a worker: %v", err)
		}
		eventually(t, "the worker's instance recreated", 90*time.Second, func() error {
			now := roleReady(t, ns, "ip", "worker", 2)
			for _, p := range now {
				if workers[p.UID] {
					return fmt.Errorf("pod %s of the instance not recreated", p.Name)
				}
			}
			return nil
		})
		// The operator names the eviction when its cache still holds the
		// evicted pod with its DisruptionTarget condition; when kwok has
		// already deleted it and the StatefulSet controller put a new pod
		// under its name, the operator names the replacement instead. Both
		// are disruptions, recreated at once.
		got = groupPhase(t, ns, "ip", rbgsv1.PhaseRunning)
		last := got.Status.LastRestart
		if got.Status.Restarts != int32(round) || got.Status.RecentRestarts != 0 || last == nil ||
			(!strings.Contains(last.Reason, "was disrupted") && !strings.Contains(last.Reason, "replaced a member of its instance that was gone")) ||
			!strings.Contains(last.Reason, "not counted toward maxRestarts") {
			t.Fatalf("round %d: restarts %d, recent %d, last %+v", round, got.Status.Restarts, got.Status.RecentRestarts, last)
		}
		if d := last.Time.Sub(evictedAt.Truncate(time.Second)); d >= 10*time.Second {
			t.Errorf("round %d: recreated %s after the eviction; a disruption waits for no backoff", round, d)
		}
	}
	if note := eventMessages(t, ns, "ip", "InstanceRecreated"); !strings.Contains(note, "at once") {
		t.Errorf("InstanceRecreated events %q do not say the disruption was recreated at once", note)
	}
}

// holdPod adds (or removes) a finalizer of the test's to pod name, so that
// once deleted it stays, terminating, until released.
func holdPod(t *testing.T, ns, name string, hold bool) {
	t.Helper()
	patch := `{"metadata":{"finalizers":["e2e.openpatio.io/hold"]}}`
	if !hold {
		patch = `{"metadata":{"finalizers":null}}`
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := k8s.Patch(context.Background(), p, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("finalizer of pod %s: %v", name, err)
	}
}

// uidsOf are the UIDs of ps.
func uidsOf(ps []corev1.Pod) map[types.UID]bool {
	out := map[types.UID]bool{}
	for _, p := range ps {
		out[p.UID] = true
	}
	return out
}

// A set's image rollout of roles that update in place keeps every pod of
// every group where it is: the set's revision label, which the rollout
// changes in every template, is patched onto the pods with the images.
func TestInPlaceUpdatesOfASet(t *testing.T) {
	ns := namespace(t, "e2e-inplace-set")
	s := wrappers.MakeSet("ips", ns).Replicas(2).Role("decode", 2).Role("worker", 1).Obj()
	s.Spec.GroupTemplate.Roles[1].Size = new(int32(2))
	for i := range s.Spec.GroupTemplate.Roles {
		s.Spec.GroupTemplate.Roles[i].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{PodUpdatePolicy: rbgsv1.PodUpdateInPlaceIfPossible}
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	setRunning(t, ns, "ips", 2)
	before := map[string]string{}
	for _, g := range []string{"ips-0", "ips-1"} {
		maps.Copy(before, placed(t, ns, g))
	}
	const image = "registry.example.com/llm-server:v2"
	update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
		for i := range s.Spec.GroupTemplate.Roles {
			s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = image
		}
	})
	for _, g := range []string{"ips-0", "ips-1"} {
		runImage(t, ns, g, "decode", image, 2)
		runImage(t, ns, g, "worker", image, 2)
	}
	st := setRunning(t, ns, "ips", 2)
	if st.Status.UpdatedGroups != 2 || st.Status.CurrentRevision != st.Status.UpdateRevision {
		t.Errorf("set at %d updated groups, revisions %s -> %s", st.Status.UpdatedGroups, st.Status.CurrentRevision, st.Status.UpdateRevision)
	}
	after := map[string]string{}
	for _, g := range []string{"ips-0", "ips-1"} {
		maps.Copy(after, placed(t, ns, g))
	}
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pods moved on a set's image rollout:\nbefore %v\nafter  %v", before, after)
	}
	for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "ips"}) {
		if p.Labels[rbgsv1.LabelGroupRevision] != st.Status.UpdateRevision {
			t.Errorf("pod %s labelled with revision %q, want the set's %q", p.Name, p.Labels[rbgsv1.LabelGroupRevision], st.Status.UpdateRevision)
		}
	}
}
