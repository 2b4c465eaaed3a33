package set

import (
	"context"
	"strconv"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// setKind is the kind of a set, as its groups' owner references name it.
const setKind = "RoleBasedGroupSet"

// fleets holds the fleet of every set, by the set's UID (a set deleted and
// made again under its name starts a fleet of its own while the garbage
// collector removes the old one's groups). The event handler on groups
// keeps them (see groupEvents); reconciles read them.
type fleets struct {
	mu    sync.Mutex
	byUID map[types.UID]*guardedFleet
}

// guardedFleet is a fleet and the lock its users take; dropped once it is
// out of fleets.
type guardedFleet struct {
	mu      sync.Mutex
	f       *fleet
	dropped bool
}

// with runs fn on the fleet of the set with uid, made empty if it has
// none, under the fleet's lock. A fleet left without groups is dropped;
// a caller that waited for a fleet being dropped takes the next one, so
// no change lands in a fleet no one reads.
func (fs *fleets) with(uid types.UID, fn func(f *fleet)) {
	for {
		fs.mu.Lock()
		if fs.byUID == nil {
			fs.byUID = map[types.UID]*guardedFleet{}
		}
		gf := fs.byUID[uid]
		if gf == nil {
			gf = &guardedFleet{f: newFleet()}
			fs.byUID[uid] = gf
		}
		fs.mu.Unlock()
		gf.mu.Lock()
		if gf.dropped {
			gf.mu.Unlock()
			continue
		}
		fn(gf.f)
		if len(gf.f.members) == 0 {
			fs.mu.Lock()
			delete(fs.byUID, uid)
			gf.dropped = true
			fs.mu.Unlock()
		}
		gf.mu.Unlock()
		return
	}
}

// groupEvents is the handler of the set controller's watch on groups:
// it moves each change of a group of a set into the set's fleet, then
// wakes the set, so the fleet the set reads is never older than what
// woke it.
func (r *Reconciler) groupEvents() handler.TypedEventHandler[client.Object, reconcile.Request] {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.TypedFuncs[client.Object, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q queue) { r.track(nil, e.Object, q) },
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q queue) {
			r.track(e.ObjectOld, e.ObjectNew, q)
		},
		DeleteFunc:  func(_ context.Context, e event.TypedDeleteEvent[client.Object], q queue) { r.track(e.Object, nil, q) },
		GenericFunc: func(_ context.Context, e event.TypedGenericEvent[client.Object], q queue) { r.track(nil, e.Object, q) },
	}
}

// track records that group old (nil when new) is now cur (nil when gone)
// in the fleets of the sets that control them, and wakes those sets.
func (r *Reconciler) track(old, cur client.Object, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	var was, is setMember
	if old != nil {
		was = memberKeyOf(old)
	}
	if cur != nil {
		is = memberKeyOf(cur)
	}
	if was.uid != "" && (cur == nil || was.uid != is.uid || was.index != is.index) && was.index >= 0 {
		r.fleets.with(was.uid, func(f *fleet) { f.remove(was.index, string(old.GetUID())) })
		if cur == nil {
			r.Memo.Forget(was.set.String(), old.GetUID())
		}
	}
	if is.uid != "" && is.index >= 0 {
		g := cur.(*rbgsv1.RoleBasedGroup)
		r.fleets.with(is.uid, func(f *fleet) { f.put(is.index, memberOf(is.index, g)) })
	}
	for _, k := range []setMember{was, is} {
		if k.uid != "" {
			q.Add(reconcile.Request{NamespacedName: k.set})
		}
	}
}

// setMember says which set controls a group, and at which index.
type setMember struct {
	set types.NamespacedName
	uid types.UID
	// index is the group's index, -1 when its index label is missing or
	// does not match its name: such a group is not the set's to manage.
	index int32
}

// memberKeyOf is the set that controls group o, none ("" uid) when no
// set does.
func memberKeyOf(o client.Object) setMember {
	ref := metav1.GetControllerOf(o)
	if ref == nil || ref.Kind != setKind || ref.APIVersion != rbgsv1.GroupVersion.String() {
		return setMember{}
	}
	k := setMember{set: types.NamespacedName{Namespace: o.GetNamespace(), Name: ref.Name}, uid: ref.UID, index: -1}
	if i, err := strconv.ParseInt(o.GetLabels()[rbgsv1.LabelGroupIndex], 10, 32); err == nil && o.GetName() == naming.Group(ref.Name, int32(i)) {
		k.index = int32(i)
	}
	return k
}
