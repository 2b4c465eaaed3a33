package group

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

// multiPodGroup has a router of size 1 and decode: 2 instances of 4 pods.
func multiPodGroup() *rbgsv1.RoleBasedGroup {
	return wrappers.MakeGroup("g", "ns").UID("uid-1").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupIndex, "3").
		Role("router", 1).Role("decode", 2, "router").Size(4).Obj()
}

// The StatefulSet of instance 1 of a role of size 4, whole.
func TestDesiredInstance(t *testing.T) {
	g := multiPodGroup()
	r := &g.Spec.Roles[1]
	role := topology.Resolve(g).Role("decode")
	got := desiredInstance(g, r, role, &role.Instances[1], 4)
	labels := map[string]string{
		"patio.io/rbgs-group": "g", "patio.io/rbgs-role": "decode", "patio.io/rbgs-instance": "1",
		"patio.io/rbgs-name": "s", "patio.io/rbgs-group-index": "3",
	}
	mounts := []corev1.VolumeMount{
		{Name: "rbgs-cluster", MountPath: "/etc/rbgs/cluster.yaml", ReadOnly: true, SubPathExpr: "decode.1.$(RBGS_LOCAL_WORKER_INDEX).yaml"},
		{Name: "rbgs-cluster", MountPath: "/etc/rbgs/live", ReadOnly: true},
	}
	podIndex := &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['apps.kubernetes.io/pod-index']"}}
	want := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{
			Name: "g-decode-1", Namespace: "ns",
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "rbgs", "patio.io/rbgs-group": "g", "patio.io/rbgs-role": "decode",
				"patio.io/rbgs-instance": "1", "patio.io/rbgs-name": "s", "patio.io/rbgs-group-index": "3",
			},
			Annotations: map[string]string{
				rbgsv1.AnnotationTemplateInputs: templateInputs(g, r),
				rbgsv1.AnnotationTemplateHash:   got.Annotations[rbgsv1.AnnotationTemplateHash],
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "openpatio.io/v1alpha1", Kind: "RoleBasedGroup", Name: "g", UID: "uid-1",
				Controller: new(true), BlockOwnerDeletion: new(true)}},
		},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{
				"patio.io/rbgs-group": "g", "patio.io/rbgs-role": "decode", "patio.io/rbgs-instance": "1",
			}},
			ServiceName:         "g-decode",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{{Name: "rbgs-cluster", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
						LocalObjectReference: corev1.LocalObjectReference{Name: "g-rbgs-cluster-decode-1"},
					}}}},
					Containers: []corev1.Container{{
						Name:  "main",
						Image: wrappers.Image,
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env: []corev1.EnvVar{
							{Name: "RBGS_LOCAL_ROLE", Value: "decode"},
							{Name: "RBGS_GROUP_NAME", Value: "g"},
							{Name: "RBGS_NAMESPACE", Value: "ns"},
							{Name: "RBGS_GROUP_INDEX", Value: "3"},
							{Name: "RBGS_LOCAL_RANK", Value: "1"},
							{Name: "RBGS_LOCAL_WORKER_INDEX", ValueFrom: podIndex},
							{Name: "RBGS_INSTANCE_SIZE", Value: "4"},
							{Name: "RBGS_LEADER_ADDRESS", Value: "g-decode-1-0.g-decode:8080"},
							{Name: "LWS_LEADER_ADDRESS", Value: "g-decode-1-0.g-decode"},
							{Name: "LWS_GROUP_SIZE", Value: "4"},
							{Name: "LWS_WORKER_INDEX", ValueFrom: podIndex},
						},
						EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{
							LocalObjectReference: corev1.LocalObjectReference{Name: "g-rbgs-env"},
						}}},
						VolumeMounts: mounts,
					}},
				},
			},
		},
	}
	if got.Annotations[rbgsv1.AnnotationTemplateFields] == "" {
		t.Errorf("the instance carries no field digests to judge an in-place update by")
	}
	delete(got.Annotations, rbgsv1.AnnotationTemplateFields)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("instance StatefulSet (-want +got):\n%s", diff)
	}
	if got.Annotations[rbgsv1.AnnotationTemplateHash] == "" ||
		templateHash(desiredInstance(g, r, role, &role.Instances[0], 4)) == got.Annotations[rbgsv1.AnnotationTemplateHash] {
		t.Error("template hash missing, or the same for two instances")
	}
	// The same role of size 1 is rendered as before: one StatefulSet.
	objs := Render(g).Roles
	if len(objs["decode"]) != 3 || len(objs["router"]) != 2 {
		t.Errorf("decode renders %d objects (Service, 2 instances), router %d", len(objs["decode"]), len(objs["router"]))
	}
}

func inst(i int32, opts ...func(*instanceState)) instanceState {
	s := instanceState{index: i, exists: true, current: true, pods: 4, readyPods: 4, ready: true, gangReady: true}
	for _, o := range opts {
		o(&s)
	}
	return s
}

var (
	outdated = func(s *instanceState) { s.current = false }
	unready  = func(s *instanceState) { s.ready, s.readyPods = false, 3 }
	emptied  = func(s *instanceState) { s.emptied, s.ready, s.readyPods = true, false, 0 }
	noPods   = func(s *instanceState) { s.pods = 0 }
	missing  = func(s *instanceState) { *s = instanceState{index: s.index, gangReady: true} }
	noGang   = func(s *instanceState) { s.gangReady = false }
	deferred = func(s *instanceState) { *s = instanceState{index: s.index, gangReady: true, deferred: true} }
)

// A template change replaces instances whole, maxUnavailable at a time,
// from the highest index down: each emptied, then filled once its pods are
// gone.
func TestPlanInstancesSteps(t *testing.T) {
	steps := []struct {
		name   string
		states []instanceState
		want   []instanceStep
	}{
		{"all current", []instanceState{inst(0), inst(1), inst(2)}, []instanceStep{instanceApply, instanceApply, instanceApply}},
		{"template changed: the highest goes first, the others keep theirs",
			[]instanceState{inst(0, outdated), inst(1, outdated), inst(2, outdated)}, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceEmpty}},
		{"instance 2 emptied, its pods still going",
			[]instanceState{inst(0, outdated), inst(1, outdated), inst(2, emptied)}, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceEmpty}},
		{"instance 2's pods gone: filled with the new template",
			[]instanceState{inst(0, outdated), inst(1, outdated), inst(2, emptied, noPods)}, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceApply}},
		{"instance 2 starting: nobody else goes",
			[]instanceState{inst(0, outdated), inst(1, outdated), inst(2, unready)}, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceApply}},
		{"instance 2 Ready: the next",
			[]instanceState{inst(0, outdated), inst(1, outdated), inst(2)}, []instanceStep{instanceAsItRuns, instanceEmpty, instanceApply}},
		{"an outdated instance down on its own costs nothing",
			[]instanceState{inst(0, outdated, unready), inst(1, emptied), inst(2)}, []instanceStep{instanceEmpty, instanceEmpty, instanceApply}},
		{"a missing instance is created (scale-up, or deleted by someone), and counts as unavailable",
			[]instanceState{inst(0, outdated), inst(1, missing)}, []instanceStep{instanceAsItRuns, instanceApply}},
		{"a missing instance waits for its gang",
			[]instanceState{inst(0), inst(1, missing, noGang)}, []instanceStep{instanceApply, instanceSkip}},
		{"an emptied instance whose pods are gone waits for its gang",
			[]instanceState{inst(0, emptied, noPods, noGang), inst(1)}, []instanceStep{instanceEmpty, instanceApply}},
		{"an instance a former layout stands in for is not created",
			[]instanceState{inst(0, deferred), inst(1, missing)}, []instanceStep{instanceSkip, instanceApply}},
	}
	for _, s := range steps {
		if diff := cmp.Diff(s.want, planInstances(s.states, int32(len(s.states)), 1, false, -1)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s.name, diff)
		}
	}
	// Pods that move to another gang of the whole role go all at once.
	three := []instanceState{inst(0, outdated), inst(1, outdated), inst(2, outdated)}
	if got := planInstances(three, 3, 1, true, -1); !cmp.Equal(got, []instanceStep{instanceEmpty, instanceEmpty, instanceEmpty}) {
		t.Errorf("together: %v", got)
	}
	// maxUnavailable 2 of 4: two at once; one unready counts against it.
	four := []instanceState{inst(0, outdated), inst(1, outdated), inst(2, outdated), inst(3, outdated)}
	if got := planInstances(four, 4, 2, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceEmpty, instanceEmpty}) {
		t.Errorf("maxUnavailable 2: %v", got)
	}
	four[3] = inst(3, unready)
	if got := planInstances(four, 4, 2, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceEmpty, instanceApply}) {
		t.Errorf("maxUnavailable 2, one instance unready: %v", got)
	}
	// A surge instance (index 3 of 3 regular ones) that does not serve yet
	// holds back the outdated ones, even with maxUnavailable 1; serving,
	// it lets maxUnavailable 0 replace one.
	surge := []instanceState{inst(0, outdated), inst(1, outdated), inst(2, outdated), inst(3, unready)}
	if got := planInstances(surge, 3, 1, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceAsItRuns, instanceApply}) {
		t.Errorf("a surge instance starting: %v", got)
	}
	surge[3] = inst(3)
	if got := planInstances(surge, 3, 0, false, -1); !cmp.Equal(got, []instanceStep{instanceAsItRuns, instanceAsItRuns, instanceEmpty, instanceApply}) {
		t.Errorf("a surge instance serving, maxUnavailable 0: %v", got)
	}
}

// An instance's state is read from its StatefulSet and its pods; the role
// is ready when every instance runs the current template and is Ready.
func TestObserveInstances(t *testing.T) {
	g := multiPodGroup()
	r := &g.Spec.Roles[1]
	role := topology.Resolve(g).Role("decode")
	sts := desiredInstance(g, r, role, &role.Instances[0], 4)
	sts.Generation = 1
	sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 4, ReadyReplicas: 4, AvailableReplicas: 4,
		UpdatedReplicas: 4, CurrentRevision: "r1", UpdateRevision: "r1"}
	var pods []corev1.Pod
	for j := range 4 {
		p := rolePod(role.Instances[0].Pods[j].Name, "r1", j != 3, false)
		p.Labels[rbgsv1.LabelRole], p.Labels[rbgsv1.LabelInstance] = "decode", "0"
		pods = append(pods, p)
	}
	gangs := &gangPlan{}
	s := observeInstance(g, r, role, &role.Instances[0], sts, pods, gangs)
	if want := (instanceState{index: 0, exists: true, current: true, pods: 4, readyPods: 3, ready: true, gangReady: true}); s != want {
		t.Errorf("state %+v, want %+v", s, want)
	}
	// The role changed in a way its template does not show (a dependency):
	// still current. An image: outdated.
	r.Dependencies = nil
	if s := observeInstance(g, r, role, &role.Instances[0], sts, pods, gangs); !s.current {
		t.Errorf("a change that leaves the template alone made the instance outdated: %+v", s)
	}
	r.Template.Spec.Containers[0].Image = "v2"
	if s := observeInstance(g, r, role, &role.Instances[0], sts, pods, gangs); s.current || !s.ready {
		t.Errorf("a new image left the instance current, or made it unready: %+v", s)
	}
	// A new size: the instance, held at the size it runs, is Ready at it.
	r.Size = new(int32(6))
	role6 := topology.Resolve(g).Role("decode")
	if s := observeInstance(g, r, role6, &role6.Instances[0], sts, pods, gangs); s.current || !s.ready || !s.serving() {
		t.Errorf("an instance of the former size is not judged by the size it runs: %+v", s)
	}
	r.Size = new(int32(4))
	sts.Spec.Replicas = new(int32(0))
	if s := observeInstance(g, r, role, &role.Instances[0], sts, nil, gangs); !s.emptied || s.ready || s.serving() {
		t.Errorf("emptied instance %+v", s)
	}

	rs := instancesState([]instanceState{inst(0), inst(1, outdated)}, 2)
	if want := (roleState{exists: true, readyReplicas: 2, updatedReplicas: 1, readyPods: 8}); rs != want {
		t.Errorf("role %+v, want %+v", rs, want)
	}
	if rs := instancesState([]instanceState{inst(0), inst(1)}, 2); !rs.ready || !rs.serving {
		t.Errorf("all current and Ready: %+v", rs)
	}
	if rs := instancesState([]instanceState{inst(0, missing), inst(1, missing)}, 0); rs.exists || rs.ready || rs.serving {
		t.Errorf("no instance: %+v", rs)
	}
	// A scale up keeps the role serving while the Ready instances hold the
	// floor; one fewer does not.
	if rs := instancesState([]instanceState{inst(0), inst(1), inst(2, unready)}, 2); rs.ready || !rs.serving {
		t.Errorf("scaling up from 2 Ready instances: %+v", rs)
	}
	if rs := instancesState([]instanceState{inst(0), inst(1, unready), inst(2, unready)}, 2); rs.serving {
		t.Errorf("a Ready instance lost while scaling up: %+v", rs)
	}
}

// Pods of instances get their worker index as a label, once.
func TestUnlabelledWorkers(t *testing.T) {
	pod := func(name, instance, index, worker string) corev1.Pod {
		p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.PodIndexLabel: index}}}
		if instance != "" {
			p.Labels[rbgsv1.LabelInstance] = instance
		}
		if worker != "" {
			p.Labels[rbgsv1.LabelWorkerIndex] = worker
		}
		return p
	}
	pods := []corev1.Pod{
		pod("g-decode-0-0", "0", "0", ""),  // new
		pod("g-decode-0-1", "0", "1", "1"), // labelled
		pod("g-decode-0-2", "0", "2", "0"), // wrong
		pod("g-router-0", "", "0", ""),     // a pod of size 1
	}
	got := map[string]string{}
	for p, w := range unlabelledWorkers(pods) {
		got[p.Name] = w
	}
	if want := map[string]string{"g-decode-0-0": "0", "g-decode-0-2": "2"}; !cmp.Equal(got, want) {
		t.Errorf("to label %v, want %v", got, want)
	}
}

func TestInstancesMaxUnavailableOfARole(t *testing.T) {
	r := wrappers.RoleSpec("decode", 8)
	r.RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromString("25%"))}
	if got := r.InstancesMaxUnavailable(); got != 2 {
		t.Errorf("25%% of 8 instances: %d", got)
	}
}
