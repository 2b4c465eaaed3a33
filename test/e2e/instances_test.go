package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/audit"
	"github.com/openpatio/rbgs/test/wrappers"
)

// instanceKey names one instance of a role of a group.
type instanceKey struct{ group, role, instance string }

func keyOf(p *corev1.Pod) instanceKey {
	return instanceKey{p.Labels[rbgsv1.LabelGroupName], p.Labels[rbgsv1.LabelRole], p.Labels[rbgsv1.LabelInstance]}
}

// mixSampler checks, every 100 ms, that the pods of each instance (those
// terminating included) run one pod template revision.
type mixSampler struct {
	mu      sync.Mutex
	mixed   []string
	samples int
	// seen are the revisions each instance was seen running over time.
	seen map[instanceKey]map[string]bool
	// finish stops the sampling and waits for the last sample.
	finish func()
}

func sampleMixes(t *testing.T, ns string) *mixSampler {
	s := &mixSampler{seen: map[instanceKey]map[string]bool{}}
	s.finish = sampleEvery(t, 100*time.Millisecond, func() {
		var l corev1.PodList
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns), client.HasLabels{rbgsv1.LabelInstance}); err != nil {
			return
		}
		revisions := map[instanceKey]map[string]bool{}
		for i := range l.Items {
			k := keyOf(&l.Items[i])
			if revisions[k] == nil {
				revisions[k] = map[string]bool{}
			}
			revisions[k][l.Items[i].Labels[appsv1.ControllerRevisionHashLabelKey]] = true
		}
		s.mu.Lock()
		s.samples++
		for k, revs := range revisions {
			if len(revs) > 1 {
				s.mixed = append(s.mixed, fmt.Sprintf("%v: %v", k, slices.Sorted(maps.Keys(revs))))
			}
			if s.seen[k] == nil {
				s.seen[k] = map[string]bool{}
			}
			maps.Copy(s.seen[k], revs)
		}
		s.mu.Unlock()
	})
	return s
}

// uidsBy maps the pods of the namespace to their UIDs, by name.
func uidsBy(t *testing.T, ns string) map[string]types.UID {
	t.Helper()
	out := map[string]types.UID{}
	for _, p := range pods(t, ns, map[string]string{}) {
		out[p.Name] = p.UID
	}
	return out
}

// A set of two groups whose roles run multi-pod instances, on the real
// StatefulSet controller: prefill of 2 instances of 2 pods, decode of 1
// instance of 4 pods depending on prefill.
func TestMultiPodInstances(t *testing.T) {
	ns := namespace(t, "e2e-instances")
	s := wrappers.MakeSet("mn", ns).Replicas(2).Role("prefill", 2).Role("decode", 1, "prefill").Obj()
	s.Spec.GroupTemplate.Roles[0].Size = new(int32(2))
	s.Spec.GroupTemplate.Roles[1].Size = new(int32(4))
	writes := &audit.Log{Path: os.Getenv("RBGS_E2E_AUDIT_LOG"), User: "rbgs-operator", Namespace: ns}
	if err := writes.Mark(); err != nil {
		t.Fatalf("the audit log (RBGS_E2E_AUDIT_LOG): %v", err)
	}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}

	t.Run("ordered startup by instances", func(t *testing.T) {
		setRunning(t, ns, "mn", 2)
		for _, g := range []string{"mn-0", "mn-1"} {
			prefill := roleReady(t, ns, g, "prefill", 4)
			roleReady(t, ns, g, "decode", 4)
			var lastReady time.Time
			for i := range prefill {
				if _, at := podReady(&prefill[i]); at.After(lastReady) {
					lastReady = at
				}
			}
			var sts appsv1.StatefulSet
			if err := get(ns, g+"-decode-0", &sts); err != nil {
				t.Fatal(err)
			}
			if sts.CreationTimestamp.Time.Before(lastReady.Truncate(time.Second)) {
				t.Errorf("%s: decode's instance created at %s, before every prefill pod was Ready (%s)", g, sts.CreationTimestamp, lastReady)
			}
			for _, name := range []string{g + "-prefill-0", g + "-prefill-1"} {
				if err := get(ns, name, &sts); err != nil || *sts.Spec.Replicas != 2 || sts.Spec.ServiceName != g+"-prefill" {
					t.Errorf("instance StatefulSet %s: %v %+v", name, err, sts.Spec)
				}
			}
		}
		st := setRunning(t, ns, "mn", 2)
		for _, gs := range st.Status.Groups {
			for _, r := range gs.Roles {
				if r.Role == "decode" && (r.Size != 4 || r.ReadyPods != 4 || r.ReadyReplicas != 1) {
					t.Errorf("%s decode status %+v", gs.Name, r)
				}
			}
		}
	})

	t.Run("every pod told its place", func(t *testing.T) {
		// The admission policy labels each pod as it is created: the
		// operator patches none.
		for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "mn"}) {
			if want := p.Labels[appsv1.PodIndexLabel]; p.Labels[rbgsv1.LabelWorkerIndex] != want {
				t.Errorf("pod %s worker index %q, want %q", p.Name, p.Labels[rbgsv1.LabelWorkerIndex], want)
			}
		}
		counts, err := writes.Count()
		if err != nil {
			t.Fatal(err)
		}
		if n := counts.WritesBy["patch pods"]; n != 0 {
			t.Errorf("the operator patched %d pods; the admission policy labels them", n)
		}
		// A worker index taken off a pod is put back by the operator, once.
		kubectl(t, "-n", ns, "label", "pod", "mn-0-decode-0-3", rbgsv1.LabelWorkerIndex+"-")
		eventually(t, "worker index put back", 30*time.Second, func() error {
			var p corev1.Pod
			if err := get(ns, "mn-0-decode-0-3", &p); err != nil {
				return err
			}
			if p.Labels[rbgsv1.LabelWorkerIndex] != "3" {
				return fmt.Errorf("worker index %q", p.Labels[rbgsv1.LabelWorkerIndex])
			}
			return nil
		})
		if counts, err = writes.Count(); err != nil {
			t.Fatal(err)
		}
		if n := counts.WritesTo["patch pods mn-0-decode-0-3"]; n != 1 || counts.WritesBy["patch pods"] != 1 {
			t.Errorf("the operator patched the pod %d times, %d pods in all; want the one, once", n, counts.WritesBy["patch pods"])
		}
		leaders := pods(t, ns, map[string]string{rbgsv1.LabelSetName: "mn", rbgsv1.LabelWorkerIndex: "0"})
		if len(leaders) != 6 {
			t.Errorf("%d leaders selected, want 6 (2 groups x (2 prefill + 1 decode))", len(leaders))
		}
		out := plugin(t, "-n", ns, "config", "mn", "1", "decode", "0", "2")
		for _, want := range []string{
			"# pod mn-1-decode-0-2: /etc/rbgs/cluster.yaml (ConfigMap mn-1-rbgs-cluster-decode-0, key decode.0.2.yaml)",
			"    rank: 0\n    workerIndex: 2\n    size: 4\n    leaderAddress: \"mn-1-decode-0-0.mn-1-decode:8080\"\n",
			"        - address: \"mn-1-prefill-1-0.mn-1-prefill:8080\"\n          workers:\n            - \"mn-1-prefill-1-0.mn-1-prefill:8080\"\n            - \"mn-1-prefill-1-1.mn-1-prefill:8080\"\n",
			"RBGS_LOCAL_RANK=0\n", "RBGS_LOCAL_WORKER_INDEX=2\n", "RBGS_INSTANCE_SIZE=4\n",
			"RBGS_LEADER_ADDRESS=mn-1-decode-0-0.mn-1-decode:8080\n", "LWS_LEADER_ADDRESS=mn-1-decode-0-0.mn-1-decode\n",
			"LWS_GROUP_SIZE=4\n", "LWS_WORKER_INDEX=2\n", "RBGS_ROLES_PREFILL_1_ADDRESS=mn-1-prefill-1-0.mn-1-prefill:8080\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl rbgs config: missing %q in:\n%s", want, out)
			}
		}
		var p corev1.Pod
		if err := get(ns, "mn-1-decode-0-2", &p); err != nil {
			t.Fatal(err)
		}
		if m := p.Spec.Containers[0].VolumeMounts; !slices.ContainsFunc(m, func(v corev1.VolumeMount) bool {
			return v.MountPath == rbgsv1.ClusterConfigPath && v.SubPathExpr == "decode.0.$(RBGS_LOCAL_WORKER_INDEX).yaml"
		}) {
			t.Errorf("cluster.yaml mount %+v", m)
		}
	})

	t.Run("a restarted worker recreates its instance alone", func(t *testing.T) {
		before := uidsBy(t, ns)
		var worker corev1.Pod
		if err := get(ns, "mn-0-prefill-1-1", &worker); err != nil {
			t.Fatal(err)
		}
		restartContainer(t, &worker, 1, time.Now())
		recreated := []string{"mn-0-prefill-1-0", "mn-0-prefill-1-1"}
		eventually(t, "instance 1 of prefill recreated", 60*time.Second, func() error {
			now := uidsBy(t, ns)
			for name, uid := range before {
				if slices.Contains(recreated, name) == (now[name] == uid) {
					return fmt.Errorf("pod %s: recreated %v", name, now[name] != uid)
				}
			}
			return nil
		})
		roleReady(t, ns, "mn-0", "prefill", 4)
		g := groupPhase(t, ns, "mn-0", rbgsv1.PhaseRunning)
		if l := g.Status.LastRestart; g.Status.Restarts != 1 || l == nil || l.Role != "prefill" || l.Instance == nil || *l.Instance != 1 {
			t.Errorf("restarts %d, last %+v", g.Status.Restarts, l)
		}
		wantEvent(t, ns, "mn-0", "InstanceRecreated")
		// Once: the replacement pods are new, their restart counts zero.
		after := uidsBy(t, ns)
		for name, uid := range after {
			if !slices.Contains(recreated, name) && before[name] != uid {
				t.Errorf("pod %s replaced too", name)
			}
		}
	})

	t.Run("a template change never mixes versions in an instance", func(t *testing.T) {
		mixes := sampleMixes(t, ns)
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			for i := range s.Spec.GroupTemplate.Roles {
				s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
			}
		})
		st := setRunning(t, ns, "mn", 2)
		if st.Status.UpdatedGroups != 2 {
			t.Errorf("updated %d", st.Status.UpdatedGroups)
		}
		eventually(t, "every pod at v2", 60*time.Second, func() error {
			for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelSetName: "mn"}) {
				if p.Spec.Containers[0].Image != "registry.example.com/llm-server:v2" || !p.DeletionTimestamp.IsZero() {
					return fmt.Errorf("pod %s runs %s", p.Name, p.Spec.Containers[0].Image)
				}
			}
			return nil
		})
		mixes.finish()
		if len(mixes.mixed) > 0 {
			t.Errorf("%d samples; instances mixing versions: %v", mixes.samples, mixes.mixed)
		}
		// Proof the samples saw the replacements: each of the 6 instances
		// seen at its old revision and at its new one.
		for k, revs := range mixes.seen {
			if len(revs) != 2 {
				t.Errorf("instance %v seen at revisions %v over %d samples", k, slices.Sorted(maps.Keys(revs)), mixes.samples)
			}
		}
		if len(mixes.seen) != 6 {
			t.Errorf("%d instances seen, want 6", len(mixes.seen))
		}
	})

	t.Run("scale to 3 instances and back", func(t *testing.T) {
		before := uidsBy(t, ns)
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[0].Replicas = new(int32(3)) })
		setRunning(t, ns, "mn", 2)
		for _, g := range []string{"mn-0", "mn-1"} {
			roleReady(t, ns, g, "prefill", 6)
		}
		for name, uid := range uidsBy(t, ns) {
			if old, ok := before[name]; ok && old != uid {
				t.Errorf("pod %s replaced by a scale-up", name)
			}
		}
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) { s.Spec.GroupTemplate.Roles[0].Replicas = new(int32(2)) })
		for _, g := range []string{"mn-0", "mn-1"} {
			roleReady(t, ns, g, "prefill", 4)
			gone(t, ns, map[string]string{rbgsv1.LabelGroupName: g, rbgsv1.LabelRole: "prefill", rbgsv1.LabelInstance: "2"})
		}
		setRunning(t, ns, "mn", 2)
		for name, uid := range uidsBy(t, ns) {
			if before[name] != uid {
				t.Errorf("pod %s is not one of those before the scale", name)
			}
		}
	})

	t.Run("deleting the set leaves nothing behind", func(t *testing.T) {
		if err := k8s.Delete(context.Background(), s); err != nil {
			t.Fatal(err)
		}
		gone(t, ns, map[string]string{rbgsv1.LabelSetName: "mn"})
	})
}
