package group

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/owner"
)

// groupLabels are the labels every object and pod of g carries: the group,
// and the set and index when g belongs to a set.
func groupLabels(g *rbgsv1.RoleBasedGroup) map[string]string {
	l := map[string]string{rbgsv1.LabelGroupName: g.Name}
	for _, k := range []string{rbgsv1.LabelSetName, rbgsv1.LabelGroupIndex} {
		if v, ok := g.Labels[k]; ok {
			l[k] = v
		}
	}
	return l
}

// selector selects the pods of one role of g.
func selector(g *rbgsv1.RoleBasedGroup, role string) map[string]string {
	return map[string]string{rbgsv1.LabelGroupName: g.Name, rbgsv1.LabelRole: role}
}

func objectMeta(g *rbgsv1.RoleBasedGroup, name, role string) metav1.ObjectMeta {
	l := groupLabels(g)
	l[rbgsv1.LabelManagedBy] = rbgsv1.ManagedByValue
	if role != "" {
		l[rbgsv1.LabelRole] = role
	}
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       g.Namespace,
		Labels:          l,
		OwnerReferences: []metav1.OwnerReference{owner.Ref(g, "RoleBasedGroup")},
	}
}

// workloadMeta is the metadata of the workload of role r of g: it records
// what its pod template is rendered from (see holdRendering).
func workloadMeta(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) metav1.ObjectMeta {
	m := objectMeta(g, naming.Workload(g.Name, r.Role), r.Role)
	m.Annotations = map[string]string{rbgsv1.AnnotationTemplateInputs: templateInputs(g, r)}
	return m
}

// desiredStatefulSet is the StatefulSet running role r of g.
func desiredStatefulSet(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *appsv1.StatefulSet {
	name := naming.Workload(g.Name, r.Role)
	policy := r.PodManagementPolicy
	if policy == "" {
		policy = appsv1.ParallelPodManagement
	}
	return &appsv1.StatefulSet{
		ObjectMeta: workloadMeta(g, r),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            new(discovery.ReplicasOf(r)),
			Selector:            &metav1.LabelSelector{MatchLabels: selector(g, r.Role)},
			ServiceName:         name,
			PodManagementPolicy: policy,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
			Template:            podTemplate(g, r),
		},
	}
}

// desiredDeployment is the Deployment running stateless role r of g.
func desiredDeployment(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: workloadMeta(g, r),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(discovery.ReplicasOf(r)),
			Selector: &metav1.LabelSelector{MatchLabels: selector(g, r.Role)},
			Template: podTemplate(g, r),
		},
	}
}

// desiredService is the headless Service of role r. For a StatefulSet role
// it gives pods their DNS names (G-R-k.G-R) before they are Ready, so
// members can find each other while they start. A Deployment role's pods
// have no names of their own: the Service name is its one discovery
// endpoint, and it resolves only to Ready pods, so traffic sent to it
// reaches only pods that can serve.
func desiredService(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: objectMeta(g, naming.Workload(g.Name, r.Role), r.Role),
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 selector(g, r.Role),
			PublishNotReadyAddresses: discovery.KindOf(r) == rbgsv1.WorkloadStatefulSet,
			Ports:                    servicePorts(&r.Template.Spec),
		},
	}
}

// servicePorts exposes every container port of the role once.
func servicePorts(spec *corev1.PodSpec) []corev1.ServicePort {
	type key struct {
		port     int32
		protocol corev1.Protocol
	}
	seen := map[key]bool{}
	names := map[string]bool{}
	var out []corev1.ServicePort
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("%s-%d", strings.ToLower(string(proto)), p.ContainerPort)
			}
			k := key{p.ContainerPort, proto}
			if seen[k] || names[name] {
				continue
			}
			seen[k], names[name] = true, true
			out = append(out, corev1.ServicePort{
				Name:       name,
				Port:       p.ContainerPort,
				TargetPort: intstr.FromInt32(p.ContainerPort),
				Protocol:   proto,
			})
		}
	}
	return out
}

// desiredClusterConfigMap holds one cluster.yaml per pod of g, and the live
// topology file.
func desiredClusterConfigMap(g *rbgsv1.RoleBasedGroup, t discovery.Topology) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta(g, naming.ClusterConfigMap(g.Name), ""),
		Data:       t.ClusterFiles(),
	}
}

// desiredEnvConfigMap holds the RBGS_ROLES_* variables every container loads.
func desiredEnvConfigMap(g *rbgsv1.RoleBasedGroup, t discovery.Topology) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta(g, naming.EnvConfigMap(g.Name), ""),
		Data:       t.EnvData(),
	}
}

// podTemplate is the user's template of role r with the operator's labels and
// discovery added. Membership (addresses, replica counts) never appears in
// it: it lives in ConfigMaps, so scaling one role never changes, and so never
// restarts, another role's pods.
func podTemplate(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) corev1.PodTemplateSpec {
	t := *r.Template.DeepCopy()
	labels := groupLabels(g)
	labels[rbgsv1.LabelRole] = r.Role
	if t.Labels == nil {
		t.Labels = make(map[string]string, len(labels))
	}
	for k, v := range labels {
		t.Labels[k] = v
	}
	stateful := discovery.KindOf(r) == rbgsv1.WorkloadStatefulSet

	if !slices.ContainsFunc(t.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == rbgsv1.ClusterVolumeName }) {
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{
			Name: rbgsv1.ClusterVolumeName,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: naming.ClusterConfigMap(g.Name)},
			}},
		})
	}
	env := discoveryEnv(g, r.Role, stateful)
	fileMount := corev1.VolumeMount{Name: rbgsv1.ClusterVolumeName, MountPath: rbgsv1.ClusterConfigPath, ReadOnly: true}
	if stateful {
		fileMount.SubPathExpr = naming.ClusterFileSubPathExpr(r.Role)
	} else {
		fileMount.SubPath = naming.ClusterFileKey(r.Role, nil)
	}
	mounts := []corev1.VolumeMount{
		fileMount,
		{Name: rbgsv1.ClusterVolumeName, MountPath: rbgsv1.LiveClusterConfigDir, ReadOnly: true},
	}
	envFrom := corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: naming.EnvConfigMap(g.Name)},
	}}
	for i := range t.Spec.InitContainers {
		injectContainer(&t.Spec.InitContainers[i], env, envFrom, mounts)
	}
	for i := range t.Spec.Containers {
		injectContainer(&t.Spec.Containers[i], env, envFrom, mounts)
	}
	return t
}

// discoveryEnv is the fixed part of the discovery variables, the same for
// the whole life of a pod.
func discoveryEnv(g *rbgsv1.RoleBasedGroup, role string, stateful bool) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: rbgsv1.EnvLocalRole, Value: role},
		{Name: rbgsv1.EnvGroupName, Value: g.Name},
		{Name: rbgsv1.EnvNamespace, Value: g.Namespace},
	}
	if idx, ok := g.Labels[rbgsv1.LabelGroupIndex]; ok {
		env = append(env, corev1.EnvVar{Name: rbgsv1.EnvGroupIndex, Value: idx})
	}
	if stateful {
		env = append(env, corev1.EnvVar{Name: rbgsv1.EnvLocalRank, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['" + appsv1.PodIndexLabel + "']"},
		}})
	}
	return env
}

// injectContainer adds discovery to one container. The user's entries win:
// an env variable the user sets keeps the user's value, a mount path the
// user uses keeps the user's volume, and the user's envFrom sources come
// after the operator's so they override it.
func injectContainer(c *corev1.Container, env []corev1.EnvVar, envFrom corev1.EnvFromSource, mounts []corev1.VolumeMount) {
	injected := make([]corev1.EnvVar, 0, len(env)+len(c.Env))
	for _, e := range env {
		if !slices.ContainsFunc(c.Env, func(u corev1.EnvVar) bool { return u.Name == e.Name }) {
			injected = append(injected, e)
		}
	}
	c.Env = append(injected, c.Env...)
	c.EnvFrom = append([]corev1.EnvFromSource{envFrom}, c.EnvFrom...)
	for _, m := range mounts {
		if !slices.ContainsFunc(c.VolumeMounts, func(u corev1.VolumeMount) bool { return u.MountPath == m.MountPath }) {
			c.VolumeMounts = append(c.VolumeMounts, m)
		}
	}
}

// Objects are the children the operator builds for a group.
type Objects struct {
	// ConfigMaps are the two discovery ConfigMaps.
	ConfigMaps []client.Object
	// Roles holds, per role, its Service and workload, in that order.
	Roles map[string][]client.Object
}

// Render builds every child of g, as the reconciler would apply it. Tools
// use it to show or reproduce what the operator creates.
func Render(g *rbgsv1.RoleBasedGroup) Objects {
	topo := discovery.ForGroup(g)
	o := Objects{
		ConfigMaps: []client.Object{desiredClusterConfigMap(g, topo), desiredEnvConfigMap(g, topo)},
		Roles:      make(map[string][]client.Object, len(g.Spec.Roles)),
	}
	for i := range g.Spec.Roles {
		r := &g.Spec.Roles[i]
		var workload client.Object = desiredStatefulSet(g, r)
		if discovery.KindOf(r) == rbgsv1.WorkloadDeployment {
			workload = desiredDeployment(g, r)
		}
		o.Roles[r.Role] = []client.Object{desiredService(g, r), workload}
	}
	return o
}
