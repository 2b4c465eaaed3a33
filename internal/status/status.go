// Package status writes the status of the operator's own objects, the same
// way for groups and sets: once per reconcile at most, never when nothing
// changed, at once when something a person or another controller acts on
// changed, and otherwise (counts, messages) at most once per interval, so a
// fleet that starts up does not rewrite every status for every pod that
// turns Ready. A write lost to a conflict is retried shortly.
package status

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// ConflictRetry is how soon a status write lost to a conflict is tried
// again: the newer object is usually in the cache by then.
const ConflictRetry = 100 * time.Millisecond

// Writer writes statuses of one kind of object. It remembers when it last
// wrote each object's status; Forget drops that when the object is gone.
type Writer struct {
	Client client.Client
	Clock  clock.PassiveClock

	last sync.Map // object key -> time of its last status write
}

// Change is a status to write.
type Change[S any] struct {
	// Current points at the object's status as read; Write sets it to Next
	// when it writes.
	Current *S
	Next    S
	// Significant reports whether Next differs from *Current in what is
	// written at once (see Significant).
	Significant func(prev, next S) bool
	// Interval bounds how often other changes are written.
	Interval time.Duration
}

// Write writes c.Next as the status of obj, whose status c.Current points
// at, when it differs: at once if the change is significant or the
// interval since the last write has passed; otherwise it asks to be
// called again when it has. It reports whether it wrote.
func Write[S any](ctx context.Context, w *Writer, obj client.Object, c Change[S]) (bool, ctrl.Result, error) {
	if equality.Semantic.DeepEqual(*c.Current, c.Next) {
		return false, ctrl.Result{}, nil
	}
	key := client.ObjectKeyFromObject(obj).String()
	if !c.Significant(*c.Current, c.Next) {
		if wait := w.untilNextWrite(key, c.Interval); wait > 0 {
			return false, ctrl.Result{RequeueAfter: wait}, nil
		}
	}
	prev := *c.Current
	*c.Current = c.Next
	if err := w.Client.Status().Update(ctx, obj); err != nil {
		*c.Current = prev
		switch {
		case apierrors.IsNotFound(err):
			return false, ctrl.Result{}, nil
		case apierrors.IsConflict(err):
			// The object changed since the cache showed it. The change that
			// caused the conflict may not wake this object's reconciler (a
			// status or annotation edit), so try again shortly.
			return false, ctrl.Result{RequeueAfter: ConflictRetry}, nil
		}
		return false, ctrl.Result{}, fmt.Errorf("writing status of %s: %w", obj.GetName(), err)
	}
	w.last.Store(key, w.Clock.Now())
	return true, ctrl.Result{}, nil
}

// Forget drops what w remembers of the object key.
func (w *Writer) Forget(key string) { w.last.Delete(key) }

func (w *Writer) untilNextWrite(key string, interval time.Duration) time.Duration {
	last, ok := w.last.Load(key)
	if !ok {
		return 0
	}
	return interval - w.Clock.Since(last.(time.Time))
}

// Significant reports whether next differs from prev in what is written at
// once for every kind: the generation described, the phase, or a
// condition's status or reason.
func Significant(prevGeneration, nextGeneration int64, prevPhase, nextPhase rbgsv1.GroupPhase, prev, next []metav1.Condition) bool {
	if prevGeneration != nextGeneration || prevPhase != nextPhase || len(prev) != len(next) {
		return true
	}
	for _, c := range next {
		p := apimeta.FindStatusCondition(prev, c.Type)
		if p == nil || p.Status != c.Status || p.Reason != c.Reason {
			return true
		}
	}
	return false
}

// Failed makes a copy of an object's status describe a spec that cannot
// be built, at generation: Failed, with Ready and Progressing False for
// reason, err as their message. The rest of the status is kept.
func Failed(observedGeneration *int64, phase *rbgsv1.GroupPhase, conds *[]metav1.Condition, generation int64, reason string, err error, now metav1.Time) {
	*observedGeneration = generation
	*phase = rbgsv1.PhaseFailed
	SetNotReady(conds, reason, err.Error(), generation, now)
}

// SetNotReady turns the Ready and Progressing conditions in conds False
// with reason and message: nothing progresses until the cause is gone.
func SetNotReady(conds *[]metav1.Condition, reason, message string, generation int64, now metav1.Time) {
	for _, t := range []string{rbgsv1.ConditionReady, rbgsv1.ConditionProgressing} {
		apimeta.SetStatusCondition(conds, metav1.Condition{
			Type: t, Status: metav1.ConditionFalse, Reason: reason, Message: message,
			ObservedGeneration: generation, LastTransitionTime: now,
		})
	}
}
