package main

import (
	"strings"
	"testing"
)

const sampleMetrics = `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="apps",resource="statefulsets",scope="resource",subresource="",verb="POST",version="v1"} 40
apiserver_request_total{code="409",component="apiserver",dry_run="",group="apps",resource="statefulsets",scope="resource",subresource="",verb="POST",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="statefulsets",scope="resource",subresource="status",verb="PUT",version="v1"} 7
apiserver_watch_events_total{group="",resource="pods",version="v1"} 300
apiserver_watch_events_sizes_sum{group="",resource="pods",version="v1"} 2048
apiserver_watch_events_sizes_count{group="",resource="pods",version="v1"} 300
apiserver_storage_objects{resource="pods"} 12
`

func TestParseAPICounters(t *testing.T) {
	got := parseAPICounters(sampleMetrics)
	want := apiCounters{
		"post statefulsets":       42, // every response code
		"put statefulsets/status": 7,
		"watch events pods":       300,
		"watch KiB pods":          2,
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestCompareCounters(t *testing.T) {
	floor := apiCounters{"watch events pods": 100, "post events": 50, "put statefulsets/status": 80}
	op := apiCounters{"watch events pods": 130, "post events": 52, "put statefulsets/status": 60, "post rolebasedgroups": 10}
	got := compareCounters(floor, op, 5)
	want := strings.Join([]string{
		"watch events pods: 100 -> 130",
		"post rolebasedgroups: 0 -> 10",
		"put statefulsets/status: 80 -> 60",
	}, "\n  ")
	if got != want {
		t.Errorf("compareCounters:\n%s\nwant:\n%s", got, want)
	}
	if d := (apiCounters{"a": 5, "b": 3}).since(apiCounters{"a": 2, "b": 3}); len(d) != 1 || d["a"] != 3 {
		t.Errorf("since = %v, want only a: 3", d)
	}
}
