package group

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/openpatio/rbgs/internal/apply"
)

// LayoutFieldOwner is the field manager of the scale-downs of the
// workloads of a role's former layout (see layout.go), which the operator
// never applies again.
const LayoutFieldOwner = "rbgs-layout"

// RestartFieldOwner is the field manager of the emptying of an instance
// a restart policy recreates (see recreation).
const RestartFieldOwner = "rbgs-restart"

// InPlaceFieldOwner is the field manager of the in-place updates of pods.
const InPlaceFieldOwner = "rbgs-in-place"

// applied is what apply did: the errors of its writes, whether the
// discovery files are in place, the conflict that kept a child from
// being created, the children it deleted, and whether the recreation's
// pods were deleted.
type applied struct {
	err        error
	discovered bool
	conflict   *apply.ConflictError
	removed    []objectRef
	recreated  bool
	// patched are the pods updated in place, as the API server returned
	// them (trimmed, see TrimPod).
	patched []corev1.Pod
}

// apply carries out p for the group of obs, in order: discovery (nothing
// else is written when it fails: no pod may start without its files),
// gangs, workloads and the scale-downs of former layouts, the pods a
// restart policy recreates, prunes and worker labels.
func (r *Reconciler) apply(ctx context.Context, obs *observation, p *plan) applied {
	key := client.ObjectKeyFromObject(obs.g).String()
	w := apply.NewWriter(ctx, r.Client, r.Reader, r.Scheme, r.Memo, key, intent(obs.g))
	var out applied
	writeAll(w, p.discovery)
	if err := w.Err(); err != nil {
		out.err = err
		out.conflict, _ = errors.AsType[*apply.ConflictError](err)
		return out
	}
	out.discovered = true
	writeAll(w, p.gangs)
	writeAll(w, p.workloads)
	writeAll(w, p.budgets)
	errs := []error{w.Err(), r.scaleDown(ctx, p.scales, LayoutFieldOwner)}
	if w.Err() == nil {
		var err error
		out.patched, err = r.patchPods(ctx, p.patches)
		errs = append(errs, err)
	}
	out.conflict, _ = errors.AsType[*apply.ConflictError](w.Err())
	if rc := p.recreation; rc != nil && rc.now() {
		err := r.deletePods(ctx, rc.pods)
		if rc.instance != nil {
			err = r.scaleDown(ctx, []scaleWrite{{obj: rc.instance, replicas: 0}}, RestartFieldOwner)
		}
		if err != nil {
			err = fmt.Errorf("recreating the pods of %s: %w", obs.g.Name, err)
		}
		out.recreated = err == nil
		errs = append(errs, err)
	}
	removed, err := r.prune(ctx, p.prune)
	out.removed = removed
	labelled, labelErr := r.labelWorkers(ctx, p.workerLabels)
	out.patched = append(out.patched, labelled...)
	errs = append(errs, err, labelErr)
	out.err = errors.Join(errs...)
	return out
}

// writeAll makes each write of ws with w, side by side.
func writeAll(w *apply.Writer, ws []write) {
	apply.Parallel(8, len(ws), func(i int) {
		if ws[i].intent != "" {
			w.WriteFor(ws[i].intent, ws[i].live, ws[i].build)
		} else {
			w.Write(ws[i].live, ws[i].build)
		}
	})
}

// scaleDown sets the replicas of workloads (of former layouts, or an
// instance being recreated), each only if it is still the workload that
// was observed, as field manager owner.
func (r *Reconciler) scaleDown(ctx context.Context, scales []scaleWrite, owner string) error {
	errs := make([]error, len(scales))
	apply.Parallel(8, len(scales), func(i int) {
		s := scales[i]
		patch := fmt.Appendf(nil, `{"metadata":{"uid":%q},"spec":{"replicas":%d}}`, s.obj.GetUID(), s.replicas)
		err := r.Client.Patch(ctx, s.obj, client.RawPatch(types.MergePatchType, patch), client.FieldOwner(owner))
		if client.IgnoreNotFound(err) != nil {
			errs[i] = fmt.Errorf("scaling %s %s to %d: %w", kindOf(s.obj), s.obj.GetName(), s.replicas, err)
		}
	})
	return errors.Join(errs...)
}

// patchPods updates pods in place, side by side, each only if it is still
// the pod that was listed (the patch carries its UID), and returns the
// pods patched, as the API server returned them.
func (r *Reconciler) patchPods(ctx context.Context, patches []podPatch) ([]corev1.Pod, error) {
	errs := make([]error, len(patches))
	done := make([]*corev1.Pod, len(patches))
	apply.Parallel(16, len(patches), func(i int) {
		pp := patches[i]
		pod := pp.pod.DeepCopy()
		err := r.Client.Patch(ctx, pod, client.RawPatch(types.StrategicMergePatchType, pp.body()), client.FieldOwner(InPlaceFieldOwner))
		switch {
		case err == nil:
			done[i] = pod
		case client.IgnoreNotFound(err) != nil && !apierrors.IsConflict(err):
			errs[i] = fmt.Errorf("updating pod %s in place: %w", pp.pod.Name, err)
		}
	})
	return trimmedPods(done), errors.Join(errs...)
}

// trimmedPods are the pods of done that are not nil (the pods patched, as
// the API server returned them), trimmed as the cache keeps pods.
func trimmedPods(done []*corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range done {
		if p != nil {
			trimmed, _ := TrimPod(p)
			out = append(out, *trimmed.(*corev1.Pod))
		}
	}
	return out
}

// prune deletes children the spec no longer asks for; the garbage
// collector removes their pods. It returns those it deleted.
func (r *Reconciler) prune(ctx context.Context, stale []objectRef) ([]objectRef, error) {
	var (
		mu      sync.Mutex
		removed []objectRef
		errs    []error
	)
	apply.Parallel(8, len(stale), func(i int) {
		o := stale[i]
		uid := o.obj.GetUID()
		err := r.Client.Delete(ctx, o.obj, client.PropagationPolicy(metav1.DeletePropagationBackground),
			client.Preconditions{UID: &uid})
		mu.Lock()
		defer mu.Unlock()
		if client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", o.kind, o.obj.GetName(), err))
			return
		}
		removed = append(removed, o)
	})
	return removed, errors.Join(errs...)
}
