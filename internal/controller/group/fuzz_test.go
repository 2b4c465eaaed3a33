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
	"github.com/openpatio/rbgs/internal/topology"
	rbgsvalidation "github.com/openpatio/rbgs/internal/validation"
	"github.com/openpatio/rbgs/test/wrappers"
)

// FuzzRender renders groups whose names pass the CRD schema: whenever
// validation accepts the group, every object, pod name, label value,
// ConfigMap key and environment variable it leads to must be accepted by
// the API server too, so an admitted group can always be built.
func FuzzRender(f *testing.F) {
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(2), "demo-group", false, uint8(0))
	f.Add("a-very-long-group-name-that-is-close-to-the-limit", "role-a", "b", uint8(39), uint8(0), "s", true, uint8(0))
	f.Add("g", "r0123456789012345678901234567890123456789012345678901234567", "x", uint8(1), uint8(1), "", false, uint8(0))
	f.Add("demo-group-0", "prefill", "decode", uint8(2), uint8(1), "demo-group", false, uint8(3))
	f.Add("g", "decode", "decode-1", uint8(2), uint8(1), "", false, uint8(4))
	f.Fuzz(func(t *testing.T, name, roleA, roleB string, replicasA, replicasB uint8, set string, deployment bool, sizeB uint8) {
		if len(validation.IsDNS1035Label(name)) > 0 || len(validation.IsDNS1123Label(roleA)) > 0 ||
			len(validation.IsDNS1123Label(roleB)) > 0 || roleA == roleB {
			t.Skip("refused by the CRD schema")
		}
		w := wrappers.MakeGroup(name, "ns").Role(roleA, int32(replicasA%40))
		if deployment {
			w.Workload(rbgsv1.WorkloadDeployment)
		}
		w.Role(roleB, int32(replicasB%16), roleA).Size(1 + int32(sizeB%8))
		if len(validation.IsDNS1035Label(set)) == 0 {
			w.Label(rbgsv1.LabelSetName, set).Label(rbgsv1.LabelGroupIndex, "0")
		}
		g := w.Obj()
		if errs := rbgsvalidation.RoleBasedGroup(g); len(errs) > 0 {
			return
		}
		objs := group.Render(g)
		all := objs.ConfigMaps
		names := map[string]string{} // object kind and name -> role
		for _, r := range topology.Resolve(g).Roles {
			all = append(all, objs.Roles[r.Name]...)
			for _, in := range r.Instances {
				for _, p := range in.Pods {
					check(t, "pod name (hostname)", p.Name, validation.IsDNS1123Label)
				}
				// The StatefulSet controller labels pods with the name plus a
				// 10-character revision hash.
				check(t, "controller-revision-hash label", in.Workload+"-0123456789", validation.IsValidLabelValue)
			}
		}
		for _, o := range all {
			// Two roles never share an object: one would take over the other's.
			key := fmt.Sprintf("%T/%s", o, o.GetName())
			if role, ok := names[key]; ok && role != o.GetLabels()[rbgsv1.LabelRole] {
				t.Fatalf("%s belongs to roles %s and %s", key, role, o.GetLabels()[rbgsv1.LabelRole])
			}
			names[key] = o.GetLabels()[rbgsv1.LabelRole]
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
