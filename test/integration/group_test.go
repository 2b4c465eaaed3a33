package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	groupctrl "github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/test/wrappers"
)

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// update re-reads obj, applies change and writes it, retrying on conflicts.
func update[T client.Object](t *testing.T, obj T, change func(T)) {
	t.Helper()
	eventually(t, "updating "+obj.GetName(), func() error {
		if err := get(t, obj.GetNamespace(), obj.GetName(), obj); err != nil {
			return err
		}
		change(obj)
		return k8s.Update(context.Background(), obj)
	})
}

// The seed example as a standalone group: prefill first, decode only once
// prefill is Ready, then Running.
func TestGroupOrderedStartup(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("demo", ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj())

	for _, name := range []string{"demo-rbgs-cluster", "demo-rbgs-env"} {
		eventually(t, "ConfigMap "+name, func() error { return exists(t, ns, name, &corev1.ConfigMap{}) })
	}
	eventually(t, "prefill StatefulSet", func() error { return exists(t, ns, "demo-prefill", &appsv1.StatefulSet{}) })
	eventually(t, "prefill Service", func() error { return exists(t, ns, "demo-prefill", &corev1.Service{}) })
	// The status says decode waits for prefill: the reconcile that wrote it
	// decided not to create decode.
	g := groupPhase(t, ns, "demo", rbgsv1.PhasePending)
	if w := g.Status.Roles[1].WaitingFor; len(w) != 1 || w[0] != "prefill" {
		t.Errorf("decode waitingFor = %v", w)
	}
	for _, obj := range []client.Object{&appsv1.StatefulSet{}, &corev1.Service{}} {
		if err := absent(t, ns, "demo-decode", obj); err != nil {
			t.Errorf("decode created before prefill is ready: %v", err)
		}
	}

	markStatefulSetReady(t, ns, "demo-prefill")
	eventually(t, "decode StatefulSet", func() error { return exists(t, ns, "demo-decode", &appsv1.StatefulSet{}) })
	groupPhase(t, ns, "demo", rbgsv1.PhasePending)
	markStatefulSetReady(t, ns, "demo-decode")
	g = groupPhase(t, ns, "demo", rbgsv1.PhaseRunning)
	ready := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionReady)
	if ready == nil || ready.Status != "True" || ready.ObservedGeneration != g.Generation {
		t.Errorf("Ready condition = %+v", ready)
	}
	wantEvents(t, ns, "demo", "RoleStarted", "GroupRunning")
}

func TestGroupParallelStartup(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("par", ns).StartupPolicy(rbgsv1.StartupParallel).
		Role("prefill", 1).Role("decode", 1, "prefill").Obj())
	for _, name := range []string{"par-prefill", "par-decode"} {
		eventually(t, "StatefulSet "+name, func() error { return exists(t, ns, name, &appsv1.StatefulSet{}) })
	}
}

// Children carry the labels and owner the contract promises, and pods get
// discovery through ConfigMaps only.
func TestGroupChildren(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("kids", ns).Label(rbgsv1.LabelSetName, "fleet").Label(rbgsv1.LabelGroupIndex, "3").
		Role("prefill", 2).Obj()
	create(t, g)
	var sts appsv1.StatefulSet
	eventually(t, "StatefulSet", func() error { return exists(t, ns, "kids-prefill", &sts) })
	if ref := sts.OwnerReferences; len(ref) != 1 || ref[0].UID != g.UID || !*ref[0].Controller {
		t.Errorf("owner references = %+v", ref)
	}
	if sts.Spec.ServiceName != "kids-prefill" {
		t.Errorf("serviceName = %q", sts.Spec.ServiceName)
	}
	l := sts.Spec.Template.Labels
	if l[rbgsv1.LabelRole] != "prefill" || l[rbgsv1.LabelGroupName] != "kids" || l[rbgsv1.LabelSetName] != "fleet" || l[rbgsv1.LabelGroupIndex] != "3" {
		t.Errorf("pod labels = %v", l)
	}
	var svc corev1.Service
	eventually(t, "Service", func() error { return exists(t, ns, "kids-prefill", &svc) })
	if svc.Spec.ClusterIP != "None" || svc.Spec.Selector[rbgsv1.LabelRole] != "prefill" || svc.Spec.Selector[rbgsv1.LabelGroupName] != "kids" {
		t.Errorf("Service spec = %+v", svc.Spec)
	}
	var cm corev1.ConfigMap
	eventually(t, "cluster ConfigMap", func() error { return exists(t, ns, "kids-rbgs-cluster", &cm) })
	if f := cm.Data["prefill.1.yaml"]; !strings.Contains(f, `rank: 1`) || !strings.Contains(f, `set: "fleet"`) || !strings.Contains(f, "index: 3") {
		t.Errorf("prefill.1.yaml = %s", f)
	}
}

// Scaling one role touches that role's StatefulSet and the discovery
// ConfigMaps only: the other role's StatefulSet is not written at all.
func TestGroupScaleOneRole(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("scale", ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	create(t, g)
	eventually(t, "prefill", func() error { return exists(t, ns, "scale-prefill", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "scale-prefill")
	eventually(t, "decode", func() error { return exists(t, ns, "scale-decode", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "scale-decode")
	groupPhase(t, ns, "scale", rbgsv1.PhaseRunning)
	var decode appsv1.StatefulSet
	if err := get(t, ns, "scale-decode", &decode); err != nil {
		t.Fatal(err)
	}

	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(3)) })
	eventually(t, "prefill scaled", func() error {
		var s appsv1.StatefulSet
		if err := get(t, ns, "scale-prefill", &s); err != nil {
			return err
		}
		if *s.Spec.Replicas != 3 {
			return fmt.Errorf("replicas %d", *s.Spec.Replicas)
		}
		return nil
	})
	eventually(t, "discovery lists prefill-2", func() error {
		var env corev1.ConfigMap
		if err := get(t, ns, "scale-rbgs-env", &env); err != nil {
			return err
		}
		if env.Data["RBGS_ROLES_PREFILL_2_ADDRESS"] != "scale-prefill-2.scale-prefill:8080" {
			return fmt.Errorf("env data %v", env.Data)
		}
		return nil
	})
	// The group keeps serving what it served: Running, and Ready, while
	// prefill scales; Progressing says Scaling.
	eventually(t, "Running while scaling", func() error {
		var got rbgsv1.RoleBasedGroup
		if err := get(t, ns, "scale", &got); err != nil {
			return err
		}
		ready := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionReady)
		progressing := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionProgressing)
		if got.Status.ObservedGeneration != got.Generation || got.Status.Phase != rbgsv1.PhaseRunning || ready == nil || ready.Status != metav1.ConditionTrue ||
			progressing == nil || progressing.Status != metav1.ConditionTrue || progressing.Reason != "Scaling" {
			return fmt.Errorf("phase %s at %d/%d, Ready %+v, Progressing %+v", got.Status.Phase, got.Status.ObservedGeneration, got.Generation, ready, progressing)
		}
		return nil
	})
	markStatefulSetReady(t, ns, "scale-prefill")
	eventually(t, "scaled", func() error {
		var got rbgsv1.RoleBasedGroup
		if err := get(t, ns, "scale", &got); err != nil {
			return err
		}
		if c := apimeta.FindStatusCondition(got.Status.Conditions, rbgsv1.ConditionProgressing); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("Progressing %+v", c)
		}
		return nil
	})
	var after appsv1.StatefulSet
	if err := get(t, ns, "scale-decode", &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != decode.ResourceVersion || after.Generation != decode.Generation {
		t.Errorf("decode StatefulSet written when prefill scaled: rv %s -> %s", decode.ResourceVersion, after.ResourceVersion)
	}
}

// Once Running, nothing is written while nothing changes, a dependency
// failing makes the group Degraded without touching anything, and its
// recovery makes it Running again.
func TestGroupSteadyStateAndDegraded(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("steady", ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj())
	eventually(t, "prefill", func() error { return exists(t, ns, "steady-prefill", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "steady-prefill")
	eventually(t, "decode", func() error { return exists(t, ns, "steady-decode", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "steady-decode")
	groupPhase(t, ns, "steady", rbgsv1.PhaseRunning)

	before := versions(t, ns)
	// Wake the reconciler with a label change, which it watches, then make
	// a change of the spec that renders no child differently (maxRestarts)
	// on top of the version the label change left: the update fails if the
	// reconcile of the label change rewrote the status, and the status
	// reaching the new generation proves both were processed.
	g := &rbgsv1.RoleBasedGroup{ObjectMeta: objectMeta(ns, "steady")}
	update(t, g, func(o *rbgsv1.RoleBasedGroup) { o.Labels = map[string]string{"team": "inference"} })
	g.Spec.MaxRestarts = new(int32(5))
	if err := k8s.Update(context.Background(), g); err != nil {
		t.Fatalf("the group changed after a label change alone (its status rewritten?): %v", err)
	}
	groupPhase(t, ns, "steady", rbgsv1.PhaseRunning)
	after := versions(t, ns)
	delete(after, "RoleBasedGroup/steady")
	delete(before, "RoleBasedGroup/steady")
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("reconciles with nothing to render wrote:\nbefore %v\nafter  %v", before, after)
	}

	markStatefulSetUnready(t, ns, "steady-prefill")
	dg := groupPhase(t, ns, "steady", rbgsv1.PhaseDegraded)
	if c := apimeta.FindStatusCondition(dg.Status.Conditions, rbgsv1.ConditionReady); c.Reason != "RoleUnready" || c.Message != "roles not ready: prefill (1/2 ready)" {
		t.Errorf("Ready condition = %+v", c)
	}
	if err := exists(t, ns, "steady-decode", &appsv1.StatefulSet{}); err != nil {
		t.Errorf("decode torn down by its dependency failing: %v", err)
	}
	wantEvents(t, ns, "steady", "RoleUnready")
	markStatefulSetReady(t, ns, "steady-prefill")
	groupPhase(t, ns, "steady", rbgsv1.PhaseRunning)
}

// Objects edited or deleted behind the operator's back are put back.
func TestGroupRevertsOutOfBandChanges(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("oob", ns).Role("prefill", 2).Obj())
	var sts appsv1.StatefulSet
	eventually(t, "prefill", func() error { return exists(t, ns, "oob-prefill", &sts) })

	update(t, &sts, func(s *appsv1.StatefulSet) { s.Spec.Replicas = new(int32(7)) })
	eventually(t, "replicas reverted", func() error {
		var s appsv1.StatefulSet
		if err := get(t, ns, "oob-prefill", &s); err != nil {
			return err
		}
		if *s.Spec.Replicas != 2 {
			return fmt.Errorf("replicas %d", *s.Spec.Replicas)
		}
		return nil
	})
	update(t, &sts, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "other:2" })
	eventually(t, "image reverted", func() error {
		var s appsv1.StatefulSet
		if err := get(t, ns, "oob-prefill", &s); err != nil {
			return err
		}
		if img := s.Spec.Template.Spec.Containers[0].Image; img != wrappers.Image {
			return fmt.Errorf("image %s", img)
		}
		return nil
	})
	for _, obj := range []client.Object{
		&corev1.Service{ObjectMeta: objectMeta(ns, "oob-prefill")},
		&corev1.ConfigMap{ObjectMeta: objectMeta(ns, "oob-rbgs-env")},
		&appsv1.StatefulSet{ObjectMeta: objectMeta(ns, "oob-prefill")},
	} {
		old := obj.DeepCopyObject().(client.Object)
		if err := get(t, ns, obj.GetName(), old); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Delete(context.Background(), obj); err != nil {
			t.Fatal(err)
		}
		eventually(t, fmt.Sprintf("%T recreated", obj), func() error {
			cur := obj.DeepCopyObject().(client.Object)
			if err := get(t, ns, obj.GetName(), cur); err != nil {
				return err
			}
			if cur.GetUID() == old.GetUID() {
				return fmt.Errorf("not deleted yet")
			}
			return nil
		})
	}
	update(t, &corev1.ConfigMap{ObjectMeta: objectMeta(ns, "oob-rbgs-cluster")}, func(c *corev1.ConfigMap) {
		c.Data["prefill.0.yaml"] = "tampered"
	})
	eventually(t, "cluster.yaml restored", func() error {
		var c corev1.ConfigMap
		if err := get(t, ns, "oob-rbgs-cluster", &c); err != nil {
			return err
		}
		if !strings.HasPrefix(c.Data["prefill.0.yaml"], "cluster:") {
			return fmt.Errorf("prefill.0.yaml = %q", c.Data["prefill.0.yaml"])
		}
		return nil
	})
}

// Adding a role creates it after its dependencies; removing one deletes its
// workload and Service and drops it from discovery.
func TestGroupAddAndRemoveRole(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("ext", ns).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
	create(t, g)
	eventually(t, "prefill", func() error { return exists(t, ns, "ext-prefill", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "ext-prefill")
	eventually(t, "decode", func() error { return exists(t, ns, "ext-decode", &appsv1.StatefulSet{}) })

	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles = append(g.Spec.Roles, wrappers.RoleSpec("postprocess", 1, "decode"))
	})
	eventually(t, "postprocess in discovery", func() error {
		var c corev1.ConfigMap
		if err := get(t, ns, "ext-rbgs-env", &c); err != nil {
			return err
		}
		if c.Data["RBGS_ROLES_POSTPROCESS_0_ADDRESS"] == "" {
			return fmt.Errorf("env data %v", c.Data)
		}
		return nil
	})
	eventually(t, "postprocess waiting for decode", func() error {
		var cur rbgsv1.RoleBasedGroup
		if err := get(t, ns, "ext", &cur); err != nil {
			return err
		}
		if cur.Status.ObservedGeneration != cur.Generation || len(cur.Status.Roles) != 3 || !slices.Equal(cur.Status.Roles[2].WaitingFor, []string{"decode"}) {
			return fmt.Errorf("status at generation %d/%d: roles %+v", cur.Status.ObservedGeneration, cur.Generation, cur.Status.Roles)
		}
		return nil
	})
	if err := absent(t, ns, "ext-postprocess", &appsv1.StatefulSet{}); err != nil {
		t.Errorf("postprocess created before decode is ready: %v", err)
	}
	markStatefulSetReady(t, ns, "ext-decode")
	eventually(t, "postprocess", func() error { return exists(t, ns, "ext-postprocess", &appsv1.StatefulSet{}) })

	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles = g.Spec.Roles[:2] })
	eventually(t, "postprocess removed", func() error {
		if err := absent(t, ns, "ext-postprocess", &appsv1.StatefulSet{}); err != nil {
			return err
		}
		return absent(t, ns, "ext-postprocess", &corev1.Service{})
	})
	eventually(t, "postprocess out of discovery", func() error {
		var c corev1.ConfigMap
		if err := get(t, ns, "ext-rbgs-cluster", &c); err != nil {
			return err
		}
		if _, ok := c.Data["postprocess.0.yaml"]; ok || strings.Contains(c.Data["cluster.yaml"], "postprocess") {
			return fmt.Errorf("postprocess still listed")
		}
		return nil
	})
	wantEvents(t, ns, "ext", "RoleRemoved")
}

// A Deployment role gets a Deployment, and one Service endpoint in discovery.
func TestGroupDeploymentRole(t *testing.T) {
	ns := namespace(t)
	create(t, wrappers.MakeGroup("dep", ns).Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Role("prefill", 1, "router").Obj())
	eventually(t, "router Deployment", func() error { return exists(t, ns, "dep-router", &appsv1.Deployment{}) })
	markDeploymentReady(t, ns, "dep-router")
	eventually(t, "prefill after router", func() error { return exists(t, ns, "dep-prefill", &appsv1.StatefulSet{}) })
	var env corev1.ConfigMap
	if err := get(t, ns, "dep-rbgs-env", &env); err != nil {
		t.Fatal(err)
	}
	if env.Data["RBGS_ROLES_ROUTER_0_ADDRESS"] != "dep-router:8080" || env.Data["RBGS_ROLES_ROUTER_1_ADDRESS"] != "" {
		t.Errorf("router endpoints %v", env.Data)
	}
	markStatefulSetReady(t, ns, "dep-prefill")
	groupPhase(t, ns, "dep", rbgsv1.PhaseRunning)
}

// A group with a dependency cycle that got in while the webhook was not
// installed creates nothing and says why.
func TestGroupInvalidCreatesNothing(t *testing.T) {
	ns := namespace(t)
	withoutWebhook(t, func() {
		create(t, wrappers.MakeGroup("cyc", ns).Role("router", 1, "decode").Role("decode", 1, "router").Obj())
	})
	g := groupPhase(t, ns, "cyc", rbgsv1.PhaseFailed)
	c := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionReady)
	if c == nil || c.Reason != "InvalidSpec" || !strings.Contains(c.Message, "dependency cycle router -> decode -> router") {
		t.Errorf("Ready condition = %+v", c)
	}
	for _, name := range []string{"cyc-router", "cyc-decode"} {
		if err := absent(t, ns, name, &appsv1.StatefulSet{}); err != nil {
			t.Error(err)
		}
	}
	if err := absent(t, ns, "cyc-rbgs-cluster", &corev1.ConfigMap{}); err != nil {
		t.Error(err)
	}
	wantEvents(t, ns, "cyc", "InvalidSpec")
}

// versions maps every object of the namespace the operator writes to its
// resource version.
func versions(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	lists := map[string]client.ObjectList{
		"StatefulSet": &appsv1.StatefulSetList{}, "Service": &corev1.ServiceList{},
		"ConfigMap": &corev1.ConfigMapList{}, "RoleBasedGroup": &rbgsv1.RoleBasedGroupList{},
	}
	for kind, l := range lists {
		if err := k8s.List(context.Background(), l, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		items, _ := apimeta.ExtractList(l)
		for _, o := range items {
			co := o.(client.Object)
			if kind == "ConfigMap" && co.GetName() == "kube-root-ca.crt" {
				continue
			}
			out[kind+"/"+co.GetName()] = co.GetResourceVersion()
		}
	}
	return out
}

// wantEvents waits for events of each reason about the object.
func wantEvents(t *testing.T, ns, name string, reasons ...string) {
	t.Helper()
	for _, reason := range reasons {
		eventually(t, "event "+reason, func() error {
			var l eventsv1.EventList
			if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range l.Items {
				if e.Regarding.Name == name && e.Reason == reason {
					return nil
				}
			}
			return fmt.Errorf("no %s event among %d", reason, len(l.Items))
		})
	}
}

// An operator upgrade that renders pod templates differently restarts no
// pod: a workload an older version rendered keeps its template while its
// role is unchanged (a scale still applies), and takes the new rendering
// with the role's next change.
func TestGroupUpgradeKeepsRenderedTemplates(t *testing.T) {
	ns := namespace(t)
	g := wrappers.MakeGroup("upg", ns).Role("prefill", 1).Obj()
	create(t, g)
	var sts appsv1.StatefulSet
	eventually(t, "prefill", func() error { return exists(t, ns, "upg-prefill", &sts) })
	markStatefulSetReady(t, ns, "upg-prefill")
	groupPhase(t, ns, "upg", rbgsv1.PhaseRunning)

	// Apply what an older operator would have: the same object rendered
	// with one more variable, under the operator's own field manager.
	if err := get(t, ns, "upg", g); err != nil {
		t.Fatal(err)
	}
	older := groupctrl.Render(g).Roles["prefill"][1].(*appsv1.StatefulSet)
	older.Spec.Template.Spec.Containers[0].Env = append(older.Spec.Template.Spec.Containers[0].Env, corev1.EnvVar{Name: "RENDERED_BY", Value: "older"})
	d, err := apply.Prepare(older, k8s.Scheme())
	if err != nil {
		t.Fatal(err)
	}
	d.Object.SetAnnotations(map[string]string{
		rbgsv1.AnnotationSpecHash:       "older",
		rbgsv1.AnnotationTemplateInputs: older.Annotations[rbgsv1.AnnotationTemplateInputs],
	})
	if err := k8s.Patch(context.Background(), d.Object, client.Apply, client.FieldOwner(apply.FieldOwner), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	renderedBy := func(s *appsv1.StatefulSet) string {
		for _, e := range s.Spec.Template.Spec.Containers[0].Env {
			if e.Name == "RENDERED_BY" {
				return e.Value
			}
		}
		return ""
	}

	update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(3)) })
	eventually(t, "scaled", func() error {
		if err := get(t, ns, "upg-prefill", &sts); err != nil {
			return err
		}
		if *sts.Spec.Replicas != 3 {
			return fmt.Errorf("replicas %d", *sts.Spec.Replicas)
		}
		return nil
	})
	if renderedBy(&sts) != "older" {
		t.Errorf("a scale re-rendered the template of an unchanged role: %+v", sts.Spec.Template.Spec.Containers[0].Env)
	}

	update(t, g, func(g *rbgsv1.RoleBasedGroup) {
		g.Spec.Roles[0].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
	})
	eventually(t, "rendered anew", func() error {
		if err := get(t, ns, "upg-prefill", &sts); err != nil {
			return err
		}
		if img := sts.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/llm-server:v2" || renderedBy(&sts) != "" {
			return fmt.Errorf("image %s, RENDERED_BY %q", img, renderedBy(&sts))
		}
		return nil
	})
}
