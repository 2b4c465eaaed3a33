package apply_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/openpatio/rbgs/internal/apply"
)

func TestMemo(t *testing.T) {
	m := apply.NewMemo()
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{UID: "s", Generation: 3, Labels: map[string]string{"a": "1"}}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{UID: "c", ResourceVersion: "10"}}
	if m.Fresh("g", sts, "i1") {
		t.Fatal("fresh before anything was remembered")
	}
	m.Remember("g", sts, "i1")
	m.Remember("g", cm, "i1")
	if !m.Fresh("g", sts, "i1") || !m.Fresh("g", cm, "i1") {
		t.Fatal("not fresh right after Remember")
	}
	if m.Fresh("g", sts, "i2") {
		t.Error("fresh for another intent")
	}
	sts.ResourceVersion = "99" // a status update: generation and metadata unchanged
	if !m.Fresh("g", sts, "i1") {
		t.Error("a status update made the StatefulSet stale")
	}
	sts.Generation, sts.ResourceVersion = 4, "100" // someone edited the spec
	if m.Fresh("g", sts, "i1") {
		t.Error("a spec edit went unnoticed")
	}
	sts.Generation, sts.ResourceVersion = 3, "101"
	sts.Labels["a"] = "2"
	if m.Fresh("g", sts, "i1") {
		t.Error("a label edit went unnoticed")
	}
	sts.Labels["a"], sts.ResourceVersion = "1", "102"
	if !m.Fresh("g", sts, "i1") {
		t.Error("the StatefulSet as remembered, at a later version, is stale")
	}
	sts.Labels["a"] = "2" // a version compared before is not compared again
	if !m.Fresh("g", sts, "i1") {
		t.Error("the fingerprint of a version already compared was computed again")
	}
	sts.Labels["a"] = "1"
	cm.ResourceVersion = "11"
	if m.Fresh("g", cm, "i1") {
		t.Error("a ConfigMap edit went unnoticed")
	}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{UID: "o", ResourceVersion: "5"}}
	if !m.Settled("g", other) {
		t.Error("an object this operator never wrote is not settled")
	}
	if m.Settled("g", cm) {
		t.Error("a version older than the last write is settled")
	}
	cm.ResourceVersion = "10"
	if !m.Settled("g", cm) {
		t.Error("the version of the last write is not settled")
	}
	cm.ResourceVersion = "11"
	m.Retain("g", map[types.UID]bool{"c": true})
	if m.Fresh("g", sts, "i1") {
		t.Error("a child left out of Retain is still remembered")
	}
	m.Retain("g", nil)
	cm.ResourceVersion = "10"
	if m.Fresh("g", cm, "i1") {
		t.Error("Retain(nil) kept entries")
	}
}

func TestMapHash(t *testing.T) {
	a := map[string]string{"app": "x", "tier": "y"}
	cases := []struct {
		name string
		m    map[string]string
		same bool
	}{
		{"same entries", map[string]string{"tier": "y", "app": "x"}, true},
		{"value changed", map[string]string{"app": "x", "tier": "z"}, false},
		{"entry added", map[string]string{"app": "x", "tier": "y", "new": ""}, false},
		{"key and value swapped", map[string]string{"x": "app", "tier": "y"}, false},
		{"boundary moved", map[string]string{"ap": "px", "tier": "y"}, false},
		{"empty", nil, false},
	}
	for _, c := range cases {
		if got := apply.MapHash(c.m) == apply.MapHash(a); got != c.same {
			t.Errorf("%s: equal hash = %v, want %v", c.name, got, c.same)
		}
	}
	if n := testing.AllocsPerRun(100, func() { apply.MapHash(a) }); n != 0 {
		t.Errorf("MapHash allocates %v times", n)
	}
}
