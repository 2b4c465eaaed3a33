// Package inspect renders what kubectl-rbgs prints: a set (or a group) as a
// tree of groups and roles with their readiness, and the discovery a given
// pod receives. It only reads, through a client.Reader.
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
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
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
	events, err := lastEvents(ctx, c, namespace)
	if err != nil {
		return err
	}
	var s rbgsv1.RoleBasedGroupSet
	err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		var g rbgsv1.RoleBasedGroup
		if gerr := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &g); gerr != nil {
			if apierrors.IsNotFound(gerr) {
				return fmt.Errorf("no RoleBasedGroupSet or RoleBasedGroup %s/%s", namespace, name)
			}
			return gerr
		}
		p.group(&g, "", events)
		return nil
	}
	if err != nil {
		return err
	}
	var groups rbgsv1.RoleBasedGroupList
	if err := c.List(ctx, &groups, client.InNamespace(namespace), client.MatchingLabels{rbgsv1.LabelSetName: name}); err != nil {
		return err
	}
	slices.SortFunc(groups.Items, func(a, b rbgsv1.RoleBasedGroup) int {
		return cmp.Compare(index(&a), index(&b))
	})
	want := int32(1)
	if s.Spec.Replicas != nil {
		want = *s.Spec.Replicas
	}
	fmt.Fprintf(p.W, "RoleBasedGroupSet %s/%s  %s  groups %s ready, %d/%d updated (revision %s)\n",
		namespace, name, p.phase(s.Status.Phase), p.ratio(s.Status.ReadyGroups, want), s.Status.UpdatedGroups, want, s.Status.UpdateRevision)
	if e, ok := events[eventKey{"RoleBasedGroupSet", name}]; ok {
		fmt.Fprintf(p.W, "  %s\n", p.event(e))
	}
	for i := range groups.Items {
		last := i == len(groups.Items)-1
		branch, indent := "├── ", "│   "
		if last {
			branch, indent = "└── ", "    "
		}
		fmt.Fprint(p.W, branch)
		p.group(&groups.Items[i], indent, events)
	}
	return nil
}

func index(g *rbgsv1.RoleBasedGroup) int {
	i, err := strconv.Atoi(g.Labels[rbgsv1.LabelGroupIndex])
	if err != nil {
		return -1
	}
	return i
}

// group prints one group line and its roles, each line after the first
// starting with indent.
func (p Printer) group(g *rbgsv1.RoleBasedGroup, indent string, events map[eventKey]eventsv1.Event) {
	fmt.Fprintf(p.W, "%s  %s  roles %s ready", g.Name, p.phase(g.Status.Phase), p.ratio(g.Status.ReadyRoles, int32(len(g.Spec.Roles))))
	if g.Status.Restarts > 0 {
		fmt.Fprintf(p.W, ", %d restarts", g.Status.Restarts)
	}
	fmt.Fprintln(p.W)
	status := map[string]rbgsv1.RoleStatus{}
	for _, r := range g.Status.Roles {
		status[r.Role] = r
	}
	width := 0
	for _, r := range g.Spec.Roles {
		width = max(width, len(r.Role))
	}
	e, hasEvent := events[eventKey{"RoleBasedGroup", g.Name}]
	for i, r := range g.Spec.Roles {
		branch := "├── "
		if i == len(g.Spec.Roles)-1 && !hasEvent {
			branch = "└── "
		}
		st := status[r.Role]
		want := discovery.ReplicasOf(&r)
		line := fmt.Sprintf("%s%s%-*s  %s pods ready", indent, branch, width, r.Role, p.ratio(st.ReadyReplicas, want))
		if len(st.WaitingFor) > 0 {
			line += "  " + p.paint(yellow, "waiting for "+strings.Join(st.WaitingFor, ", "))
		}
		fmt.Fprintln(p.W, line)
	}
	if hasEvent {
		fmt.Fprintf(p.W, "%s└── %s\n", indent, p.event(e))
	}
}

func (p Printer) event(e eventsv1.Event) string {
	when := e.EventTime.Time
	if e.Series != nil {
		when = e.Series.LastObservedTime.Time
	} else if when.IsZero() {
		when = e.DeprecatedLastTimestamp.Time
	}
	color := dim
	if e.Type == "Warning" {
		color = red
	}
	return p.paint(color, fmt.Sprintf("last event: %s %s: %s (%s ago)", e.Type, e.Reason, e.Note, duration.HumanDuration(p.Now.Sub(when))))
}

type eventKey struct{ kind, name string }

// lastEvents returns the latest event of each object of the namespace.
func lastEvents(ctx context.Context, c client.Reader, namespace string) (map[eventKey]eventsv1.Event, error) {
	var list eventsv1.EventList
	if err := c.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	latest := map[eventKey]eventsv1.Event{}
	at := func(e eventsv1.Event) time.Time {
		if e.Series != nil {
			return e.Series.LastObservedTime.Time
		}
		return cmp.Or(e.EventTime.Time, e.DeprecatedLastTimestamp.Time)
	}
	for _, e := range list.Items {
		k := eventKey{e.Regarding.Kind, e.Regarding.Name}
		if prev, ok := latest[k]; !ok || at(e).After(at(prev)) {
			latest[k] = e
		}
	}
	return latest, nil
}
