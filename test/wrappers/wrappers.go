// Package wrappers builds API objects for tests so a test reads like the
// spec: MakeGroup("demo", ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj().
package wrappers

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Image is the container image of the roles the wrappers build.
const Image = "registry.example.com/llm-server:v1"

// Port is the container port of the roles the wrappers build.
const Port = 8080

// RoleSpec is a role with one container "main" listening on Port.
func RoleSpec(name string, replicas int32, deps ...string) rbgsv1.RoleSpec {
	return rbgsv1.RoleSpec{
		Role:         name,
		Replicas:     &replicas,
		Dependencies: deps,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:  "main",
			Image: Image,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: Port}},
		}}}},
	}
}

// GroupWrapper builds a RoleBasedGroup.
type GroupWrapper struct{ rbgsv1.RoleBasedGroup }

// MakeGroup starts a group with no roles and the Ordered policy.
func MakeGroup(name, namespace string) *GroupWrapper {
	return &GroupWrapper{rbgsv1.RoleBasedGroup{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbgsv1.GroupVersion.String(), Kind: "RoleBasedGroup"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       rbgsv1.RoleBasedGroupSpec{StartupPolicy: rbgsv1.StartupOrdered},
	}}
}

// Role adds a role (see RoleSpec).
func (w *GroupWrapper) Role(name string, replicas int32, deps ...string) *GroupWrapper {
	w.Spec.Roles = append(w.Spec.Roles, RoleSpec(name, replicas, deps...))
	return w
}

// RoleSpec adds a role as given.
func (w *GroupWrapper) RoleSpec(r rbgsv1.RoleSpec) *GroupWrapper {
	w.Spec.Roles = append(w.Spec.Roles, r)
	return w
}

// Workload sets the workload kind of the last role added.
func (w *GroupWrapper) Workload(kind rbgsv1.WorkloadKind) *GroupWrapper {
	w.Spec.Roles[len(w.Spec.Roles)-1].Workload = rbgsv1.WorkloadSpec{APIVersion: "apps/v1", Kind: kind}
	return w
}

// Size sets the size (pods per instance) of the last role added.
func (w *GroupWrapper) Size(n int32) *GroupWrapper {
	w.Spec.Roles[len(w.Spec.Roles)-1].Size = &n
	return w
}

// Gang sets how the scheduler places the pods of the last role added: its
// gang policy and topology key ("" for none).
func (w *GroupWrapper) Gang(gang rbgsv1.GangPolicy, topologyKey string) *GroupWrapper {
	w.Spec.Roles[len(w.Spec.Roles)-1].Scheduling = &rbgsv1.RoleScheduling{Gang: gang, TopologyKey: topologyKey}
	return w
}

// Env adds an environment variable to the first container of the last role.
func (w *GroupWrapper) Env(name, value string) *GroupWrapper {
	c := &w.Spec.Roles[len(w.Spec.Roles)-1].Template.Spec.Containers[0]
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
	return w
}

// StartupPolicy sets the startup policy.
func (w *GroupWrapper) StartupPolicy(p rbgsv1.StartupPolicy) *GroupWrapper {
	w.Spec.StartupPolicy = p
	return w
}

// RestartPolicy sets the group's restartPolicy and maxRestarts.
func (w *GroupWrapper) RestartPolicy(p rbgsv1.RestartPolicy, maxRestarts int32) *GroupWrapper {
	w.Spec.RestartPolicy, w.Spec.MaxRestarts = p, &maxRestarts
	return w
}

// Label sets a label.
func (w *GroupWrapper) Label(k, v string) *GroupWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// UID sets the UID, as the API server would.
func (w *GroupWrapper) UID(uid string) *GroupWrapper {
	w.ObjectMeta.UID = types.UID(uid)
	return w
}

// Generation sets the generation, as the API server would.
func (w *GroupWrapper) Generation(g int64) *GroupWrapper {
	w.ObjectMeta.Generation = g
	return w
}

// Obj returns the group.
func (w *GroupWrapper) Obj() *rbgsv1.RoleBasedGroup { return &w.RoleBasedGroup }

// SetWrapper builds a RoleBasedGroupSet.
type SetWrapper struct{ rbgsv1.RoleBasedGroupSet }

// MakeSet starts a set of one group with no roles and the Ordered policy.
func MakeSet(name, namespace string) *SetWrapper {
	return &SetWrapper{rbgsv1.RoleBasedGroupSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: rbgsv1.GroupVersion.String(), Kind: "RoleBasedGroupSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: rbgsv1.RoleBasedGroupSetSpec{
			Replicas:      new(int32(1)),
			StartupPolicy: rbgsv1.StartupOrdered,
		},
	}}
}

// Replicas sets the number of groups.
func (w *SetWrapper) Replicas(n int32) *SetWrapper {
	w.Spec.Replicas = &n
	return w
}

// Role adds a role to the group template (see RoleSpec).
func (w *SetWrapper) Role(name string, replicas int32, deps ...string) *SetWrapper {
	w.Spec.GroupTemplate.Roles = append(w.Spec.GroupTemplate.Roles, RoleSpec(name, replicas, deps...))
	return w
}

// MaxUnavailable sets the rollout's maxUnavailable.
func (w *SetWrapper) MaxUnavailable(v intstr.IntOrString) *SetWrapper {
	w.Spec.RolloutStrategy.MaxUnavailable = &v
	return w
}

// UID sets the UID, as the API server would.
// MaxSurge sets the rollout's maxSurge.
func (w *SetWrapper) MaxSurge(v intstr.IntOrString) *SetWrapper {
	w.Spec.RolloutStrategy.MaxSurge = &v
	return w
}

// UID sets the UID, as the API server would.
func (w *SetWrapper) UID(uid string) *SetWrapper {
	w.ObjectMeta.UID = types.UID(uid)
	return w
}

// Obj returns the set.
func (w *SetWrapper) Obj() *rbgsv1.RoleBasedGroupSet { return &w.RoleBasedGroupSet }

// Scheme holds the built-in kinds and the operator's own, for fake clients.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(rbgsv1.AddToScheme(s))
	return s
}

// StatusConflicts makes a fake client fail its first n status updates with
// a conflict, as the API server does when the object changed since it was
// read; writes counts the status updates that went through.
func StatusConflicts(n int, writes *int) interceptor.Funcs {
	return interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			if n > 0 {
				n--
				gvk, _ := apiutil.GVKForObject(obj, c.Scheme())
				return apierrors.NewConflict(schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind) + "s"}, obj.GetName(), nil)
			}
			if writes != nil {
				*writes++
			}
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}
}
