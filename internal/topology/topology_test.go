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
		{Name: "router", Kind: rbgsv1.WorkloadDeployment, Replicas: 2, Size: 1, Port: 8080, Service: "g-router", ServiceAddress: "g-router:8080"},
		{Name: "prefill", Kind: rbgsv1.WorkloadStatefulSet, Replicas: 2, Size: 1, Service: "g-prefill", ServiceAddress: "g-prefill",
			Instances: []topology.Instance{
				{Index: 0, Workload: "g-prefill", ConfigMap: "g-rbgs-cluster", Pods: []topology.Pod{
					{Name: "g-prefill-0", Host: "g-prefill-0.g-prefill", Address: "g-prefill-0.g-prefill", FileKey: "prefill.0.yaml"}}},
				{Index: 1, Workload: "g-prefill", ConfigMap: "g-rbgs-cluster", Pods: []topology.Pod{
					{Name: "g-prefill-1", Host: "g-prefill-1.g-prefill", Address: "g-prefill-1.g-prefill", FileKey: "prefill.1.yaml"}}},
			}},
		{Name: "decode", Kind: rbgsv1.WorkloadStatefulSet, Replicas: 2, Size: 3, Port: 8080, Service: "g-decode", ServiceAddress: "g-decode:8080",
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
