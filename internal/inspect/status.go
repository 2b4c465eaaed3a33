// Package inspect renders what kubectl-rbgs prints: a set (or a group) as a
// tree of groups and roles with their readiness and rollout, or as data
// (Report); where a set's rollout stands (Rollout); and the discovery a
// given pod receives. It only reads, through a client.Reader.
package inspect

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Printer writes trees, in colour or not.
type Printer struct {
	W     io.Writer
	Color bool
	Now   time.Time
}

const (
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	red    = "\x1b[31m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

func (p Printer) paint(color, s string) string {
	if !p.Color {
		return s
	}
	return color + s + reset
}

func (p Printer) phase(ph rbgsv1.GroupPhase) string {
	switch ph {
	case rbgsv1.PhaseRunning:
		return p.paint(green, string(ph))
	case rbgsv1.PhaseDegraded, rbgsv1.PhaseFailed:
		return p.paint(red, string(ph))
	case "":
		return p.paint(yellow, "Unknown")
	}
	return p.paint(yellow, string(ph))
}

func (p Printer) ratio(ready, want int32) string {
	s := fmt.Sprintf("%d/%d", ready, want)
	if ready >= want {
		return p.paint(green, s)
	}
	return p.paint(yellow, s)
}

// Status prints set namespace/name as a tree: set -> groups -> roles, with
// each role's ready/desired pods, what it waits for, and each group's last
// event. A name that is not a set is looked up as a group.
func Status(ctx context.Context, c client.Reader, namespace, name string, p Printer) error {
	r, err := Load(ctx, c, namespace, name)
	if err != nil {
		return err
	}
	p.Print(r)
	return nil
}

// Load reads what status shows about namespace/name: the set of that name
// with its groups, or the group of that name when no set has it.
func Load(ctx context.Context, c client.Reader, namespace, name string) (Report, error) {
	events, err := lastEvents(ctx, c, namespace)
	if err != nil {
		return nil, err
	}
	var s rbgsv1.RoleBasedGroupSet
	err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		var g rbgsv1.RoleBasedGroup
		if gerr := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &g); gerr != nil {
			if apierrors.IsNotFound(gerr) {
				return nil, fmt.Errorf("no RoleBasedGroupSet or RoleBasedGroup %s/%s", namespace, name)
			}
			return nil, gerr
		}
		r := groupReport(&g, events)
		r.Kind, r.Namespace = "RoleBasedGroup", namespace
		scaled, err := scaledRoles(ctx, c, namespace, rbgsv1.TargetGroup, name)
		if err != nil {
			return nil, err
		}
		markScaled(&r, scaled)
		return &r, nil
	}
	if err != nil {
		return nil, err
	}
	var groups rbgsv1.RoleBasedGroupList
	if err := c.List(ctx, &groups, client.InNamespace(namespace), client.MatchingLabels{rbgsv1.LabelSetName: name}); err != nil {
		return nil, err
	}
	scaled, err := scaledRoles(ctx, c, namespace, rbgsv1.TargetSet, name)
	if err != nil {
		return nil, err
	}
	r := setReport(&s, groups.Items, events)
	for i := range r.Groups {
		markScaled(&r.Groups[i], scaled)
	}
	return r, nil
}

// scaledRoles maps the roles of the target kind/name that a RoleScaler
// drives to its name. A cluster without RoleScalers, or a user who may not
// list them, has none.
func scaledRoles(ctx context.Context, c client.Reader, namespace string, kind rbgsv1.RoleScalerTargetKind, name string) (map[string]string, error) {
	var l rbgsv1.RoleScalerList
	err := c.List(ctx, &l, client.InNamespace(namespace))
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apimeta.IsNoMatchError(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, rs := range l.Items {
		ref := rs.Spec.TargetRef
		ready := apimeta.FindStatusCondition(rs.Status.Conditions, rbgsv1.ConditionReady)
		if ref.Kind != kind || ref.Name != name || ready != nil && ready.Reason == rbgsv1.ReasonDuplicate {
			continue
		}
		out[rs.Spec.Role] = rs.Name
	}
	return out, nil
}

func markScaled(g *GroupReport, scaled map[string]string) {
	for i := range g.Roles {
		g.Roles[i].ScaledBy = scaled[g.Roles[i].Role]
	}
}

// setReport summarises set s and its groups. A group's updated flag is the
// one the set's status gives it; a group the status leaves out is compared
// by its revision label.
func setReport(s *rbgsv1.RoleBasedGroupSet, groups []rbgsv1.RoleBasedGroup, events map[eventKey]eventsv1.Event) *SetReport {
	slices.SortFunc(groups, func(a, b rbgsv1.RoleBasedGroup) int {
		return cmp.Compare(index(&a), index(&b))
	})
	st := &s.Status
	strategy := &s.Spec.RolloutStrategy
	r := &SetReport{
		Kind: "RoleBasedGroupSet", Name: s.Name, Namespace: s.Namespace, Phase: st.Phase,
		Replicas: ptr.Deref(s.Spec.Replicas, 1), ReadyGroups: st.ReadyGroups, UpdatedGroups: st.UpdatedGroups,
		CurrentRevision: st.CurrentRevision, UpdateRevision: st.UpdateRevision,
		Rollout: RolloutReport{
			Paused: strategy.Paused, Partition: ptr.Deref(strategy.Partition, 0),
			MaxUnavailable: ptr.Deref(strategy.MaxUnavailable, intstr.FromInt32(1)),
			WaitingGroups:  []int32{},
		},
		Groups:    make([]GroupReport, 0, len(groups)),
		LastEvent: eventReport(events, "RoleBasedGroupSet", s.Name),
	}
	updated, surge := map[string]bool{}, map[string]bool{}
	for _, g := range st.Groups {
		updated[g.Name], surge[g.Name] = g.Updated, g.Surge
	}
	for i := range groups {
		g := &groups[i]
		gr := groupReport(g, events)
		gr.Revision = g.Labels[rbgsv1.LabelGroupRevision]
		up, ok := updated[g.Name]
		if !ok {
			up = gr.Revision == "" || gr.Revision == st.UpdateRevision
		}
		gr.Updated = &up
		gr.Surge = surge[g.Name]
		if idx := index(g); idx >= 0 {
			gr.Index = ptr.To(int32(idx))
			if !up && int32(idx) < r.Replicas {
				r.Rollout.WaitingGroups = append(r.Rollout.WaitingGroups, int32(idx))
			}
		}
		r.Groups = append(r.Groups, gr)
	}
	return r
}

// groupReport summarises group g: its roles in spec order, with the counts
// of its status.
func groupReport(g *rbgsv1.RoleBasedGroup, events map[eventKey]eventsv1.Event) GroupReport {
	r := GroupReport{
		Name: g.Name, Phase: g.Status.Phase, ReadyRoles: g.Status.ReadyRoles, Restarts: g.Status.Restarts,
		Roles:     make([]RoleReport, 0, len(g.Spec.Roles)),
		LastEvent: eventReport(events, "RoleBasedGroup", g.Name),
	}
	if c := apimeta.FindStatusCondition(g.Status.Conditions, rbgsv1.ConditionGangsScheduled); c != nil && c.Status == metav1.ConditionFalse {
		r.Gangs = c.Message
	}
	status := map[string]rbgsv1.RoleStatus{}
	for _, rs := range g.Status.Roles {
		status[rs.Role] = rs
	}
	for i := range g.Spec.Roles {
		spec := &g.Spec.Roles[i]
		st := status[spec.Role]
		rr := RoleReport{
			Role: spec.Role, Replicas: spec.ReplicasOrDefault(), ReadyReplicas: st.ReadyReplicas,
			WaitingFor: slices.Clone(st.WaitingFor), WaitsFor: st.WaitsFor,
		}
		if size := spec.SizeOrDefault(); size > 1 {
			rr.Size, rr.ReadyPods = size, st.ReadyPods
		}
		r.Roles = append(r.Roles, rr)
	}
	return r
}

func index(g *rbgsv1.RoleBasedGroup) int {
	i, err := strconv.Atoi(g.Labels[rbgsv1.LabelGroupIndex])
	if err != nil {
		return -1
	}
	return i
}

// Print writes r as a tree.
func (p Printer) Print(r Report) {
	switch r := r.(type) {
	case *SetReport:
		p.set(r)
	case *GroupReport:
		p.group(r, "")
	}
}

func (p Printer) set(s *SetReport) {
	fmt.Fprintf(p.W, "RoleBasedGroupSet %s/%s  %s  groups %s ready, %d/%d updated (revision %s)\n",
		s.Namespace, s.Name, p.phase(s.Phase), p.ratio(s.ReadyGroups, s.Replicas), s.UpdatedGroups, s.Replicas, s.UpdateRevision)
	if s.UpdatedGroups < s.Replicas || len(s.Rollout.WaitingGroups) > 0 {
		fmt.Fprintf(p.W, "  %s\n", p.rollout(s))
	}
	if s.LastEvent != nil {
		fmt.Fprintf(p.W, "  %s\n", p.event(s.LastEvent))
	}
	for i := range s.Groups {
		branch, indent := "├── ", "│   "
		if i == len(s.Groups)-1 {
			branch, indent = "└── ", "    "
		}
		fmt.Fprint(p.W, branch)
		p.group(&s.Groups[i], indent)
	}
}

// rollout is the line of a set whose groups are not all updated, e.g.
// "rollout: 2/6 groups at revision abc (from def), paused: groups 0-3 wait".
func (p Printer) rollout(s *SetReport) string {
	line := fmt.Sprintf("rollout: %d/%d groups at revision %s", s.UpdatedGroups, s.Replicas, s.UpdateRevision)
	if s.CurrentRevision != "" && s.CurrentRevision != s.UpdateRevision {
		line += " (from " + s.CurrentRevision + ")"
	}
	if s.Rollout.Partition > 0 {
		line += fmt.Sprintf(", partition %d", s.Rollout.Partition)
	}
	if s.Rollout.Paused {
		line += ", " + p.paint(yellow, "paused")
	}
	switch w := s.Rollout.WaitingGroups; len(w) {
	case 0:
	case 1:
		line += fmt.Sprintf(": group %d waits", w[0])
	default:
		line += ": groups " + IndexRanges(w) + " wait"
	}
	return line
}

// group prints one group line and its roles, each line after the first
// starting with indent.
func (p Printer) group(g *GroupReport, indent string) {
	// A group of a set reports nothing while its first start is routine
	// (see the README's "Status").
	reported := g.Phase != ""
	phase := p.phase(g.Phase)
	if !reported {
		phase = p.paint(yellow, "Pending (starting, no status yet)")
	}
	fmt.Fprintf(p.W, "%s  %s  roles %s ready", g.Name, phase, p.ratio(g.ReadyRoles, int32(len(g.Roles))))
	if g.Restarts > 0 {
		fmt.Fprintf(p.W, ", %d restarts", g.Restarts)
	}
	if g.Surge {
		fmt.Fprint(p.W, "  "+p.paint(dim, "surge"))
	}
	if g.Updated != nil && !*g.Updated {
		outdated := "outdated"
		if g.Revision != "" {
			outdated += " (revision " + g.Revision + ")"
		}
		fmt.Fprint(p.W, "  "+p.paint(yellow, outdated))
	}
	fmt.Fprintln(p.W)
	width := 0
	for _, r := range g.Roles {
		width = max(width, len(r.Role))
	}
	for i, r := range g.Roles {
		branch := "├── "
		if i == len(g.Roles)-1 && g.LastEvent == nil && g.Gangs == "" {
			branch = "└── "
		}
		line := fmt.Sprintf("%s%s%-*s  %s pods ready", indent, branch, width, r.Role, p.ratio(r.ReadyReplicas, r.Replicas))
		if r.Size > 1 {
			line = fmt.Sprintf("%s%s%-*s  %s instances ready (%d pods each, %s pods)", indent, branch, width, r.Role,
				p.ratio(r.ReadyReplicas, r.Replicas), r.Size, p.ratio(r.ReadyPods, r.Replicas*r.Size))
		}
		if !reported {
			line = fmt.Sprintf("%s%s%-*s  %d pods starting", indent, branch, width, r.Role, r.Replicas*max(r.Size, 1))
		}
		if r.ScaledBy != "" {
			line += "  scaled by rolescaler/" + r.ScaledBy
		}
		if len(r.WaitingFor) > 0 {
			line += "  " + p.paint(yellow, "waiting for "+strings.Join(r.WaitingFor, ", "))
		}
		if r.WaitsFor != "" {
			line += "  " + p.paint(yellow, "updating within maxSkew of "+r.WaitsFor)
		}
		fmt.Fprintln(p.W, line)
	}
	if g.Gangs != "" {
		branch := "├── "
		if g.LastEvent == nil {
			branch = "└── "
		}
		fmt.Fprintf(p.W, "%s%s%s\n", indent, branch, p.paint(red, "gangs: "+g.Gangs))
	}
	if g.LastEvent != nil {
		fmt.Fprintf(p.W, "%s└── %s\n", indent, p.event(g.LastEvent))
	}
}

func (p Printer) event(e *EventReport) string {
	color := dim
	if e.Type == "Warning" {
		color = red
	}
	return p.paint(color, fmt.Sprintf("last event: %s %s: %s (%s ago)", e.Type, e.Reason, e.Note, duration.HumanDuration(p.Now.Sub(e.Time.Time))))
}

// eventReport is the latest event about kind/name, or nil.
func eventReport(events map[eventKey]eventsv1.Event, kind, name string) *EventReport {
	e, ok := events[eventKey{kind, name}]
	if !ok {
		return nil
	}
	return &EventReport{Type: e.Type, Reason: e.Reason, Note: e.Note, Time: metav1.NewTime(eventTime(e))}
}

type eventKey struct{ kind, name string }

// lastEvents returns the latest event of each object of the namespace.
func lastEvents(ctx context.Context, c client.Reader, namespace string) (map[eventKey]eventsv1.Event, error) {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	latest := map[eventKey]eventsv1.Event{}
	for _, e := range list.Items {
		k := eventKey{e.Regarding.Kind, e.Regarding.Name}
		if prev, ok := latest[k]; !ok || eventTime(e).After(eventTime(prev)) {
			latest[k] = e
		}
	}
	return latest, nil
}

// eventTime is when e, or the last event of its series, happened.
func eventTime(e eventsv1.Event) time.Time {
	if e.Series != nil {
		return e.Series.LastObservedTime.Time
	}
	return cmp.Or(e.EventTime.Time, e.DeprecatedLastTimestamp.Time)
}
