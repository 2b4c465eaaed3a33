package group

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func statefulSets(names ...string) []appsv1.StatefulSet {
	out := make([]appsv1.StatefulSet, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func deployments(names ...string) []appsv1.Deployment {
	out := make([]appsv1.Deployment, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func services(names ...string) []corev1.Service {
	out := make([]corev1.Service, len(names))
	for i, n := range names {
		out[i].ObjectMeta = metav1.ObjectMeta{Name: n}
	}
	return out
}

func cm(name string) corev1.ConfigMap {
	return corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
