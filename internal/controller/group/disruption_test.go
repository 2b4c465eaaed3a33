package group

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// A pod of an instance that was evicted, or that took the name of a member
// of an instance seen whole, is a disruption; members of an instance that
// is still starting, however far apart they come, are not, and neither is
// a pod of a role of size 1 (its StatefulSet replaces it alone).
func TestFirstDisruption(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 1).Size(2).Role("router", 1).Obj()
	tp := topology.Resolve(g)
	member := func(j int, uid string, created time.Time, ready bool) corev1.Pod {
		p := pod("g-decode-0-"+string(rune('0'+j)), "decode", created, 0)
		p.UID = types.UID(uid)
		p.Labels[rbgsv1.LabelInstance] = "0"
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		return p
	}
	// The restart policies took effect long before the pods.
	since := metav1.NewTime(t0.Add(-time.Hour))
	st := &rbgsv1.RoleBasedGroupStatus{Roles: []rbgsv1.RoleStatus{{Role: "decode", RecreateSince: &since}, {Role: "router", RecreateSince: &since}}}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	// Starting: the leader Ready seconds before its worker is created.
	starting := []corev1.Pod{member(0, "a", at(0), true)}
	whole := wholeMembers(nil, tp, starting)
	starting = append(starting, member(1, "b", at(5), false))
	if p, why := firstDisruption(g, st, starting, whole); p != nil {
		t.Errorf("a starting instance taken for a disrupted one: %s %s", p.Name, why)
	}
	whole = wholeMembers(whole, tp, starting)
	steady := []corev1.Pod{member(0, "a", at(0), true), member(1, "b", at(5), true)}
	if p, why := firstDisruption(g, st, steady, whole); p != nil {
		t.Errorf("a steady instance disrupted: %s %s", p.Name, why)
	}
	whole = wholeMembers(whole, tp, steady)
	if len(whole["decode/0"]) != 2 {
		t.Fatalf("the whole instance is not remembered: %v", whole)
	}

	evicted := []corev1.Pod{steady[0], steady[1]}
	evicted[1].Status.Conditions = append([]corev1.PodCondition{}, evicted[1].Status.Conditions...)
	evicted[1].Status.Conditions = append(evicted[1].Status.Conditions,
		corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"})
	if p, why := firstDisruption(g, st, evicted, whole); p == nil || p.Name != "g-decode-0-1" || !strings.Contains(why, "EvictionByEvictionAPI") {
		t.Errorf("eviction: %v %q", p, why)
	}

	// The worker went unseen; its StatefulSet made another of its name.
	replaced := []corev1.Pod{steady[0], member(1, "c", at(60), false)}
	if p, why := firstDisruption(g, st, replaced, whole); p == nil || p.Name != "g-decode-0-1" || !strings.Contains(why, "replaced a member") {
		t.Errorf("a member replaced: %v %q", p, why)
	}

	// Emptied (a recreation, an update) and filled again: new members.
	emptied := wholeMembers(whole, tp, nil)
	refilled := []corev1.Pod{member(0, "d", at(90), true), member(1, "e", at(93), false)}
	if p, why := firstDisruption(g, st, refilled, emptied); p != nil {
		t.Errorf("a refilled instance taken for a disrupted one: %s %s", p.Name, why)
	}

	router := pod("g-router-0", "router", t0.Time, 0)
	router.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler"}}
	if p, _ := firstDisruption(g, st, []corev1.Pod{router}, whole); p != nil {
		t.Errorf("a pod of size 1 taken for an instance's disruption: %s", p.Name)
	}

	// A restarted operator remembers no instance: a member is known as a
	// replacement by coming a minute or more after another turned Ready.
	readySince := func(p corev1.Pod, s int) corev1.Pod {
		p.Status.Conditions[0].LastTransitionTime = metav1.NewTime(at(s))
		return p
	}
	for _, tc := range []struct {
		name   string
		worker int // created, in seconds after the leader turned Ready
		whole  wholeInstances
		want   bool
	}{
		{"created with its leader", 5, nil, false},
		{"created 59 s after its leader turned Ready", 59, nil, false},
		{"created 2 min after its leader turned Ready", 120, nil, true},
		{"late, but seen whole with it since", 120, wholeInstances{"decode/0": {"g-decode-0-0": "a", "g-decode-0-1": "f"}}, false},
	} {
		pods := []corev1.Pod{readySince(member(0, "a", at(0), true), 1), readySince(member(1, "f", at(1+tc.worker), true), 2+tc.worker)}
		p, why := firstDisruption(g, st, pods, tc.whole)
		if (p != nil) != tc.want {
			t.Errorf("%s: disrupted %v (%q), want %v", tc.name, p != nil, why, tc.want)
		}
		if tc.want && (p.Name != "g-decode-0-1" || !strings.Contains(why, "created 2m0s after g-decode-0-0 was Ready")) {
			t.Errorf("%s: %s %q", tc.name, p.Name, why)
		}
	}
}
