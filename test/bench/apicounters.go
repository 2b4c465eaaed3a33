package main

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// apiCounters are counters of the API server's own metrics: requests by
// verb, resource and subresource, and watch events and their bytes by
// resource. Unlike the audit log, which the bench keeps for the operator's
// identity alone, they count every client, the control plane included, so
// a phase's counters show what the operator makes the cluster do.
type apiCounters map[string]float64

var metricLabel = regexp.MustCompile(`(\w+)="([^"]*)"`)

// readAPICounters reads the API server's /metrics.
func readAPICounters(ctx context.Context, api rest.Interface) (apiCounters, error) {
	raw, err := api.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	return parseAPICounters(string(raw)), nil
}

// parseAPICounters sums the counters of interest in the text exposition
// format, by verb and resource or by resource.
func parseAPICounters(text string) apiCounters {
	out := apiCounters{}
	for line := range strings.Lines(text) {
		name, rest, ok := strings.Cut(line, "{")
		if !ok {
			continue
		}
		labelText, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		l := map[string]string{}
		for _, m := range metricLabel.FindAllStringSubmatch(labelText, -1) {
			l[m[1]] = m[2]
		}
		resource := l["resource"]
		if l["subresource"] != "" {
			resource += "/" + l["subresource"]
		}
		switch name {
		case "apiserver_request_total":
			out[strings.ToLower(l["verb"])+" "+resource] += v
		case "apiserver_watch_events_total":
			out["watch events "+resource] += v
		case "apiserver_watch_events_sizes_sum":
			out["watch KiB "+resource] += v / 1024
		}
	}
	return out
}

// since returns the increase of each counter from before.
func (c apiCounters) since(before apiCounters) apiCounters {
	out := apiCounters{}
	for k, v := range c {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// compareCounters lists, largest increase first, the counters that differ
// between two phases by at least threshold, as "key: a -> b".
func compareCounters(a, b apiCounters, threshold float64) string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	diff := func(k string) float64 { return b[k] - a[k] }
	keys = slices.DeleteFunc(keys, func(k string) bool { return math.Abs(diff(k)) < threshold })
	slices.SortFunc(keys, func(x, y string) int { return cmp.Or(cmp.Compare(diff(y), diff(x)), strings.Compare(x, y)) })
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s: %.0f -> %.0f", k, a[k], b[k]))
	}
	return strings.Join(lines, "\n  ")
}
