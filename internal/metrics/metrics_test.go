package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

func TestMetrics(t *testing.T) {
	m := New()
	reg := prometheus.NewPedanticRegistry()
	if err := m.Register(reg); err != nil {
		t.Fatal(err)
	}
	m.GroupPhase("ns/a", rbgsv1.PhaseRunning)
	m.GroupPhase("ns/b", rbgsv1.PhaseRunning)
	m.GroupPhase("ns/c", rbgsv1.PhaseDegraded)
	m.GroupPhase("ns/b", rbgsv1.PhaseProgressing)
	m.GroupPhase("ns/a", "") // deleted
	m.SetPhase("ns/s", rbgsv1.PhaseRunning)
	m.SetGroups("ns", "s", 4, 3, 2)
	m.SetGroups("ns", "gone", 1, 1, 1)
	m.ForgetSet("ns", "gone")
	m.GroupStarted(12 * time.Second)
	m.RoleWaited("decode", 7*time.Second)
	m.GroupRestarted(RestartPodFailed)
	m.GroupRestarted(RestartPodFailed)
	m.GroupRestarted(RestartContainerRestarted)

	want := `
# HELP rbgs_groups RoleBasedGroups by phase.
# TYPE rbgs_groups gauge
rbgs_groups{phase="Degraded"} 1
rbgs_groups{phase="Failed"} 0
rbgs_groups{phase="Pending"} 0
rbgs_groups{phase="Progressing"} 1
rbgs_groups{phase="Running"} 0
# HELP rbgs_set_groups Groups of a RoleBasedGroupSet: desired, ready (Running) and updated (at the update revision); updated/desired is the rollout's progress.
# TYPE rbgs_set_groups gauge
rbgs_set_groups{namespace="ns",set="s",state="desired"} 4
rbgs_set_groups{namespace="ns",set="s",state="ready"} 3
rbgs_set_groups{namespace="ns",set="s",state="updated"} 2
# HELP rbgs_group_restarts_total Recreations of every pod of a group (restartPolicy RecreateGroup), by reason.
# TYPE rbgs_group_restarts_total counter
rbgs_group_restarts_total{reason="ContainerRestarted"} 1
rbgs_group_restarts_total{reason="PodFailed"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rbgs_groups", "rbgs_set_groups", "rbgs_group_restarts_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.startup); n != 1 {
		t.Errorf("startup histogram: %d series", n)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "rbgs_role_dependency_wait_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 1 || h.GetSampleSum() != 7 || f.GetMetric()[0].GetLabel()[0].GetValue() != "decode" {
				t.Errorf("role wait: %v", f)
			}
			return
		}
	}
	t.Error("rbgs_role_dependency_wait_seconds not gathered")
}

// A nil *Metrics records nothing and does not panic: reconcilers built
// without metrics (unit tests) use it.
func TestNilMetrics(t *testing.T) {
	var m *Metrics
	m.GroupPhase("ns/a", rbgsv1.PhaseRunning)
	m.SetGroups("ns", "s", 1, 1, 1)
	m.GroupRestarted(RestartPodFailed)
}
