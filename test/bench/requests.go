package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/naming"
)

// requestCost is the CPU the API server and etcd spent per request of one
// kind.
type requestCost struct {
	Request   string  `json:"request"`
	Count     int     `json:"count"`
	APIServer float64 `json:"apiServerMs"`
	Etcd      float64 `json:"etcdMs"`
}

// requestCosts measures, n at a time with 8 clients, the CPU each request
// the floor or the operator makes costs the API server and etcd: creates
// and server-side applies of the floor's objects, and the group writes only
// the operator makes. StatefulSets get 0 replicas so that no pod follows;
// the StatefulSet controller's status write after each is included.
func (b *bench) requestCosts(ctx context.Context, n int) ([]requestCost, error) {
	// Groups are written as the operator, whose writes skip the webhook.
	cfg, err := clientcmd.BuildConfigFromFlags("", b.operatorKubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	op, err := client.New(cfg, client.Options{Scheme: b.k8s.Scheme()})
	if err != nil {
		return nil, err
	}
	for _, ns := range []string{"cost-create", "cost-apply"} {
		if err := b.namespace(ctx, ns); err != nil {
			return nil, err
		}
	}
	objects := func(ns string) (cms, services, sets []client.Object) {
		first, _ := floorObjects(ns, 0, n)
		for i := range n {
			for _, o := range first[naming.Group(setName, int32(i))] {
				switch t := o.(type) {
				case *corev1.ConfigMap:
					cms = append(cms, t)
				case *corev1.Service:
					services = append(services, t)
				case *appsv1.StatefulSet:
					t.Spec.Replicas = new(int32(0))
					sets = append(sets, t)
				}
			}
		}
		return cms, services, sets
	}
	set := template("cost-create", n)
	groups := make([]*rbgsv1.RoleBasedGroup, n)
	for i := range groups {
		groups[i] = setGroup(set, i)
	}
	create := func(c client.Client, objs []client.Object) func(int) error {
		return func(i int) error { return c.Create(ctx, objs[i]) }
	}
	applyAbsent := func(objs []client.Object) func(int) error {
		return func(i int) error {
			d, err := apply.Prepare(objs[i], b.k8s.Scheme())
			if err != nil {
				return err
			}
			body, err := json.Marshal(d.Object.Object)
			if err != nil {
				return err
			}
			return b.k8s.Patch(ctx, objs[i], client.RawPatch(types.ApplyPatchType, body), client.FieldOwner(apply.FieldOwner))
		}
	}
	status := func(phase rbgsv1.GroupPhase) func(int) error {
		return func(i int) error {
			g := groups[i]
			g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: g.Generation, Phase: phase, DesiredRoles: 2, Roles: []rbgsv1.RoleStatus{
				{Role: "prefill", Replicas: 2}, {Role: "decode", Replicas: 2, WaitingFor: []string{"prefill"}},
			}}
			for _, t := range []string{rbgsv1.ConditionReady, rbgsv1.ConditionProgressing} {
				apimeta.SetStatusCondition(&g.Status.Conditions, metav1.Condition{Type: t, Status: metav1.ConditionFalse, Reason: string(phase),
					Message: "roles not ready: prefill (0/2 ready), decode (waiting for prefill)", ObservedGeneration: g.Generation})
			}
			return op.Status().Update(ctx, g)
		}
	}
	cmC, svcC, stsC := objects("cost-create")
	cmA, svcA, stsA := objects("cost-apply")
	groupObjs := make([]client.Object, n)
	for i, g := range groups {
		groupObjs[i] = g
	}
	phases := []struct {
		name string
		do   func(int) error
		n    int
	}{
		{"create ConfigMap", create(b.k8s, cmC), len(cmC)},
		{"apply ConfigMap (absent)", applyAbsent(cmA), len(cmA)},
		{"create Service", create(b.k8s, svcC), len(svcC)},
		{"apply Service (absent)", applyAbsent(svcA), len(svcA)},
		{"create StatefulSet", create(b.k8s, stsC), len(stsC)},
		{"apply StatefulSet (absent)", applyAbsent(stsA), len(stsA)},
		{"create RoleBasedGroup", create(op, groupObjs), n},
		{"update RoleBasedGroup status (Pending)", status(rbgsv1.PhasePending), n},
		{"update RoleBasedGroup status (Running)", status(rbgsv1.PhaseRunning), n},
	}
	var out []requestCost
	for _, p := range phases {
		before := controlPlaneCPU(b.clusterDir)
		if err := parallel(8, p.n, p.do); err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		time.Sleep(2 * time.Second) // watchers and the StatefulSet controller catch up
		after := controlPlaneCPU(b.clusterDir)
		per := func(name string) float64 { return 1000 * (after[name] - before[name]) / float64(p.n) }
		out = append(out, requestCost{Request: p.name, Count: p.n, APIServer: per("kube-apiserver"), Etcd: per("etcd")})
		logf("%s: API server %.2f ms, etcd %.2f ms per request", p.name, per("kube-apiserver"), per("etcd"))
	}
	return out, nil
}

func requestCostTable(costs []requestCost) string {
	var s strings.Builder
	s.WriteString("| request | count | API server CPU ms | etcd CPU ms |\n|---|---:|---:|---:|\n")
	for _, c := range costs {
		fmt.Fprintf(&s, "| %s | %d | %.2f | %.2f |\n", c.Request, c.Count, c.APIServer, c.Etcd)
	}
	return s.String()
}
