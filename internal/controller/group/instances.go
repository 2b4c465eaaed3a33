package group

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/apply"
	"github.com/openpatio/rbgs/internal/revision"
	"github.com/openpatio/rbgs/internal/topology"
)

// An instance of a role of size > 1 is one engine spread over several
// pods: it runs as a StatefulSet of its own, with Parallel pod management
// and the OnDelete update strategy, so the StatefulSet controller never
// replaces its pods one by one. When the role's template changes, the
// operator replaces the instance's pods itself, all together: it writes
// the new template with no replicas (the StatefulSet deletes every pod),
// and once no pod of the instance is left, asks for size pods again, which
// all start from the new template. An instance is thus never a mix of
// versions, and the state of a replacement is read from the StatefulSet
// alone, so a restarted operator carries on where it stopped.

// instanceState is what the cache shows of one instance.
type instanceState struct {
	index  int32
	exists bool
	// current: the StatefulSet runs the pod template the role asks for now:
	// it was rendered from the role as it is (its template inputs match: a
	// new rendering of the operator's alone replaces no instance), or the
	// role's change left the rendered template as it was; and its gang,
	// if it has one, need not be replaced.
	current bool
	// emptied: the StatefulSet asks for no pods: the instance is being
	// replaced.
	emptied bool
	// pods of the instance that exist, and those Ready.
	pods      int32
	readyPods int32
	// ready: as many pods as its StatefulSet asks for (the size it runs,
	// which a change of size does not change until its turn), all Ready
	// at the StatefulSet's revision.
	ready bool
	// gangReady: the instance's gang, if it has one, is in place to take
	// its pods (see gangPlan).
	gangReady bool
	// deferred: the instance is not created yet: an instance of the
	// role's former layout still stands in for it (see layout.go).
	deferred bool
	// inPlace: an outdated instance of a role that updates in place would
	// be updated in place (see judgeInPlace), and when not, why.
	inPlace inPlaceVerdict
	// patching: a current instance is in an in-place update that is not
	// over (see inPlaceDone).
	patching bool
}

// serving reports whether the instance is Ready, whatever its version.
func (s instanceState) serving() bool { return s.exists && s.ready && !s.emptied }

// instanceStep is what a reconcile does to one instance.
type instanceStep int

const (
	// instanceAsItRuns keeps the instance as it runs: an outdated
	// instance waiting for its turn keeps its template and size.
	instanceAsItRuns instanceStep = iota
	// instanceApply applies the instance as the role is now, with its
	// pods: create it, or keep a current one as specified.
	instanceApply
	// instanceEmpty writes the new template with no pods: the old pods go.
	instanceEmpty
	// instanceSkip writes nothing: the instance is deferred, or is not
	// created before its gang is in place.
	instanceSkip
	// instanceInPlace writes the new template with the pods it has, which
	// the operator updates in place (see inplace.go).
	instanceInPlace
)

// planInstances decides, for the instances of one role (by index; those
// from regular up are surge instances, see surge.go), which to apply and
// which to replace. The instances that serve stay at least regular -
// maxUnavailable, counting surge instances. Instances that are not Ready
// cost nothing to replace; Ready outdated ones are replaced from the
// highest index down while the budget lasts, and none below regular while
// a surge instance does not serve yet; all at once when together (pods
// that move to another gang of the whole role must be placed together).
// An emptied instance is filled again (applied) once none of its pods is
// left and its gang is in place. limit bounds the instances that start
// being replaced now (the coordination of the group's roles, see
// coordination.go); -1 for no bound. An outdated instance that can be
// updated in place is, when its turn comes, instead of being emptied; one
// in an in-place update keeps it until it is over.
func planInstances(states []instanceState, regular, maxUnavailable int32, together bool, limit int32) []instanceStep {
	steps := make([]instanceStep, len(states))
	available := int32(0)
	surgeServing := true
	for _, s := range states {
		if s.serving() {
			available++
		} else if s.index >= regular {
			surgeServing = false
		}
	}
	var waiting []int
	for i, s := range states {
		switch {
		case s.deferred, !s.exists && !s.gangReady:
			steps[i] = instanceSkip
		case !s.exists:
			steps[i] = instanceApply
		case s.current && s.emptied && (s.pods > 0 || !s.gangReady):
			steps[i] = instanceEmpty
		case s.current && s.patching:
			steps[i] = instanceInPlace
		case s.current:
			steps[i] = instanceApply
		case s.inPlace.relabel:
			// Relabelled, the instance keeps serving: no budget.
			steps[i] = instanceInPlace
		case together || (!s.serving() && limit != 0):
			steps[i] = instanceEmpty
			limit--
		default:
			waiting = append(waiting, i)
		}
	}
	slices.SortFunc(waiting, func(a, b int) int { return cmp.Compare(states[b].index, states[a].index) })
	budget := max(available-(regular-maxUnavailable), 0)
	for _, i := range waiting {
		if budget == 0 || limit == 0 || (states[i].index < regular && !surgeServing) {
			break
		}
		steps[i] = instanceEmpty
		budget--
		limit--
	}
	for i, s := range states {
		if steps[i] == instanceEmpty && !s.current && s.inPlace.ok {
			steps[i] = instanceInPlace
		}
	}
	return steps
}

// observeInstance reads instance in of role r of g from the cache: its
// StatefulSet (nil when absent) and the pods of its role. An instance
// whose gang must be replaced (see gangPlan.stale) is outdated: it is
// replaced, through the role's budget, and filled again once its new
// PodGroup is in place, so it is placed under the constraint the role
// asks for.
func observeInstance(g *rbgsv1.RoleBasedGroup, r *rbgsv1.RoleSpec, role *topology.Role, in *topology.Instance,
	sts *appsv1.StatefulSet, pods []corev1.Pod, gangs *gangPlan) instanceState {
	s := instanceState{index: in.Index, gangReady: gangs.ready(in.PodGroup)}
	own := instanceScope(r.Role, in.Index).of(pods)
	for i := range own {
		s.pods++
		if podReady(&own[i]) && own[i].DeletionTimestamp == nil {
			s.readyPods++
		}
	}
	if sts == nil {
		return s
	}
	s.exists = true
	s.current = (sts.Annotations[rbgsv1.AnnotationTemplateInputs] == templateInputs(g, r) ||
		sts.Annotations[rbgsv1.AnnotationTemplateHash] == templateHash(desiredInstance(g, r, role, in, role.Size))) &&
		!gangs.stale(in.PodGroup)
	s.emptied = sts.Spec.Replicas != nil && *sts.Spec.Replicas == 0
	s.ready = statefulSetState(sts, own).ready && !s.emptied
	switch {
	case s.emptied || gangs.stale(in.PodGroup):
	case s.current && r.InPlace():
		s.patching = instancePatching(sts, own)
	case s.current:
		// A role that does not update in place has its pods relabelled
		// alone (see inPlaceVerdict.relabel).
		s.patching = len(instanceBehind(sts, own)) > 0
	default:
		// Steady: an instance is replaced whole, so its pods run one
		// template except during an update in place, which may change
		// course (another image) at any time.
		s.inPlace = judgeInPlace(sts, desiredInstance(g, r, role, in, role.Size), true).forRole(r)
	}
	return s
}

// instancesState sums the instances of a role into the role's state: it
// exists once one instance does, is ready when every instance is current
// and Ready, and serving while no instance is being replaced and at
// least floor of them are Ready.
func instancesState(states []instanceState, floor int32) roleState {
	rs := roleState{ready: true, serving: true}
	for _, s := range states {
		rs.exists = rs.exists || s.exists
		rs.readyPods += s.readyPods
		if s.serving() {
			rs.readyReplicas++
			if s.current {
				rs.updatedReplicas++
			}
		}
		rs.ready = rs.ready && s.serving() && s.current
		rs.serving = rs.serving && (!s.exists || (s.current && !s.emptied))
	}
	rs.serving = rs.serving && rs.exists && rs.readyReplicas >= floor
	return rs
}

// asItRuns is desired, an instance's StatefulSet, with the template, its
// annotations and the replicas of live: the instance keeps running its
// version, at its size, until its turn comes.
func asItRuns(desired, live *appsv1.StatefulSet) *appsv1.StatefulSet {
	desired.Spec.Template = *live.Spec.Template.DeepCopy()
	desired.Spec.Replicas = live.Spec.Replicas
	keepAnnotations(desired.Annotations, live.Annotations,
		rbgsv1.AnnotationTemplateInputs, rbgsv1.AnnotationTemplateHash, rbgsv1.AnnotationTemplateFields)
	return desired
}

// templateHash is a hash of the pod template of s as the operator renders
// it.
func templateHash(s *appsv1.StatefulSet) string {
	h, _ := revision.Hash(&s.Spec.Template, 10)
	return h
}

// unlabelledWorkers are the pods of instances that do not carry their
// worker index (LabelWorkerIndex) yet, with the index they get: the
// StatefulSet's ordinal of the pod.
func unlabelledWorkers(pods []corev1.Pod) map[*corev1.Pod]string {
	out := map[*corev1.Pod]string{}
	for i := range pods {
		p := &pods[i]
		if _, ok := p.Labels[rbgsv1.LabelInstance]; !ok || p.DeletionTimestamp != nil {
			continue
		}
		if ordinal, ok := p.Labels[appsv1.PodIndexLabel]; ok && p.Labels[rbgsv1.LabelWorkerIndex] != ordinal {
			out[p] = ordinal
		}
	}
	return out
}

// labelWorkers labels each pod of an instance with its worker index (a
// StatefulSet cannot give its pods labels that differ from pod to pod), so
// a selector on LabelWorkerIndex "0" reaches the leaders, and returns the
// pods labelled, as the API server returned them (see podWrites). Where
// the cluster runs the worker-index admission policy
// (config/admission), pods are created labelled and none is left to do.
func (r *Reconciler) labelWorkers(ctx context.Context, todo map[*corev1.Pod]string) ([]corev1.Pod, error) {
	list := slices.Collect(maps.Keys(todo))
	errs := make([]error, len(list))
	done := make([]*corev1.Pod, len(list))
	apply.Parallel(16, len(list), func(i int) {
		p := list[i].DeepCopy()
		patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%q}}}`, rbgsv1.LabelWorkerIndex, todo[list[i]])
		err := r.Client.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))
		if err == nil {
			done[i] = p
		}
		errs[i] = client.IgnoreNotFound(err)
	})
	return trimmedPods(done), errors.Join(errs...)
}
