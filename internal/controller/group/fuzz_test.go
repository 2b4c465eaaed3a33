package group_test

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	rbgsvalidation "github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// FuzzRender renders groups whose names pass the CRD schema: whenever
// validation accepts the group, every object, pod name, label value,
// ConfigMap key and environment variable it leads to must be accepted by
// the API server too, so an admitted group can always be built.
func FuzzRender(f *testing.F) {
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(2), "demo-group", false)
	f.Add("a-very-long-group-name-that-is-close-to-the-limit", "role-a", "b", uint8(39), uint8(0), "s", true)
	f.Add("g", "r0123456789012345678901234567890123456789012345678901234567", "x", uint8(1), uint8(1), "", false)
	f.Fuzz(func(t *testing.T, name, roleA, roleB string, replicasA, replicasB uint8, set string, deployment bool) {
		if len(validation.IsDNS1035Label(name)) > 0 || len(validation.IsDNS1123Label(roleA)) > 0 ||
			len(validation.IsDNS1123Label(roleB)) > 0 || roleA == roleB {
			t.Skip("refused by the CRD schema")
		}
		w := wrappers.MakeGroup(name, "ns").Role(roleA, int32(replicasA%40)).Role(roleB, int32(replicasB%40), roleA)
		if len(validation.IsDNS1035Label(set)) == 0 {
			w.Label(rbgsv1.LabelSetName, set).Label(rbgsv1.LabelGroupIndex, "0")
		}
		if deployment {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		g := w.Obj()
		if errs := rbgsvalidation.RoleBasedGroup(g); len(errs) > 0 {
			return
		}
		objs := group.Render(g)
		all := objs.ConfigMaps
		for _, r := range g.Spec.Roles {
			all = append(all, objs.Roles[r.Role]...)
			for k := range discovery.ReplicasOf(&r) {
				check(t, "pod name (hostname)", naming.Pod(name, r.Role, k), validation.IsDNS1123Label)
			}
			// The StatefulSet controller labels pods with the name plus a
			// 10-character revision hash.
			check(t, "controller-revision-hash label", naming.Workload(name, r.Role)+"-0123456789", validation.IsValidLabelValue)
		}
		for _, o := range all {
			check(t, fmt.Sprintf("%T name", o), o.GetName(), validation.IsDNS1035Label)
			labels(t, o.GetLabels())
			if cm, ok := o.(*corev1.ConfigMap); ok {
				for k := range cm.Data {
					check(t, "ConfigMap key", k, validation.IsConfigMapKey)
				}
			}
			if tpl := podTemplate(o); tpl != nil {
				labels(t, tpl.Labels)
				for _, c := range tpl.Spec.Containers {
					for _, e := range c.Env {
						check(t, "env name", e.Name, validation.IsEnvVarName)
					}
				}
			}
		}
	})
}

func check(t *testing.T, what, value string, valid func(string) []string) {
	t.Helper()
	if errs := valid(value); len(errs) > 0 {
		t.Fatalf("%s %q is invalid: %v", what, value, errs)
	}
}

func labels(t *testing.T, l map[string]string) {
	t.Helper()
	for k, v := range l {
		check(t, "label key", k, validation.IsQualifiedName)
		check(t, "label value", v, validation.IsValidLabelValue)
	}
}

func podTemplate(o client.Object) *corev1.PodTemplateSpec {
	switch w := o.(type) {
	case *appsv1.StatefulSet:
		return &w.Spec.Template
	case *appsv1.Deployment:
		return &w.Spec.Template
	}
	return nil
}
