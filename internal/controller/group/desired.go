package group

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	"github.com/openpatio/rbgs/internal/topology"
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

// workloadMeta is the metadata of workload name of role r of g: it records
// what its pod template is rendered from (see keepRendering).
func workloadMeta(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, name string) metav1.ObjectMeta {
	m := objectMeta(g, name, r.Role)
	m.Annotations = map[string]string{rbgsv1.AnnotationTemplateInputs: templateInputs(g, r)}
	return m
}

// desiredStatefulSet is the StatefulSet running role r of g, of size 1.
func desiredStatefulSet(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *appsv1.StatefulSet {
	name := naming.Workload(g.Name, r.Role)
	policy := r.PodManagementPolicy
	if policy == "" {
		policy = appsv1.ParallelPodManagement
	}
	return withFields(&appsv1.StatefulSet{
		ObjectMeta: workloadMeta(g, r, name),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            new(r.ReplicasOrDefault()),
			Selector:            &metav1.LabelSelector{MatchLabels: selector(g, r.Role)},
			ServiceName:         name,
			PodManagementPolicy: policy,
			// The partition is explicit, even at 0: without it the
			// StatefulSet controller creates a missing pod below
			// status.currentReplicas from the current revision, so a
			// StatefulSet emptied for a new template and filled again
			// before its status caught up would start old pods.
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(0))},
			},
			Template: podTemplate(g, r, roleStaffing(g, r)),
		},
	})
}

// desiredInstance is the StatefulSet running instance in of role r of g,
// of size > 1 (resolved as role), with replicas pods: its size, or 0
// while the instance is being replaced (see planInstances). Its pods start
// together, and are only ever replaced by the operator, all at once: an
// instance never mixes versions.
func desiredInstance(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, role *topology.Role, in *topology.Instance, replicas int32) *appsv1.StatefulSet {
	sel := selector(g, r.Role)
	sel[rbgsv1.LabelInstance] = strconv.Itoa(int(in.Index))
	s := &appsv1.StatefulSet{
		ObjectMeta: instanceMeta(g, r, in),
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			Selector:            &metav1.LabelSelector{MatchLabels: sel},
			ServiceName:         role.Service,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template:            podTemplate(g, r, instanceStaffing(g, r, role, in)),
		},
	}
	s.Annotations[rbgsv1.AnnotationTemplateHash] = templateHash(s)
	return withFields(s)
}

// instanceMeta is the metadata of the StatefulSet of instance in of role r.
func instanceMeta(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, in *topology.Instance) metav1.ObjectMeta {
	m := workloadMeta(g, r, in.Workload)
	m.Labels[rbgsv1.LabelInstance] = strconv.Itoa(int(in.Index))
	return m
}

// desiredDeployment is the Deployment running stateless role r of g. The
// role's rolloutStrategy, when it has one, is the Deployment's own: it
// surges and replaces pods on its own.
func desiredDeployment(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: workloadMeta(g, r, naming.Workload(g.Name, r.Role)),
		Spec: appsv1.DeploymentSpec{
			Replicas: new(r.ReplicasOrDefault()),
			Selector: &metav1.LabelSelector{MatchLabels: selector(g, r.Role)},
			Template: podTemplate(g, r, roleStaffing(g, r)),
		},
	}
	if rs := r.RolloutStrategy; rs != nil && (rs.MaxSurge != nil || rs.MaxUnavailable != nil) {
		ru := &appsv1.RollingUpdateDeployment{MaxSurge: rs.MaxSurge, MaxUnavailable: rs.MaxUnavailable}
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = new(intstr.FromInt32(1))
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = new(intstr.FromInt32(0))
		}
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: ru}
	}
	return d
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
			PublishNotReadyAddresses: r.KindOrDefault() == rbgsv1.WorkloadStatefulSet,
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

// desiredClusterConfigMap is discovery ConfigMap name of g with data (see
// discovery.Files).
func desiredClusterConfigMap(g *rbgsv1.RoleBasedGroup, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: objectMeta(g, name, ""), Data: data}
}

// desiredEnvConfigMap holds the RBGS_ROLES_* variables every container loads.
func desiredEnvConfigMap(g *rbgsv1.RoleBasedGroup, t *topology.Group) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: objectMeta(g, naming.EnvConfigMap(g.Name), ""),
		Data:       discovery.EnvData(t),
	}
}

// staffing is what the pods of one workload learn of their place, beside
// the group's discovery: the same for every pod of the workload but for
// what the downward API fills in.
type staffing struct {
	labels map[string]string
	env    []corev1.EnvVar
	// configMap holds the pods' cluster.yaml files; fileMount picks a pod's
	// own (subPath or subPathExpr set).
	configMap string
	fileMount corev1.VolumeMount
	// podGroup is the gang the pods join, "" when none.
	podGroup string
}

// fieldEnv is variable name set from a field of the pod.
func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path},
	}}
}

// podIndexField is the StatefulSet controller's ordinal label of a pod.
const podIndexField = "metadata.labels['" + appsv1.PodIndexLabel + "']"

// roleStaffing is the staffing of the pods of role r of size 1 (or a
// Deployment role): a StatefulSet pod's rank is its ordinal.
func roleStaffing(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec) staffing {
	st := staffing{
		labels:    map[string]string{rbgsv1.LabelRole: r.Role},
		env:       groupEnv(g, r.Role),
		configMap: naming.ClusterConfigMap(g.Name),
		fileMount: corev1.VolumeMount{Name: rbgsv1.ClusterVolumeName, MountPath: rbgsv1.ClusterConfigPath, ReadOnly: true},
	}
	if r.GangOrDefault() == rbgsv1.GangRole {
		st.podGroup = naming.Workload(g.Name, r.Role)
	}
	if r.KindOrDefault() == rbgsv1.WorkloadStatefulSet {
		st.env = append(st.env, fieldEnv(rbgsv1.EnvLocalRank, podIndexField))
		st.fileMount.SubPathExpr = naming.ClusterFileSubPathExpr(r.Role)
	} else {
		st.fileMount.SubPath = naming.ClusterFileKey(r.Role, nil)
	}
	return st
}

// instanceStaffing is the staffing of the pods of instance in of role r of
// size > 1: the instance is their rank, their StatefulSet ordinal their
// worker index, and they are told the instance's size and leader, also
// under LeaderWorkerSet's names.
func instanceStaffing(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, role *topology.Role, in *topology.Instance) staffing {
	index, size := strconv.Itoa(int(in.Index)), strconv.Itoa(int(role.Size))
	st := staffing{
		labels:    map[string]string{rbgsv1.LabelRole: r.Role, rbgsv1.LabelInstance: index},
		env:       groupEnv(g, r.Role),
		configMap: in.ConfigMap,
		fileMount: corev1.VolumeMount{Name: rbgsv1.ClusterVolumeName, MountPath: rbgsv1.ClusterConfigPath, ReadOnly: true,
			SubPathExpr: naming.InstanceFileSubPathExpr(r.Role, in.Index)},
		podGroup: in.PodGroup,
	}
	st.env = append(st.env,
		corev1.EnvVar{Name: rbgsv1.EnvLocalRank, Value: index},
		fieldEnv(rbgsv1.EnvLocalWorkerIndex, podIndexField),
		corev1.EnvVar{Name: rbgsv1.EnvInstanceSize, Value: size},
		corev1.EnvVar{Name: rbgsv1.EnvLeaderAddress, Value: in.Leader().Address},
		corev1.EnvVar{Name: rbgsv1.EnvLWSLeaderAddress, Value: in.Leader().Host},
		corev1.EnvVar{Name: rbgsv1.EnvLWSGroupSize, Value: size},
		fieldEnv(rbgsv1.EnvLWSWorkerIndex, podIndexField),
	)
	return st
}

// podTemplate is the user's template of role r with the operator's labels
// and discovery added, as st places its pods. Membership (addresses,
// replica counts) never appears in it: it lives in ConfigMaps, so scaling
// one role never changes, and so never restarts, another role's pods.
func podTemplate(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, st staffing) corev1.PodTemplateSpec {
	t := *r.Template.DeepCopy()
	if t.Labels == nil {
		t.Labels = make(map[string]string)
	}
	maps.Copy(t.Labels, groupLabels(g))
	maps.Copy(t.Labels, st.labels)
	// A router or an InferencePool can select the pods of one revision.
	if rev := g.Labels[rbgsv1.LabelGroupRevision]; rev != "" {
		t.Labels[rbgsv1.LabelGroupRevision] = rev
	}

	if !slices.ContainsFunc(t.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == rbgsv1.ClusterVolumeName }) {
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{
			Name: rbgsv1.ClusterVolumeName,
			VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: st.configMap},
			}},
		})
	}
	if st.podGroup != "" {
		t.Spec.SchedulingGroup = &corev1.PodSchedulingGroup{PodGroupName: &st.podGroup}
	}
	mounts := []corev1.VolumeMount{
		st.fileMount,
		{Name: rbgsv1.ClusterVolumeName, MountPath: rbgsv1.LiveClusterConfigDir, ReadOnly: true},
	}
	envFrom := corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: naming.EnvConfigMap(g.Name)},
	}}
	for i := range t.Spec.InitContainers {
		injectContainer(&t.Spec.InitContainers[i], st.env, envFrom, mounts)
	}
	for i := range t.Spec.Containers {
		injectContainer(&t.Spec.Containers[i], st.env, envFrom, mounts)
	}
	return t
}

// groupEnv is the part of the discovery variables every pod of role gets,
// the same for the whole life of a pod.
func groupEnv(g *rbgsv1.RoleBasedGroup, role string) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: rbgsv1.EnvLocalRole, Value: role},
		{Name: rbgsv1.EnvGroupName, Value: g.Name},
		{Name: rbgsv1.EnvNamespace, Value: g.Namespace},
	}
	if idx, ok := g.Labels[rbgsv1.LabelGroupIndex]; ok {
		env = append(env, corev1.EnvVar{Name: rbgsv1.EnvGroupIndex, Value: idx})
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
	// ConfigMaps are the discovery ConfigMaps: the group's cluster files,
	// its env variables, then one per instance of roles of size > 1.
	ConfigMaps []client.Object
	// Roles holds, per role, its Service and workloads (one per instance,
	// for size > 1), in that order.
	Roles map[string][]client.Object
}

// Render builds every child of g, as the reconciler would apply it to a
// group whose instances are all up to date. Tools use it to show or
// reproduce what the operator creates.
func Render(g *rbgsv1.RoleBasedGroup) Objects {
	t := topology.Resolve(g)
	files := discovery.Files(t, nil)
	o := Objects{
		ConfigMaps: []client.Object{
			desiredClusterConfigMap(g, naming.ClusterConfigMap(g.Name), files[naming.ClusterConfigMap(g.Name)]),
			desiredEnvConfigMap(g, t),
		},
		Roles: make(map[string][]client.Object, len(g.Spec.Roles)),
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if name != naming.ClusterConfigMap(g.Name) {
			o.ConfigMaps = append(o.ConfigMaps, desiredClusterConfigMap(g, name, files[name]))
		}
	}
	for i := range g.Spec.Roles {
		r, role := &g.Spec.Roles[i], &t.Roles[i]
		objs := []client.Object{desiredService(g, r)}
		switch {
		case role.Kind == rbgsv1.WorkloadDeployment:
			objs = append(objs, desiredDeployment(g, r))
		case role.MultiPod():
			for j := range role.Instances {
				objs = append(objs, desiredInstance(g, r, role, &role.Instances[j], role.Size))
			}
		default:
			objs = append(objs, desiredStatefulSet(g, r))
		}
		o.Roles[r.Role] = objs
	}
	return o
}
