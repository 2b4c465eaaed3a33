// Package metrics exports the operator's own Prometheus metrics, next to
// controller-runtime's, on the manager's metrics endpoint:
//
//	rbgs_groups{phase}                          gauge: groups by phase
//	rbgs_sets{phase}                            gauge: sets by phase
//	rbgs_set_groups{namespace,set,state}        gauge: a set's groups: desired, ready, updated
//	rbgs_group_startup_seconds                  histogram: group creation to its first Running
//	rbgs_role_dependency_wait_seconds{role}     histogram: group creation to a dependant role's creation
//	rbgs_group_restarts_total{reason}           counter: recreations of a group's pods, by reason
//
// Phases are counted from what the reconcilers last computed, so a scrape
// costs a pass over one entry per object and no API call.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Restart reasons of rbgs_group_restarts_total.
const (
	RestartContainerRestarted = "ContainerRestarted"
	RestartPodFailed          = "PodFailed"
	// RestartDisrupted: a pod of an instance was evicted, preempted or
	// lost, or its instance lost a member.
	RestartDisrupted = "Disrupted"
)

// Metrics holds the operator's metrics. The zero value is not usable; use
// New.
type Metrics struct {
	groupPhases phaseCollector
	setPhases   phaseCollector
	setGroups   *prometheus.GaugeVec

	startup  prometheus.Histogram
	roleWait *prometheus.HistogramVec
	restarts *prometheus.CounterVec
}

// New creates the metrics; Register adds them to a registry.
func New() *Metrics {
	buckets := []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800}
	return &Metrics{
		groupPhases: phaseCollector{desc: prometheus.NewDesc("rbgs_groups", "RoleBasedGroups by phase.", []string{"phase"}, nil)},
		setPhases:   phaseCollector{desc: prometheus.NewDesc("rbgs_sets", "RoleBasedGroupSets by phase.", []string{"phase"}, nil)},
		setGroups: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rbgs_set_groups",
			Help: "Groups of a RoleBasedGroupSet: desired, ready (Running) and updated (at the update revision); updated/desired is the rollout's progress.",
		}, []string{"namespace", "set", "state"}),
		startup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rbgs_group_startup_seconds",
			Help:    "Seconds from a RoleBasedGroup's creation to its first Running.",
			Buckets: buckets,
		}),
		roleWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rbgs_role_dependency_wait_seconds",
			Help:    "Seconds a role with dependencies waited, from its group's creation to the creation of its workload.",
			Buckets: buckets,
		}, []string{"role"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rbgs_group_restarts_total",
			Help: "Recreations of every pod of a group (restartPolicy RecreateGroup), by reason.",
		}, []string{"reason"}),
	}
}

// Register adds the metrics to r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{&m.groupPhases, &m.setPhases, m.setGroups, m.startup, m.roleWait, m.restarts} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

var (
	global     *Metrics
	globalOnce sync.Once
)

// Global returns the metrics registered with controller-runtime's registry,
// served on the manager's metrics endpoint; every manager of the process
// shares them.
func Global() *Metrics {
	globalOnce.Do(func() {
		global = New()
		if err := global.Register(ctrlmetrics.Registry); err != nil {
			panic(err) // only on a name clash, a programming error
		}
	})
	return global
}

// GroupPhase records the phase of a group ("namespace/name"); "" forgets
// the group.
func (m *Metrics) GroupPhase(key string, phase rbgsv1.GroupPhase) {
	if m != nil {
		m.groupPhases.set(key, phase)
	}
}

// SetPhase records the phase of a set ("namespace/name"); "" forgets the
// set.
func (m *Metrics) SetPhase(key string, phase rbgsv1.GroupPhase) {
	if m != nil {
		m.setPhases.set(key, phase)
	}
}

// SetGroups records a set's desired, ready and updated groups.
func (m *Metrics) SetGroups(namespace, set string, desired, ready, updated int32) {
	if m == nil {
		return
	}
	for state, v := range map[string]int32{"desired": desired, "ready": ready, "updated": updated} {
		m.setGroups.WithLabelValues(namespace, set, state).Set(float64(v))
	}
}

// ForgetSet drops a deleted set's series.
func (m *Metrics) ForgetSet(namespace, set string) {
	if m != nil {
		m.setGroups.DeletePartialMatch(prometheus.Labels{"namespace": namespace, "set": set})
	}
}

// GroupStarted records a group's first Running, d after its creation.
func (m *Metrics) GroupStarted(d time.Duration) {
	if m != nil {
		m.startup.Observe(d.Seconds())
	}
}

// RoleWaited records that role waited d for its dependencies.
func (m *Metrics) RoleWaited(role string, d time.Duration) {
	if m != nil {
		m.roleWait.WithLabelValues(role).Observe(d.Seconds())
	}
}

// GroupRestarted counts a recreation of a group's pods.
func (m *Metrics) GroupRestarted(reason string) {
	if m != nil {
		m.restarts.WithLabelValues(reason).Inc()
	}
}

// phaseCollector counts objects by their last recorded phase at scrape
// time.
type phaseCollector struct {
	desc   *prometheus.Desc
	phases sync.Map // "namespace/name" -> rbgsv1.GroupPhase
}

func (c *phaseCollector) set(key string, phase rbgsv1.GroupPhase) {
	if phase == "" {
		c.phases.Delete(key)
		return
	}
	c.phases.Store(key, phase)
}

func (c *phaseCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *phaseCollector) Collect(ch chan<- prometheus.Metric) {
	counts := map[rbgsv1.GroupPhase]int{}
	for _, p := range []rbgsv1.GroupPhase{rbgsv1.PhasePending, rbgsv1.PhaseProgressing, rbgsv1.PhaseRunning, rbgsv1.PhaseDegraded, rbgsv1.PhaseFailed} {
		counts[p] = 0
	}
	c.phases.Range(func(_, v any) bool {
		counts[v.(rbgsv1.GroupPhase)]++
		return true
	})
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), string(p))
	}
}
