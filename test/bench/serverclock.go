package main

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// A phase by the server's clock: from the creation of its first object to
// the last pod's Ready transition, both as the objects themselves record
// them (kwok stamps the pods' conditions), so a watcher that falls behind
// under load does not count. Both times have a resolution of a second.

// lastPodReady is the latest Ready transition of the pods of ns, and how
// many pods are Ready.
func lastPodReady(pods []corev1.Pod) (time.Time, int) {
	var last time.Time
	ready := 0
	for i := range pods {
		for _, c := range pods[i].Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready++
				if c.LastTransitionTime.After(last) {
					last = c.LastTransitionTime.Time
				}
			}
		}
	}
	return last, ready
}

// firstCreated is the earliest creation of the floor's StatefulSets and
// ConfigMaps in ns (those of its groups: not the namespace's own
// kube-root-ca.crt).
func (b *bench) firstCreated(ctx context.Context, ns string) (time.Time, error) {
	var first time.Time
	consider := func(o client.Object) {
		if _, ok := o.GetLabels()[rbgsv1.LabelGroupName]; !ok {
			return
		}
		if t := o.GetCreationTimestamp().Time; first.IsZero() || t.Before(first) {
			first = t
		}
	}
	var sts appsv1.StatefulSetList
	if err := b.k8s.List(ctx, &sts, client.InNamespace(ns)); err != nil {
		return first, err
	}
	for i := range sts.Items {
		consider(&sts.Items[i])
	}
	var cms corev1.ConfigMapList
	if err := b.k8s.List(ctx, &cms, client.InNamespace(ns)); err != nil {
		return first, err
	}
	for i := range cms.Items {
		consider(&cms.Items[i])
	}
	return first, nil
}

// serverPodsReady is how long, by the server's clock, the pods of ns took
// to be Ready from start; want pods must be Ready.
func (b *bench) serverPodsReady(ctx context.Context, ns string, start time.Time, want int) (float64, error) {
	var pods corev1.PodList
	if err := b.k8s.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return 0, err
	}
	last, ready := lastPodReady(pods.Items)
	if ready != want {
		return 0, fmt.Errorf("%d pods of %s Ready, want %d", ready, ns, want)
	}
	return last.Sub(start).Seconds(), nil
}

// serverFloor is serverPodsReady of a floor phase, from its first object.
func (b *bench) serverFloor(ctx context.Context, ns string, want int) (float64, error) {
	start, err := b.firstCreated(ctx, ns)
	if err != nil {
		return 0, err
	}
	return b.serverPodsReady(ctx, ns, start, want)
}

// serverSet is how long, by the server's clock, the set of ns took from
// its creation to every pod Ready, and to its Ready condition.
func (b *bench) serverSet(ctx context.Context, ns string, want int) (pods, set float64, err error) {
	var s rbgsv1.RoleBasedGroupSet
	if err := b.k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: setName}, &s); err != nil {
		return 0, 0, err
	}
	start := s.CreationTimestamp.Time
	if pods, err = b.serverPodsReady(ctx, ns, start, want); err != nil {
		return 0, 0, err
	}
	c := apimeta.FindStatusCondition(s.Status.Conditions, rbgsv1.ConditionReady)
	if c == nil || c.Status != "True" {
		return 0, 0, fmt.Errorf("set of %s not Ready", ns)
	}
	return pods, c.LastTransitionTime.Sub(start).Seconds(), nil
}
