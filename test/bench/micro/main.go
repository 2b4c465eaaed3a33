//go:build ignore

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/controller/group"
	"github.com/openpatio/rbgs/internal/manager"
	"github.com/openpatio/rbgs/test/wrappers"
)

func cpu() float64 {
	raw, _ := os.ReadFile(".cluster/pids/kube-apiserver.pid")
	pid := strings.TrimSpace(string(raw))
	stat, _ := os.ReadFile("/proc/" + pid + "/stat")
	s := string(stat)
	f := strings.Fields(s[strings.LastIndex(s, ")")+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100
}

func run(name string, n int, f func(i int)) {
	c0, t0 := cpu(), time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); f(i) })
	}
	wg.Wait()
	fmt.Printf("%-30s %d in %.1fs, apiserver %.1f ms CPU each\n", name, n, time.Since(t0).Seconds(), 1000*(cpu()-c0)/float64(n))
}

func main() {
	cfg, _ := clientcmd.BuildConfigFromFlags("", ".cluster/kubeconfig")
	cfg.QPS, cfg.Burst = 5000, 5000
	scheme, _ := manager.NewScheme()
	c, _ := client.New(cfg, client.Options{Scheme: scheme})
	ctx := context.Background()
	ns := os.Args[1]
	_ = c.Create(ctx, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}})
	n := 300
	objs := func(i int, prefix string) []client.Object {
		g := wrappers.MakeGroup(fmt.Sprintf("%s-%d", prefix, i), ns).Role("prefill", 0).Obj()
		o := group.Render(g)
		for _, x := range append(o.ConfigMaps, o.Roles["prefill"]...) {
			x.SetOwnerReferences(nil)
		}
		return append(o.ConfigMaps, o.Roles["prefill"]...)
	}
	run("create cm,cm,svc,sts", n, func(i int) {
		for _, o := range objs(i, "c") {
			if err := c.Create(ctx, o); err != nil {
				panic(err)
			}
		}
	})
	run("ssa cm,cm,svc,sts", n, func(i int) {
		for _, o := range objs(i, "a") {
			m, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
			u := &unstructured.Unstructured{Object: m}
			gvk, _ := c.GroupVersionKindFor(o)
			u.SetGroupVersionKind(gvk)
			delete(u.Object, "status")
			body, _ := json.Marshal(u.Object)
			if err := c.Patch(ctx, o, client.RawPatch(types.ApplyPatchType, body), client.FieldOwner("x"), client.ForceOwnership); err != nil {
				panic(err)
			}
		}
	})
	groups := make([]*rbgsv1.RoleBasedGroup, n)
	run("create rbg", n, func(i int) {
		g := wrappers.MakeGroup(fmt.Sprintf("g-%d", i), ns).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
		if err := c.Create(ctx, g); err != nil {
			panic(err)
		}
		groups[i] = g
	})
	run("rbg status update", n, func(i int) {
		g := groups[i]
		g.Status = rbgsv1.RoleBasedGroupStatus{ObservedGeneration: 1, Phase: rbgsv1.PhasePending, Conditions: []metav1.Condition{{Type: "Ready", Status: "False", Reason: "Starting", Message: "x", LastTransitionTime: metav1.Now()}}}
		if err := c.Status().Update(ctx, g); err != nil {
			panic(err)
		}
	})
}
