package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/test/audit"
)

// rolloutResult is one rollout of an image across a set's groups, by the
// operator, beside a client that makes the same StatefulSet changes in the
// same steps with no operator (the steps' floor).
type rolloutResult struct {
	Groups         int    `json:"groups"`
	MaxUnavailable string `json:"maxUnavailable"`
	MaxSurge       string `json:"maxSurge"`
	// Unavailable and Surge are the resolved budget: groups that may be
	// unavailable at once, and surge groups.
	Unavailable int `json:"unavailable"`
	Surge       int `json:"surge"`

	// From the image change to every pod of groups 0..groups-1 Ready at
	// it and the surge gone.
	FloorSeconds    float64 `json:"floorSeconds"`
	OperatorSeconds float64 `json:"operatorSeconds"`
	// The fewest groups with every pod Ready (any image) at any moment of
	// the rollout, counted from pod events.
	FloorLeastWhole    int `json:"floorLeastWhole"`
	OperatorLeastWhole int `json:"operatorLeastWhole"`
	// The operator's writes and CPU seconds during the rollout.
	OperatorCounts     audit.Counts `json:"operatorCounts"`
	OperatorCPUSeconds float64      `json:"operatorCPUSeconds"`
	// The same for a second image change of the same set: the first one
	// also moves every object the operator created to its apply entry
	// (one read and one patch each, see internal/apply), later ones do not.
	OperatorAgainSeconds    float64      `json:"operatorAgainSeconds"`
	OperatorAgainLeastWhole int          `json:"operatorAgainLeastWhole"`
	OperatorAgainCounts     audit.Counts `json:"operatorAgainCounts"`
}

// rolloutStrategy is one maxUnavailable:maxSurge pair of -rollout-strategies.
type rolloutStrategy struct{ maxUnavailable, maxSurge string }

func parseRolloutStrategies(s string) ([]rolloutStrategy, error) {
	var out []rolloutStrategy
	for pair := range strings.SplitSeq(s, ",") {
		u, sg, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok {
			return nil, fmt.Errorf("rollout strategy %q: want maxUnavailable:maxSurge, e.g. 0:10%%", pair)
		}
		out = append(out, rolloutStrategy{u, sg})
	}
	return out, nil
}

// rollouts measures, for each strategy, a rollout of n groups by the
// operator and by the steps' floor, each in a namespace of its own.
func (b *bench) rollouts(ctx context.Context, n int, strategies []rolloutStrategy) ([]rolloutResult, error) {
	var out []rolloutResult
	for i, st := range strategies {
		unavailable, surge := intstr.Parse(st.maxUnavailable), intstr.Parse(st.maxSurge)
		u, sg := (&rbgsv1.RolloutStrategy{MaxUnavailable: &unavailable, MaxSurge: &surge}).Budget(int32(n))
		r := rolloutResult{Groups: n, MaxUnavailable: st.maxUnavailable, MaxSurge: st.maxSurge, Unavailable: int(u), Surge: int(sg)}
		logf("=== rollout of %d groups, maxUnavailable %s (%d), maxSurge %s (%d)", n, st.maxUnavailable, u, st.maxSurge, sg)
		if err := b.floorSteps(ctx, fmt.Sprintf("rollout-floor-%d", i), &r); err != nil {
			return out, err
		}
		if err := b.operatorSteps(ctx, fmt.Sprintf("rollout-operator-%d", i), st, &r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// floorSteps creates r.Groups groups' objects directly, then rolls a new
// image across them in the set's steps: surge groups' objects at the new
// image first, Ready before any group moves; then groups from the highest
// index down, both StatefulSets of a group at once, while at least
// groups - unavailable groups (surge ones included) have every pod Ready;
// then the surge groups' objects are deleted.
func (b *bench) floorSteps(ctx context.Context, ns string, r *rolloutResult) error {
	n := r.Groups
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	first, decode := floorObjects(ns, 0, n)
	for g, objs := range decode {
		first[g] = append(first[g], objs...)
	}
	if err := b.create(ctx, first); err != nil {
		return err
	}
	if _, err := waitFor("floor groups", b.timeout, func() bool { return b.track.readyPods(ns, "") == n*podsEach }); err != nil {
		return err
	}

	start := time.Now()
	b.track.startWhole(ns)
	surge, surgeDecode := floorObjects(ns, n, n+r.Surge)
	for g, objs := range surgeDecode {
		surge[g] = append(surge[g], objs...)
	}
	for _, objs := range surge {
		for _, o := range objs {
			if s, ok := o.(*appsv1.StatefulSet); ok {
				s.Spec.Template.Spec.Containers[0].Image = imageV2
			}
		}
	}
	if err := b.create(ctx, surge); err != nil {
		return err
	}
	name := func(i int) string { return naming.Group(setName, int32(i)) }
	next := n - 1 // the next group to move, highest first
	moving := map[string]bool{}
	var moveErr error
	_, err := waitFor("floor rollout steps", b.timeout, func() bool {
		all, updated := b.track.readyByGroup(ns, ""), b.track.readyByGroup(ns, imageV2)
		available, surgeServing := 0, true
		for i := range n + r.Surge {
			g := name(i)
			switch {
			case i >= n:
				surgeServing = surgeServing && updated[g] == podsEach
				if updated[g] == podsEach {
					available++
				}
			case moving[g] && updated[g] == podsEach:
				delete(moving, g)
				available++
			case !moving[g] && all[g] == podsEach:
				available++
			}
		}
		var now []string
		for budget := available - (n - r.Unavailable); budget > 0 && next >= 0 && surgeServing; budget-- {
			now = append(now, name(next))
			moving[name(next)] = true
			next--
		}
		if err := parallel(workers, len(now), func(i int) error { return b.moveGroup(ctx, ns, now[i]) }); err != nil && moveErr == nil {
			moveErr = err
		}
		return moveErr != nil || (next < 0 && len(moving) == 0)
	})
	if err != nil {
		return err
	}
	if moveErr != nil {
		return moveErr
	}
	if err := b.deleteGroups(ctx, surge); err != nil {
		return err
	}
	if _, err := waitFor("floor surge gone", b.timeout, func() bool { return b.track.livePods(ns) == n*podsEach }); err != nil {
		return err
	}
	r.FloorSeconds = seconds(time.Since(start))
	r.FloorLeastWhole = b.track.leastWholeOf(ns)
	logf("floor steps: %.1f s, at least %d groups whole", r.FloorSeconds, r.FloorLeastWhole)
	_, err = b.deleteAll(ctx, ns)
	return err
}

// moveGroup changes the image of both StatefulSets of group g.
func (b *bench) moveGroup(ctx context.Context, ns, g string) error {
	container := template(ns, 1).Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Name
	for _, role := range []string{"prefill", "decode"} {
		s := &appsv1.StatefulSet{}
		s.Namespace, s.Name = ns, g+"-"+role
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, container, imageV2)
		if err := b.k8s.Patch(ctx, s, client.RawPatch(types.StrategicMergePatchType, []byte(patch))); err != nil {
			return fmt.Errorf("moving %s: %w", s.Name, err)
		}
	}
	return nil
}

// deleteGroups deletes the objects of groups, by group.
func (b *bench) deleteGroups(ctx context.Context, groups map[string][]client.Object) error {
	all := slices.Collect(func(yield func([]client.Object) bool) {
		for _, objs := range groups {
			if !yield(objs) {
				return
			}
		}
	})
	return parallel(workers, len(all), func(i int) error {
		for _, o := range all[i] {
			if err := client.IgnoreNotFound(b.k8s.Delete(ctx, o, client.PropagationPolicy("Background"))); err != nil {
				return err
			}
		}
		return nil
	})
}

// operatorSteps creates a set of r.Groups groups with strategy st, then
// changes its image and measures until every pod of groups
// 0..groups-1 is Ready at it and the surge groups' pods are gone.
func (b *bench) operatorSteps(ctx context.Context, ns string, st rolloutStrategy, r *rolloutResult) error {
	n := r.Groups
	if err := b.namespace(ctx, ns); err != nil {
		return err
	}
	op, err := startOperator(b.manager, b.operatorKubeconfig, filepath.Join(b.logDir, "bench-operator-"+ns+".log"))
	if err != nil {
		return err
	}
	defer op.stop(false)
	if err := b.waitWebhook(ctx, ns, n); err != nil {
		return err
	}
	s := template(ns, n)
	s.Spec.RolloutStrategy.MaxUnavailable = new(intstr.Parse(st.maxUnavailable))
	s.Spec.RolloutStrategy.MaxSurge = new(intstr.Parse(st.maxSurge))
	if err := b.k8s.Create(ctx, s); err != nil {
		return err
	}
	if _, err := b.waitSetReady(ctx, ns, int32(n)); err != nil {
		return err
	}
	if _, err := waitFor("operator groups", b.timeout, func() bool { return b.track.readyPods(ns, "") == n*podsEach }); err != nil {
		return err
	}
	cpu, _ := op.stats()
	if r.OperatorSeconds, r.OperatorLeastWhole, r.OperatorCounts, err = b.rollImage(ctx, s, imageV2); err != nil {
		return err
	}
	after, _ := op.stats()
	r.OperatorCPUSeconds = after - cpu
	logf("operator: %.1f s, at least %d groups whole, %d writes, %.1f CPU s", r.OperatorSeconds, r.OperatorLeastWhole, r.OperatorCounts.Writes, r.OperatorCPUSeconds)
	if r.OperatorAgainSeconds, r.OperatorAgainLeastWhole, r.OperatorAgainCounts, err = b.rollImage(ctx, s, imageV3); err != nil {
		return err
	}
	logf("operator, again: %.1f s, at least %d groups whole, %d writes", r.OperatorAgainSeconds, r.OperatorAgainLeastWhole, r.OperatorAgainCounts.Writes)
	if err := b.k8s.Delete(ctx, s); err != nil {
		return err
	}
	_, err = waitFor("operator deletion", b.timeout, func() bool { return b.track.empty(ns) })
	return err
}

// rollImage changes the image of set s to image and returns, once every
// pod of its groups runs it, the surge is gone and the set is Ready: how
// long it took, the fewest whole groups seen, and the operator's requests.
func (b *bench) rollImage(ctx context.Context, s *rbgsv1.RoleBasedGroupSet, image string) (float64, int, audit.Counts, error) {
	n := int(*s.Spec.Replicas)
	time.Sleep(2 * time.Second) // the last status writes of what came before
	if err := b.audit.Mark(); err != nil {
		return 0, 0, audit.Counts{}, err
	}
	patch := client.MergeFrom(s.DeepCopy())
	for i := range s.Spec.GroupTemplate.Roles {
		s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = image
	}
	start := time.Now()
	b.track.startWhole(s.Namespace)
	if err := b.k8s.Patch(ctx, s, patch); err != nil {
		return 0, 0, audit.Counts{}, err
	}
	if _, err := waitFor("operator rollout to "+image, b.timeout, func() bool {
		return b.track.readyPods(s.Namespace, image) == n*podsEach && b.track.livePods(s.Namespace) == n*podsEach
	}); err != nil {
		return 0, 0, audit.Counts{}, err
	}
	if _, err := b.waitSetReady(ctx, s.Namespace, int32(n)); err != nil {
		return 0, 0, audit.Counts{}, err
	}
	took, least := seconds(time.Since(start)), b.track.leastWholeOf(s.Namespace)
	counts, err := b.audit.Count()
	return took, least, counts, err
}

// rolloutTable renders rollout results.
func rolloutTable(results []rolloutResult) string {
	var b strings.Builder
	b.WriteString("| groups | maxUnavailable | maxSurge | steps' floor | operator: first rollout / again | ratio: first / again | fewest whole groups: floor / operator first / again | operator writes: first / again | operator CPU s, first |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	ratio := func(op, floor float64) string {
		if floor <= 0 || op <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2fx", op/floor)
	}
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s (%d) | %s (%d) | %.1f s | %.1f / %.1f s | %s / %s | %d / %d / %d | %d / %d | %.1f |\n",
			r.Groups, r.MaxUnavailable, r.Unavailable, r.MaxSurge, r.Surge, r.FloorSeconds, r.OperatorSeconds, r.OperatorAgainSeconds,
			ratio(r.OperatorSeconds, r.FloorSeconds), ratio(r.OperatorAgainSeconds, r.FloorSeconds),
			r.FloorLeastWhole, r.OperatorLeastWhole, r.OperatorAgainLeastWhole, r.OperatorCounts.Writes, r.OperatorAgainCounts.Writes, r.OperatorCPUSeconds)
	}
	return b.String()
}
