package inspect

import (
	"encoding/json"
	"fmt"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
)

// Report is what `kubectl rbgs status` shows about one name: a *SetReport,
// or a *GroupReport for a group on its own. The text tree and -o json|yaml
// print the same Report; the JSON field names are stable.
type Report interface{ isReport() }

// SetReport is a RoleBasedGroupSet with its groups.
type SetReport struct {
	// kind is "RoleBasedGroupSet".
	Kind string `json:"kind"`
	// name and namespace of the set.
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// phase is the set's status.phase ("" before the operator wrote one).
	Phase rbgsv1.GroupPhase `json:"phase"`
	// replicas is the number of groups the spec asks for.
	Replicas int32 `json:"replicas"`
	// readyGroups and updatedGroups are the set's status counts: Running
	// groups, and groups at the update revision.
	ReadyGroups   int32 `json:"readyGroups"`
	UpdatedGroups int32 `json:"updatedGroups"`
	// currentRevision is the revision outdated groups run; it equals
	// updateRevision, the revision of the current group template, once the
	// rollout is done.
	CurrentRevision string `json:"currentRevision,omitempty"`
	UpdateRevision  string `json:"updateRevision,omitempty"`
	// rollout is the rollout strategy and the groups it holds back.
	Rollout RolloutReport `json:"rollout"`
	// groups are the set's groups in index order.
	Groups []GroupReport `json:"groups"`
	// lastEvent is the latest event about the set, if any.
	LastEvent *EventReport `json:"lastEvent,omitempty"`
}

// RolloutReport is a set's rollout strategy and where its rollout stands.
type RolloutReport struct {
	// paused, partition and maxUnavailable are spec.rolloutStrategy's, with
	// their defaults (false, 0, 1).
	Paused         bool               `json:"paused"`
	Partition      int32              `json:"partition"`
	MaxUnavailable intstr.IntOrString `json:"maxUnavailable"`
	// waitingGroups are the indices of the groups (below replicas) that do
	// not run the update revision yet, in order; empty when none.
	WaitingGroups []int32 `json:"waitingGroups"`
}

// GroupReport is a RoleBasedGroup: a group of a set within a SetReport, or
// a group on its own.
type GroupReport struct {
	// kind is "RoleBasedGroup" for a group on its own, absent within a set.
	Kind string `json:"kind,omitempty"`
	// name of the group; namespace only for a group on its own.
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// index is the group's index in its set (groups of a set only).
	Index *int32 `json:"index,omitempty"`
	// phase is the group's status.phase ("" before the operator wrote one).
	Phase rbgsv1.GroupPhase `json:"phase"`
	// updated is true when the group runs its set's update revision (groups
	// of a set only); revision is the revision it was last given.
	Updated  *bool  `json:"updated,omitempty"`
	Revision string `json:"revision,omitempty"`
	// surge is true for a surge group of a rollout, above the set's
	// replicas (see rolloutStrategy.maxSurge).
	Surge bool `json:"surge,omitempty"`
	// readyRoles counts the roles whose pods are all ready and up to date.
	ReadyRoles int32 `json:"readyRoles"`
	// restarts counts the recreations of the group's pods.
	Restarts int32 `json:"restarts,omitempty"`
	// roles are the roles of the spec, in its order.
	Roles []RoleReport `json:"roles"`
	// gangs is what the GangsScheduled condition says while a gang is not
	// placed (absent once every gang is, or without gangs).
	Gangs string `json:"gangs,omitempty"`
	// lastEvent is the latest event about the group, if any.
	LastEvent *EventReport `json:"lastEvent,omitempty"`
}

// RoleReport is one role of a group.
type RoleReport struct {
	// role is the role's name.
	Role string `json:"role"`
	// replicas is the number of pods the spec asks for (of instances, for a
	// role of size > 1); readyReplicas the number that are Ready.
	Replicas      int32 `json:"replicas"`
	ReadyReplicas int32 `json:"readyReplicas"`
	// size is the number of pods of an instance and readyPods the Ready
	// pods, for a role of size > 1.
	Size      int32 `json:"size,omitempty"`
	ReadyPods int32 `json:"readyPods,omitempty"`
	// waitingFor names the dependencies the role waits for before its
	// workload is created.
	WaitingFor []string `json:"waitingFor,omitempty"`
	// waitsFor names the role this one waits for while its template
	// changes, as far ahead of it as the group's maxSkew allows.
	WaitsFor string `json:"waitsFor,omitempty"`
	// scaledBy names the RoleScaler that sets the role's replicas, if any.
	ScaledBy string `json:"scaledBy,omitempty"`
}

// EventReport is an event about a set or a group.
type EventReport struct {
	// type is Normal or Warning.
	Type   string `json:"type"`
	Reason string `json:"reason"`
	Note   string `json:"note"`
	// time is when the event (or the last of its series) happened.
	Time metav1.Time `json:"time"`
}

func (*SetReport) isReport()   {}
func (*GroupReport) isReport() {}

// Output formats of Encode.
const (
	FormatJSON = "json"
	FormatYAML = "yaml"
)

// Encode writes r as JSON (indented) or YAML.
func Encode(w io.Writer, r Report, format string) error {
	var out []byte
	var err error
	switch format {
	case FormatJSON:
		out, err = json.MarshalIndent(r, "", "  ")
		out = append(out, '\n')
	case FormatYAML:
		out, err = yaml.Marshal(r)
	default:
		return fmt.Errorf("unknown output format %q", format)
	}
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
