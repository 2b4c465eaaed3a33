package group

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/owner"
)

// PodsOfGroupIndex indexes pods by the RoleBasedGroup they belong to
// (their LabelGroupName).
const PodsOfGroupIndex = "rbgs.group"

// IndexPodsOfGroup is the PodsOfGroupIndex function.
func IndexPodsOfGroup(o client.Object) []string {
	if g := o.GetLabels()[rbgsv1.LabelGroupName]; g != "" {
		return []string{g}
	}
	return nil
}

// SetupWithManager registers the reconciler, its indexes and watches.
// The group wakes on changes of its spec or labels, on any change of its
// children, StatefulSet status included (that is what starts a dependant
// when its dependencies become ready, with no polling), on the pod events
// it acts on, and on changes of the RoleScalers that drive its roles.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager, workers int) error {
	owned := []client.Object{&appsv1.StatefulSet{}, &appsv1.Deployment{}, &corev1.Service{}, &corev1.ConfigMap{}, &policyv1.PodDisruptionBudget{}}
	if r.Gangs {
		owned = append(owned, &schedulingv1beta1.PodGroup{})
	}
	if err := owner.AddIndex(ctx, mgr, owned...); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, PodsOfGroupIndex, IndexPodsOfGroup); err != nil {
		return fmt.Errorf("indexing pods by group: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.Gangs {
		// A gang's pods are created once its PodGroup is in the cache:
		// its creation counts.
		gang := childChanged(nil)
		gang.CreateFunc = func(event.CreateEvent) bool { return true }
		b = b.Owns(&schedulingv1beta1.PodGroup{}, builder.WithPredicates(gang))
	}
	return b.
		For(&rbgsv1.RoleBasedGroup{}, builder.WithPredicates(
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&appsv1.StatefulSet{}, builder.WithPredicates(childChanged(func(o client.Object) workloadView {
			s := o.(*appsv1.StatefulSet)
			return workloadView{statefulSetState(s, nil), s.Status.ObservedGeneration >= s.Generation}
		}))).
		Owns(&appsv1.Deployment{}, builder.WithPredicates(childChanged(func(o client.Object) workloadView {
			d := o.(*appsv1.Deployment)
			return workloadView{deploymentState(d), d.Status.ObservedGeneration >= d.Generation}
		}))).
		Owns(&corev1.Service{}, builder.WithPredicates(childChanged(nil))).
		Owns(&corev1.ConfigMap{}, builder.WithPredicates(childChanged(nil))).
		// A budget's status moves with every pod: only its spec counts.
		Owns(&policyv1.PodDisruptionBudget{}, builder.WithPredicates(childChanged(func(client.Object) workloadView { return workloadView{} }))).
		// Pods are owned by the workloads; their group label names the group.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetLabels()[rbgsv1.LabelGroupName]}}}
		}), builder.WithPredicates(podChanged())).
		Watches(&rbgsv1.RoleScaler{}, handler.EnqueueRequestsFromMapFunc(scaledGroup),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Named("rolebasedgroup").
		Complete(r)
}

// scaledGroup maps a RoleScaler to the group it targets, if it targets one.
func scaledGroup(_ context.Context, o client.Object) []reconcile.Request {
	rs := o.(*rbgsv1.RoleScaler)
	if rs.Spec.TargetRef.Kind != rbgsv1.TargetGroup {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.TargetRef.Name}}}
}

// workloadView is what a reconcile reads of a workload's status: the state
// the group reports, and whether the workload's controller has seen its
// spec (what a plan waits for after a write, see coordination.go).
type workloadView struct {
	state    roleState
	observed bool
}

// childChanged filters the events of children down to those a reconcile
// acts on. Creations are skipped: the operator made the child, and at
// start-up every group is reconciled anyway. Updates of children without
// a view (Services, ConfigMaps, PodGroups) always count; those of
// workloads count when their spec (generation), labels or annotations
// changed, or what a reconcile reads of their status (view): status
// updates that change nothing of it are skipped. Deletions always count.
func childChanged(view func(client.Object) workloadView) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld, e.ObjectNew
			if view == nil || o.GetGeneration() != n.GetGeneration() ||
				!maps.Equal(o.GetLabels(), n.GetLabels()) || !maps.Equal(o.GetAnnotations(), n.GetAnnotations()) {
				return true
			}
			return view(o) != view(n)
		},
	}
}

// podChanged passes the pod events a group acts on: a pod that failed or
// restarted a container since the last event (restart policies), or was
// marked for a disruption (see disruption), whose readiness changed
// (role readiness, see statefulSetState), a Ready pod whose containers
// start or stop running its images (in-place updates), whose worker
// index label changed (see labelWorkers), whose placement by the scheduler
// changed in a gang (GangsScheduled), or that is gone (discovery).
func podChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool {
			p := e.Object.(*corev1.Pod)
			return podFailure(p) != "" || len(unlabelledWorkers([]corev1.Pod{*p})) > 0
		},
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, n := e.ObjectOld.(*corev1.Pod), e.ObjectNew.(*corev1.Pod)
			return podReady(o) != podReady(n) || (podFailure(n) != "" && podFailure(o) != podFailure(n)) ||
				(podReady(n) && podImagesPending(o) != podImagesPending(n)) || disruption(o) != disruption(n) ||
				o.Labels[rbgsv1.LabelWorkerIndex] != n.Labels[rbgsv1.LabelWorkerIndex] ||
				(n.Spec.SchedulingGroup != nil && placement(o) != placement(n))
		},
		// A pod gone may free the cluster.yaml file it kept (see
		// lingeringFiles).
		DeleteFunc:  func(event.DeleteEvent) bool { return true },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// placement is what the scheduler said of p: the status and reason of
// its PodScheduled condition.
func placement(p *corev1.Pod) [2]string {
	if c := podScheduled(p); c != nil {
		return [2]string{string(c.Status), c.Reason}
	}
	return [2]string{}
}

// TrimPod keeps of a pod only what the group reads (labels, readiness and
// since when, placement, disruption, phase, images, restart counts and termination
// times, the restarts an in-place update expects), so that
// caching every pod of every group costs little memory.
func TrimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	trimmed := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels:            keptPodLabels(p.Labels),
			CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{SchedulingGroup: p.Spec.SchedulingGroup,
			Containers: trimContainers(p.Spec.Containers), InitContainers: trimContainers(p.Spec.InitContainers)},
		Status: corev1.PodStatus{Phase: p.Status.Phase, Reason: p.Status.Reason},
	}
	if v, ok := p.Annotations[rbgsv1.AnnotationExpectedRestarts]; ok {
		trimmed.Annotations = map[string]string{rbgsv1.AnnotationExpectedRestarts: v}
	}
	for _, c := range p.Status.Conditions {
		switch {
		case c.Type == corev1.PodReady:
			// Since when, for a member replaced while the operator was not
			// running (see readyBefore).
			trimmed.Status.Conditions = append(trimmed.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, LastTransitionTime: c.LastTransitionTime})
		case c.Type == corev1.DisruptionTarget:
			trimmed.Status.Conditions = append(trimmed.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason})
		case c.Type == corev1.PodScheduled && p.Spec.SchedulingGroup != nil:
			// The scheduler's word on a gang's pod.
			trimmed.Status.Conditions = append(trimmed.Status.Conditions,
				corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message})
		}
	}
	for _, s := range []struct {
		from []corev1.ContainerStatus
		to   *[]corev1.ContainerStatus
	}{{p.Status.InitContainerStatuses, &trimmed.Status.InitContainerStatuses}, {p.Status.ContainerStatuses, &trimmed.Status.ContainerStatuses}} {
		for _, c := range s.from {
			kept := corev1.ContainerStatus{Name: c.Name, RestartCount: c.RestartCount, Image: c.Image, ImageID: c.ImageID}
			if t := c.State.Terminated; t != nil {
				kept.State.Terminated = &corev1.ContainerStateTerminated{FinishedAt: t.FinishedAt}
			}
			if t := c.LastTerminationState.Terminated; t != nil {
				kept.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: t.FinishedAt}
			}
			*s.to = append(*s.to, kept)
		}
	}
	return trimmed, nil
}

// trimContainers keeps of containers their names, images and restart
// policies (see podImagesPending).
func trimContainers(containers []corev1.Container) []corev1.Container {
	if len(containers) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(containers))
	for i, c := range containers {
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// keptPodLabels are the labels of a pod the group reconciler reads: its
// group (index and watch), its role, its instance and worker index, its
// StatefulSet revision and ordinal, and its set's revision (see
// behindTemplate).
func keptPodLabels(l map[string]string) map[string]string {
	out := make(map[string]string, 7)
	for _, k := range []string{rbgsv1.LabelGroupName, rbgsv1.LabelRole, rbgsv1.LabelInstance, rbgsv1.LabelWorkerIndex,
		appsv1.ControllerRevisionHashLabelKey, appsv1.PodIndexLabel, rbgsv1.LabelGroupRevision} {
		if v, ok := l[k]; ok {
			out[k] = v
		}
	}
	return out
}
