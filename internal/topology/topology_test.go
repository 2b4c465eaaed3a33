package topology_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

func TestResolve(t *testing.T) {
	g := wrappers.MakeGroup("g", "ns").Label(rbgsv1.LabelSetName, "s").Label(rbgsv1.LabelGroupIndex, "2").
		Role("router", 2).Workload(rbgsv1.WorkloadDeployment).
		Role("prefill", 2).
		Role("decode", 2).Size(3).Obj()
	g.Spec.Roles[1].Template.Spec.Containers[0].Ports = nil
	got := topology.Resolve(g)
	want := &topology.Group{Name: "g", Namespace: "ns", SetName: "s", Index: "2", Roles: []topology.Role{
		{Name: "router", Kind: rbgsv1.WorkloadDeployment, Replicas: 2, Size: 1, Port: 8080, Service: "g-router", ServiceAddress: "g-router:8080", Gang: rbgsv1.GangNone},
		{Name: "prefill", Kind: rbgsv1.WorkloadStatefulSet, Replicas: 2, Size: 1, Service: "g-prefill", ServiceAddress: "g-prefill", Gang: rbgsv1.GangNone,
			Instances: []topology.Instance{
				{Index: 0, Workload: "g-prefill", ConfigMap: "g-rbgs-cluster", Pods: []topology.Pod{
					{Name: "g-prefill-0", Host: "g-prefill-0.g-prefill", Address: "g-prefill-0.g-prefill", FileKey: "prefill.0.yaml"}}},
				{Index: 1, Workload: "g-prefill", ConfigMap: "g-rbgs-cluster", Pods: []topology.Pod{
					{Name: "g-prefill-1", Host: "g-prefill-1.g-prefill", Address: "g-prefill-1.g-prefill", FileKey: "prefill.1.yaml"}}},
			}},
		{Name: "decode", Kind: rbgsv1.WorkloadStatefulSet, Replicas: 2, Size: 3, Port: 8080, Service: "g-decode", ServiceAddress: "g-decode:8080", Gang: rbgsv1.GangNone,
			Instances: []topology.Instance{
				{Index: 0, Workload: "g-decode-0", ConfigMap: "g-rbgs-cluster-decode-0", Pods: []topology.Pod{
					{Name: "g-decode-0-0", WorkerIndex: 0, Host: "g-decode-0-0.g-decode", Address: "g-decode-0-0.g-decode:8080", FileKey: "decode.0.0.yaml"},
					{Name: "g-decode-0-1", WorkerIndex: 1, Host: "g-decode-0-1.g-decode", Address: "g-decode-0-1.g-decode:8080", FileKey: "decode.0.1.yaml"},
					{Name: "g-decode-0-2", WorkerIndex: 2, Host: "g-decode-0-2.g-decode", Address: "g-decode-0-2.g-decode:8080", FileKey: "decode.0.2.yaml"},
				}},
				{Index: 1, Workload: "g-decode-1", ConfigMap: "g-rbgs-cluster-decode-1", Pods: []topology.Pod{
					{Name: "g-decode-1-0", WorkerIndex: 0, Host: "g-decode-1-0.g-decode", Address: "g-decode-1-0.g-decode:8080", FileKey: "decode.1.0.yaml"},
					{Name: "g-decode-1-1", WorkerIndex: 1, Host: "g-decode-1-1.g-decode", Address: "g-decode-1-1.g-decode:8080", FileKey: "decode.1.1.yaml"},
					{Name: "g-decode-1-2", WorkerIndex: 2, Host: "g-decode-1-2.g-decode", Address: "g-decode-1-2.g-decode:8080", FileKey: "decode.1.2.yaml"},
				}},
			}},
	}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(topology.Role{})); diff != "" {
		t.Errorf("Resolve (-want +got):\n%s", diff)
	}
	if got.Pods() != 2+2+6 {
		t.Errorf("%d pods", got.Pods())
	}
	decode := got.Role("decode")
	if !decode.MultiPod() || got.Role("prefill").MultiPod() || decode.Instances[1].Leader().Name != "g-decode-1-0" {
		t.Errorf("decode %+v", decode)
	}
	// An instance past replicas resolves too, for the pods it leaves behind.
	if in := decode.InstanceAt(5); in.Workload != "g-decode-5" || in.Pods[2].FileKey != "decode.5.2.yaml" {
		t.Errorf("instance 5: %+v", in)
	}
	if got.Role("nope") != nil {
		t.Error("an unknown role resolved")
	}
}

// Gangs: one PodGroup per instance, named as its StatefulSet, of minCount
// size; or one per role, named as the role's Service, of every pod.
func TestResolveGangs(t *testing.T) {
	w := wrappers.MakeGroup("g", "ns").Role("prefill", 3).Size(2).Role("decode", 2).Size(4).Role("router", 2)
	g := w.Obj()
	g.Spec.Roles[0].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangInstance, TopologyKey: "topology.kubernetes.io/rack"}
	g.Spec.Roles[1].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangRole}
	g.Spec.Roles[2].Scheduling = &rbgsv1.RoleScheduling{Gang: rbgsv1.GangRole}
	tp := topology.Resolve(g)
	prefill, decode, router := tp.Role("prefill"), tp.Role("decode"), tp.Role("router")
	want := []topology.PodGroup{{Name: "g-prefill-0", MinCount: 2, Instance: new(int32(0))},
		{Name: "g-prefill-1", MinCount: 2, Instance: new(int32(1))}, {Name: "g-prefill-2", MinCount: 2, Instance: new(int32(2))}}
	if diff := cmp.Diff(want, prefill.PodGroups); diff != "" || prefill.TopologyKey != "topology.kubernetes.io/rack" ||
		prefill.Instances[1].PodGroup != "g-prefill-1" || prefill.PodGroup() != "" {
		t.Errorf("prefill gangs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]topology.PodGroup{{Name: "g-decode", MinCount: 8}}, decode.PodGroups); diff != "" || decode.Instances[1].PodGroup != "g-decode" {
		t.Errorf("decode gangs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]topology.PodGroup{{Name: "g-router", MinCount: 2}}, router.PodGroups); diff != "" || router.PodGroup() != "g-router" {
		t.Errorf("router gangs (-want +got):\n%s", diff)
	}
}
