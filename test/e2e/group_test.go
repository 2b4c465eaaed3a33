package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/test/wrappers"
)

// The seed example as a standalone group, on the real StatefulSet
// controller: ordered startup, discovery, scaling, role extension, deletion.
func TestGroupEndToEnd(t *testing.T) {
	ns := namespace(t, "e2e-group")
	g := wrappers.MakeGroup("seed", ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatal(err)
	}

	t.Run("prefill is Ready before the decode StatefulSet exists", func(t *testing.T) {
		prefill := roleReady(t, ns, "seed", "prefill", 2)
		var decode appsv1.StatefulSet
		eventually(t, "decode StatefulSet", 60*time.Second, func() error { return get(ns, "seed-decode", &decode) })
		for i := range prefill {
			_, readyAt := podReady(&prefill[i])
			if decode.CreationTimestamp.Time.Before(readyAt.Truncate(time.Second)) {
				t.Errorf("decode StatefulSet created at %s, before %s was Ready at %s",
					decode.CreationTimestamp, prefill[i].Name, readyAt)
			}
		}
		roleReady(t, ns, "seed", "decode", 2)
		groupPhase(t, ns, "seed", rbgsv1.PhaseRunning)
	})

	t.Run("discovery in pod specs and ConfigMaps", func(t *testing.T) {
		var pod corev1.Pod
		if err := get(ns, "seed-decode-1", &pod); err != nil {
			t.Fatal(err)
		}
		c := pod.Spec.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if env["RBGS_LOCAL_ROLE"].Value != "decode" || env["RBGS_GROUP_NAME"].Value != "seed" ||
			env["RBGS_LOCAL_RANK"].ValueFrom == nil || pod.Labels["apps.kubernetes.io/pod-index"] != "1" {
			t.Errorf("env %v, labels %v", env, pod.Labels)
		}
		if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef.Name != "seed-rbgs-env" {
			t.Errorf("envFrom %+v", c.EnvFrom)
		}
		if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.MountPath == "/etc/rbgs/cluster.yaml" && m.SubPathExpr == "decode.$(RBGS_LOCAL_RANK).yaml"
		}) {
			t.Errorf("mounts %+v", c.VolumeMounts)
		}
		var files, envs corev1.ConfigMap
		if err := get(ns, "seed-rbgs-cluster", &files); err != nil {
			t.Fatal(err)
		}
		f := files.Data["decode.1.yaml"]
		for _, want := range []string{
			"  local:\n    role: \"decode\"\n    rank: 1\n",
			`- address: "seed-prefill-0.seed-prefill:8080"`,
			`- address: "seed-prefill-1.seed-prefill:8080"`,
			`- address: "seed-decode-1.seed-decode:8080"`,
		} {
			if !strings.Contains(f, want) {
				t.Errorf("decode.1.yaml lacks %q:\n%s", want, f)
			}
		}
		if err := get(ns, "seed-rbgs-env", &envs); err != nil {
			t.Fatal(err)
		}
		if envs.Data["RBGS_ROLES_PREFILL_0_ADDRESS"] != "seed-prefill-0.seed-prefill:8080" {
			t.Errorf("env ConfigMap %v", envs.Data)
		}
	})

	t.Run("scaling prefill leaves decode alone", func(t *testing.T) {
		var decode appsv1.StatefulSet
		if err := get(ns, "seed-decode", &decode); err != nil {
			t.Fatal(err)
		}
		before := pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "seed", rbgsv1.LabelRole: "decode"})
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(3)) })
		roleReady(t, ns, "seed", "prefill", 3)
		groupPhase(t, ns, "seed", rbgsv1.PhaseRunning)
		var after appsv1.StatefulSet
		if err := get(ns, "seed-decode", &after); err != nil {
			t.Fatal(err)
		}
		if after.Generation != decode.Generation || after.Status.UpdateRevision != decode.Status.UpdateRevision ||
			after.Status.CurrentRevision != decode.Status.CurrentRevision {
			t.Errorf("decode StatefulSet changed: generation %d -> %d, revision %s -> %s",
				decode.Generation, after.Generation, decode.Status.UpdateRevision, after.Status.UpdateRevision)
		}
		for _, p := range pods(t, ns, map[string]string{rbgsv1.LabelGroupName: "seed", rbgsv1.LabelRole: "decode"}) {
			if !slices.ContainsFunc(before, func(b corev1.Pod) bool { return b.UID == p.UID }) {
				t.Errorf("decode pod %s was replaced", p.Name)
			}
		}
		var envs corev1.ConfigMap
		if err := get(ns, "seed-rbgs-env", &envs); err != nil {
			t.Fatal(err)
		}
		if envs.Data["RBGS_ROLES_PREFILL_2_ADDRESS"] != "seed-prefill-2.seed-prefill:8080" {
			t.Errorf("prefill-2 missing from discovery: %v", envs.Data)
		}
	})

	t.Run("adding and removing a role", func(t *testing.T) {
		update(t, g, func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles = append(g.Spec.Roles, wrappers.RoleSpec("postprocess", 1, "decode"))
		})
		roleReady(t, ns, "seed", "postprocess", 1)
		groupPhase(t, ns, "seed", rbgsv1.PhaseRunning)
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles = g.Spec.Roles[:2] })
		gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "seed", rbgsv1.LabelRole: "postprocess"})
		var files corev1.ConfigMap
		if err := get(ns, "seed-rbgs-cluster", &files); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(files.Data["cluster.yaml"], "postprocess") {
			t.Errorf("postprocess still in discovery")
		}
		// The ConfigMaps were created, then applied: the apply owns every
		// field the create set, so the keys of the removed role are gone.
		if _, ok := files.Data["postprocess.0.yaml"]; ok {
			t.Errorf("postprocess.0.yaml left in %s", files.Name)
		}
		var envs corev1.ConfigMap
		if err := get(ns, "seed-rbgs-env", &envs); err != nil {
			t.Fatal(err)
		}
		for k := range envs.Data {
			if strings.Contains(k, "POSTPROCESS") {
				t.Errorf("%s left in %s", k, envs.Name)
			}
		}
		for _, cm := range []corev1.ConfigMap{files, envs} {
			for _, e := range cm.ManagedFields {
				if e.Manager == apply.FieldOwner && e.Operation != metav1.ManagedFieldsOperationApply {
					t.Errorf("%s: the operator's fields are still held by its %s entry", cm.Name, e.Operation)
				}
			}
		}
	})

	t.Run("deleting the group leaves nothing behind", func(t *testing.T) {
		if err := k8s.Delete(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		gone(t, ns, map[string]string{rbgsv1.LabelGroupName: "seed"})
		var l rbgsv1.RoleBasedGroupList
		eventually(t, "group deleted", 30*time.Second, func() error {
			if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
				return err
			}
			if len(l.Items) > 0 {
				return fmt.Errorf("%d groups left", len(l.Items))
			}
			return nil
		})
	})
}

// An object that holds the name of a child and is not the group's is left
// alone and reported; the group starts once the name is free.
func TestNameConflictLeavesObjectAlone(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "e2e-conflict")
	mine := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "clash-rbgs-env", Namespace: ns}, Data: map[string]string{"mine": "yes"}}
	if err := k8s.Create(ctx, mine); err != nil {
		t.Fatal(err)
	}
	g := wrappers.MakeGroup("clash", ns).Role("prefill", 1).Obj()
	if err := k8s.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	eventually(t, "NameConflict event", 30*time.Second, func() error {
		var l eventsv1.EventList
		if err := k8s.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range l.Items {
			if e.Regarding.Name == "clash" && e.Reason == "NameConflict" {
				if !strings.Contains(e.Note, "ConfigMap "+ns+"/clash-rbgs-env already exists and is not controlled by RoleBasedGroup clash") {
					t.Errorf("event note %q", e.Note)
				}
				return nil
			}
		}
		return fmt.Errorf("no NameConflict event among %d", len(l.Items))
	})
	eventually(t, "NameConflict in the group's status", 30*time.Second, func() error {
		var got rbgsv1.RoleBasedGroup
		if err := get(ns, "clash", &got); err != nil {
			return err
		}
		c := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != "NameConflict" || !strings.Contains(c.Message, "ConfigMap "+ns+"/clash-rbgs-env") {
			return fmt.Errorf("phase %q, Ready %+v", got.Status.Phase, c)
		}
		return nil
	})
	var cm corev1.ConfigMap
	if err := get(ns, mine.Name, &cm); err != nil {
		t.Fatal(err)
	}
	if len(cm.OwnerReferences) > 0 || len(cm.Data) != 1 || cm.Data["mine"] != "yes" || len(cm.Labels) > 0 {
		t.Errorf("the ConfigMap was changed: owners %v, labels %v, data %v", cm.OwnerReferences, cm.Labels, cm.Data)
	}
	var sts appsv1.StatefulSet
	if err := get(ns, "clash-prefill", &sts); !apierrors.IsNotFound(err) {
		t.Errorf("prefill StatefulSet created without its discovery files: %v", err)
	}
	if err := k8s.Delete(ctx, &cm); err != nil {
		t.Fatal(err)
	}
	roleReady(t, ns, "clash", "prefill", 1)
	groupPhase(t, ns, "clash", rbgsv1.PhaseRunning)
}

// A dependency cycle is refused at kubectl apply, with the cycle named.
func TestCycleRefusedAtApply(t *testing.T) {
	ns := namespace(t, "e2e-admission")
	manifest := `apiVersion: openpatio.io/v1alpha1
kind: RoleBasedGroup
metadata: {name: loop}
spec:
  roles:
    - {role: router, dependencies: [decode], template: {spec: {containers: [{name: c, image: x}]}}}
    - {role: decode, dependencies: [router], template: {spec: {containers: [{name: c, image: x}]}}}
`
	cmd := exec.Command(filepath.Join(root, "bin", "kubectl"), "--kubeconfig", kubeconfig, "-n", ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "dependency cycle router -> decode -> router") {
		t.Errorf("kubectl apply: %v\n%s", err, out)
	}
}
