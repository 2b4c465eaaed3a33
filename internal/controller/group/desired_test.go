package group

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/test/wrappers"
)

func seedGroup() *rbgsv1.RoleBasedGroup {
	return wrappers.MakeGroup("demo-group-0", "default").UID("uid-1").
		Label(rbgsv1.LabelSetName, "demo-group").Label(rbgsv1.LabelGroupIndex, "0").
		Role("prefill", 2).Role("decode", 2, "prefill").Obj()
}

var wantOwner = []metav1.OwnerReference{{
	APIVersion: "openpatio.io/v1alpha1", Kind: "RoleBasedGroup", Name: "demo-group-0", UID: "uid-1",
	Controller: new(true), BlockOwnerDeletion: new(true),
}}

func TestDesiredStatefulSet(t *testing.T) {
	g := seedGroup()
	got := desiredStatefulSet(g, &g.Spec.Roles[1])
	podLabels := map[string]string{
		"patio.io/rbgs-group": "demo-group-0", "patio.io/rbgs-role": "decode",
		"patio.io/rbgs-name": "demo-group", "patio.io/rbgs-group-index": "0",
	}
	want := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "demo-group-0-decode", Namespace: "default", OwnerReferences: wantOwner,
			Annotations: map[string]string{"patio.io/rbgs-template-inputs": templateInputs(g, &g.Spec.Roles[1])},
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "rbgs",
				"patio.io/rbgs-group":          "demo-group-0", "patio.io/rbgs-role": "decode",
				"patio.io/rbgs-name": "demo-group", "patio.io/rbgs-group-index": "0",
			},
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            new(int32(2)),
			ServiceName:         "demo-group-0-decode",
			Selector:            &metav1.LabelSelector{MatchLabels: map[string]string{"patio.io/rbgs-group": "demo-group-0", "patio.io/rbgs-role": "decode"}},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType, RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: new(int32(0))},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "main", Image: wrappers.Image,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{
							{Name: "RBGS_LOCAL_ROLE", Value: "decode"},
							{Name: "RBGS_GROUP_NAME", Value: "demo-group-0"},
							{Name: "RBGS_NAMESPACE", Value: "default"},
							{Name: "RBGS_GROUP_INDEX", Value: "0"},
							{Name: "RBGS_LOCAL_RANK", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
								APIVersion: "v1", FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']",
							}}},
						},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "demo-group-0-rbgs-env"},
						}}},
						VolumeMounts: []corev1.VolumeMount{
							{Name: "rbgs-cluster", MountPath: "/etc/rbgs/cluster.yaml", SubPathExpr: "decode.$(RBGS_LOCAL_RANK).yaml", ReadOnly: true},
							{Name: "rbgs-cluster", MountPath: "/etc/rbgs/live", ReadOnly: true},
						},
					}},
					Volumes: []corev1.Volume{{Name: "rbgs-cluster", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "demo-group-0-rbgs-cluster"}},
					}}},
				},
			},
		},
	}
	if got.Annotations[rbgsv1.AnnotationTemplateFields] == "" {
		t.Errorf("the StatefulSet carries no field digests to judge an in-place update by")
	}
	delete(got.Annotations, rbgsv1.AnnotationTemplateFields)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("StatefulSet (-want +got):\n%s", diff)
	}
	if g.Spec.Roles[1].Template.Spec.Containers[0].Env != nil {
		t.Errorf("rendering changed the group's own template")
	}
}

func TestPodTemplateKeepsUserEntries(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Role("decode", 1).Env("RBGS_LOCAL_ROLE", "custom").Env("MODEL", "llama").Obj()
	role := &g.Spec.Roles[0]
	role.Template.Labels = map[string]string{"app": "llm", rbgsv1.LabelRole: "spoofed"}
	spec := &role.Template.Spec
	spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "models", MountPath: "/models"},
		{Name: "models", MountPath: "/etc/rbgs/cluster.yaml", SubPath: "mine.yaml"},
	}
	spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "tokens"}}}}
	spec.InitContainers = []corev1.Container{{Name: "wait", Image: "busybox"}}

	tpl := podTemplate(g, role, roleStaffing(g, role))
	c := tpl.Spec.Containers[0]
	wantEnv := []string{"RBGS_GROUP_NAME", "RBGS_NAMESPACE", "RBGS_LOCAL_RANK", "RBGS_LOCAL_ROLE", "MODEL"}
	var gotEnv []string
	for _, e := range c.Env {
		gotEnv = append(gotEnv, e.Name)
		if e.Name == "RBGS_LOCAL_ROLE" && e.Value != "custom" {
			t.Errorf("RBGS_LOCAL_ROLE = %q, want the user's value", e.Value)
		}
	}
	if diff := cmp.Diff(wantEnv, gotEnv); diff != "" {
		t.Errorf("env names (-want +got):\n%s", diff)
	}
	if len(c.EnvFrom) != 2 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[1].SecretRef == nil {
		t.Errorf("envFrom = %+v, want the operator's ConfigMap first, then the user's Secret", c.EnvFrom)
	}
	wantMounts := []corev1.VolumeMount{
		{Name: "models", MountPath: "/models"},
		{Name: "models", MountPath: "/etc/rbgs/cluster.yaml", SubPath: "mine.yaml"},
		{Name: "rbgs-cluster", MountPath: "/etc/rbgs/live", ReadOnly: true},
	}
	if diff := cmp.Diff(wantMounts, c.VolumeMounts); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}
	if len(tpl.Spec.Volumes) != 2 || tpl.Spec.Volumes[0].Name != "models" {
		t.Errorf("volumes = %+v, want the user's then rbgs-cluster", tpl.Spec.Volumes)
	}
	if tpl.Labels["app"] != "llm" || tpl.Labels[rbgsv1.LabelRole] != "decode" {
		t.Errorf("labels = %v, want the user's kept and the operator's winning", tpl.Labels)
	}
	if ic := tpl.Spec.InitContainers[0]; len(ic.Env) == 0 || len(ic.EnvFrom) != 1 || len(ic.VolumeMounts) != 2 {
		t.Errorf("init container got no discovery: %+v", ic)
	}
}

func TestDesiredDeploymentRole(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").UID("u").Role("router", 3).Workload(rbgsv1.WorkloadDeployment).Obj()
	d := desiredDeployment(g, &g.Spec.Roles[0])
	if d.Name != "g-router" || *d.Spec.Replicas != 3 {
		t.Fatalf("deployment %s replicas %d", d.Name, *d.Spec.Replicas)
	}
	c := d.Spec.Template.Spec.Containers[0]
	for _, e := range c.Env {
		if e.Name == rbgsv1.EnvLocalRank {
			t.Errorf("a Deployment pod got %s, but it has no stable ordinal", e.Name)
		}
	}
	if m := c.VolumeMounts[0]; m.SubPath != "router.yaml" || m.SubPathExpr != "" {
		t.Errorf("cluster.yaml mount = %+v, want sub-path router.yaml", m)
	}
	// Its discovery endpoint is the Service: it resolves only to Ready pods.
	if svc := desiredService(g, &g.Spec.Roles[0]); svc.Spec.PublishNotReadyAddresses || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Deployment role's Service: %+v", svc.Spec)
	}
}

func TestDesiredService(t *testing.T) {
	g := seedGroup()
	role := &g.Spec.Roles[0]
	role.Template.Spec.Containers = append(role.Template.Spec.Containers, corev1.Container{
		Name: "metrics", Ports: []corev1.ContainerPort{{ContainerPort: 9090, Protocol: corev1.ProtocolUDP}, {Name: "dup", ContainerPort: 8080}},
	})
	got := desiredService(g, role)
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: "demo-group-0-prefill", Namespace: "default", OwnerReferences: wantOwner,
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "rbgs", "patio.io/rbgs-group": "demo-group-0", "patio.io/rbgs-role": "prefill",
				"patio.io/rbgs-name": "demo-group", "patio.io/rbgs-group-index": "0",
			},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP:                "None",
			Selector:                 map[string]string{"patio.io/rbgs-group": "demo-group-0", "patio.io/rbgs-role": "prefill"},
			PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{
				{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
				{Name: "udp-9090", Port: 9090, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolUDP},
			},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Service (-want +got):\n%s", diff)
	}
}

func TestConfigMapsHoldDiscovery(t *testing.T) {
	g := seedGroup()
	objs := Render(g)
	cm := objs.ConfigMaps[0].(*corev1.ConfigMap)
	if cm.Name != "demo-group-0-rbgs-cluster" || len(cm.Data) != 5 || cm.Labels[rbgsv1.LabelManagedBy] != "rbgs" || len(objs.ConfigMaps) != 2 {
		t.Errorf("cluster ConfigMap %s has %d keys, labels %v; %d ConfigMaps", cm.Name, len(cm.Data), cm.Labels, len(objs.ConfigMaps))
	}
	env := objs.ConfigMaps[1].(*corev1.ConfigMap)
	if env.Name != "demo-group-0-rbgs-env" || env.Data["RBGS_ROLES_DECODE_1_ADDRESS"] != "demo-group-0-decode-1.demo-group-0-decode:8080" {
		t.Errorf("env ConfigMap %s data %v", env.Name, env.Data)
	}
}

// Scaling one role must not change another role's pod template: that would
// restart its pods.
func TestScalingARoleLeavesOtherTemplatesAlone(t *testing.T) {
	g := seedGroup()
	before := desiredStatefulSet(g, &g.Spec.Roles[1]).Spec.Template
	g.Spec.Roles[0].Replicas = new(int32(5))
	after := desiredStatefulSet(g, &g.Spec.Roles[1]).Spec.Template
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("decode's template changed when prefill scaled (-before +after):\n%s", diff)
	}
}
