package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// RolloutStrategy says how a change of the group template reaches the groups.
// +kubebuilder:validation:XValidation:rule="!has(self.maxUnavailable) || (type(self.maxUnavailable) == int ? self.maxUnavailable != 0 : self.maxUnavailable != '0%') || (has(self.maxSurge) && (type(self.maxSurge) == int ? self.maxSurge != 0 : self.maxSurge != '0%'))",fieldPath=".maxSurge",message="maxUnavailable and maxSurge are both 0, so no group could ever move: set maxSurge to 1 (or more) to start a group at the new revision before an old one goes, or maxUnavailable to 1"
type RolloutStrategy struct {
	// maxUnavailable is the number (or percentage of replicas, rounded
	// down) of groups that may be unavailable at once during a rollout: the
	// set keeps at least replicas - maxUnavailable groups Running,
	// counting surge groups. Groups are moved to the new revision from the
	// highest index down, a few at a time; the next ones go only when the
	// moved ones are Running again. Outdated groups that are unavailable on
	// their own (Degraded, Failed, never Running) are moved at once, as a
	// Deployment replaces unavailable pods first. 0 needs maxSurge; when
	// both come to 0 for a number of groups, 1 group moves at a time.
	// Default 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,2}%$|^100%$')",message="must be a number of groups of at least 0, or a percentage from 0% to 100%: e.g. 1 to update one group at a time, 25%, or 0 with maxSurge 1 to add a group before one goes"
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxSurge is the number (or percentage of replicas, rounded up) of
	// groups the set may run above replicas during a rollout. Surge groups
	// take the next indices (<set>-<replicas>, ...), start at the update
	// revision, and must be Running before an old group moves; they count
	// towards the groups that serve, and are removed, highest index first,
	// once every group below replicas runs the update revision. Default 0.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^[0-9]{1,2}%$|^100%$')",message="must be a number of groups of at least 0, or a percentage from 0% to 100%: e.g. 1 to start one group at the new revision before an old one goes, or 10%"
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// partition: groups with an index below partition keep the revision
	// they run; groups from partition up are moved to the new revision.
	// As with a StatefulSet, set it to replicas-1 to canary the highest
	// group, and lower it to continue. Default 0: every group is updated.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Partition *int32 `json:"partition,omitempty"`

	// groupUpdatePolicy says how a moving group takes the new revision:
	// RollingUpdate (default) updates each role in place; Recreate empties
	// the group's changed roles (all their pods gone), then starts them
	// again at the new revision in dependency order, so a group never runs
	// pods of two revisions at once. Roles the revision leaves as they were
	// (but for its label) keep their pods, relabelled before the others
	// start again. With maxSurge this is blue/green per group: the
	// replacement capacity runs before the old group goes. Scales and
	// replica changes still apply without recreating anything.
	// +optional
	GroupUpdatePolicy UpdatePolicy `json:"groupUpdatePolicy,omitempty"`

	// paused: no group starts moving to a new revision while true; groups
	// already moving finish. Scaling still applies; groups created while
	// paused run the revision of the groups not updated yet.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// RoleBasedGroupSetSpec is the desired state of a set of identical groups.
type RoleBasedGroupSetSpec struct {
	// replicas is the number of groups.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// startupPolicy of every group: Ordered (default) or Parallel.
	// +kubebuilder:default=Ordered
	// +optional
	StartupPolicy StartupPolicy `json:"startupPolicy,omitempty"`

	// restartPolicy and maxRestarts of every group. Changes reach every
	// group at once: they change no pod.
	RestartSpec `json:",inline"`

	// groupTemplate is the roles every group runs.
	// +required
	GroupTemplate GroupTemplate `json:"groupTemplate"`

	// rolloutStrategy says how template changes reach the groups. Changes
	// of replica counts only are applied to every group at once.
	// +kubebuilder:default={}
	// +optional
	RolloutStrategy RolloutStrategy `json:"rolloutStrategy,omitempty"`
}

// GroupStatus is the summary of one group within its set's status.
type GroupStatus struct {
	// groupId is the index of the group in the set.
	GroupID string `json:"groupId"`
	// name of the RoleBasedGroup.
	Name string `json:"name"`
	// phase of the group.
	// +optional
	Phase GroupPhase `json:"phase,omitempty"`
	// updated is true when the group runs the set's update revision.
	// +optional
	Updated bool `json:"updated,omitempty"`
	// surge is true for a group above the set's replicas that a rollout
	// runs while it moves the others (see rolloutStrategy.maxSurge).
	// +optional
	Surge bool `json:"surge,omitempty"`
	// roles reports each role of the group.
	// +listType=atomic
	// +optional
	Roles []RoleStatus `json:"roles,omitempty"`
}

// GroupCounts counts a set's groups by phase.
type GroupCounts struct {
	// pending groups.
	// +optional
	Pending int32 `json:"pending,omitempty"`
	// progressing groups.
	// +optional
	Progressing int32 `json:"progressing,omitempty"`
	// running groups.
	// +optional
	Running int32 `json:"running,omitempty"`
	// degraded groups.
	// +optional
	Degraded int32 `json:"degraded,omitempty"`
	// failed groups.
	// +optional
	Failed int32 `json:"failed,omitempty"`
}

// RoleBasedGroupSetStatus is the observed state of a set.
type RoleBasedGroupSetStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase summarises the set.
	// +optional
	Phase GroupPhase `json:"phase,omitempty"`
	// replicas is the number of groups that exist, surge groups included.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyGroups is the number of Running groups.
	// +optional
	ReadyGroups int32 `json:"readyGroups"`
	// updatedGroups is the number of groups at the update revision.
	// +optional
	UpdatedGroups int32 `json:"updatedGroups"`
	// selector selects the pods of every group (for the scale subresource).
	// +optional
	Selector string `json:"selector,omitempty"`
	// currentRevision is the revision every group ran before the rollout in
	// progress; it equals updateRevision once the rollout is done.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`
	// updateRevision is the revision of the current group template.
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`
	// groupCounts counts the groups by phase.
	// +optional
	GroupCounts GroupCounts `json:"groupCounts,omitempty"`
	// groups reports groups one by one, in index order. It is bounded: past
	// MaxGroupStatuses entries it keeps the groups that are not Running
	// first, then Running ones, and groupCounts still counts every group.
	// +listType=atomic
	// +optional
	Groups []GroupStatus `json:"groups,omitempty"`
	// groupsOmitted is the number of groups left out of groups.
	// +optional
	GroupsOmitted int32 `json:"groupsOmitted,omitempty"`
	// conditions: Ready and Progressing.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a set's Progressing condition while a rollout is under way or
// held; its message counts the groups updated, moving and waiting.
const (
	// ReasonRollingOut: groups are being moved to the update revision.
	ReasonRollingOut = "RollingOut"
	// ReasonRolloutPaused: rolloutStrategy.paused holds outdated groups.
	ReasonRolloutPaused = "RolloutPaused"
	// ReasonRolloutPartitioned: every group from rolloutStrategy.partition
	// up runs the update revision; the groups below keep theirs.
	ReasonRolloutPartitioned = "RolloutPartitioned"
)

// MaxGroupStatuses bounds status.groups of a set, so the status stays far
// below the size limit of an object whatever the number of groups.
const MaxGroupStatuses = 100

// RoleBasedGroupSet is N identical RoleBasedGroups, scaled, rolled out and
// reported as one object.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rbgs,categories=openpatio
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyGroups`,description="Running groups"
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`,description="Desired groups"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedGroups`,description="Groups at the update revision"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.replicas) || self.spec.groupTemplate.roles.all(r, size(self.metadata.name) + size(string(self.spec.replicas <= 1 ? 0 : self.spec.replicas - 1)) + size(r.role) + 2 <= 52)",fieldPath=".spec.groupTemplate.roles",messageExpression="'role \"' + self.spec.groupTemplate.roles.map(r, r.role).filter(n, size(self.metadata.name) + size(string(self.spec.replicas <= 1 ? 0 : self.spec.replicas - 1)) + size(n) + 2 > 52)[0] + '\": its StatefulSet, \"' + self.metadata.name + '-<index>-' + self.spec.groupTemplate.roles.map(r, r.role).filter(n, size(self.metadata.name) + size(string(self.spec.replicas <= 1 ? 0 : self.spec.replicas - 1)) + size(n) + 2 > 52)[0] + '\", is over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas'"
// +kubebuilder:validation:XValidation:rule="!has(self.spec.replicas) || self.spec.groupTemplate.roles.all(r, !has(r.size) || r.size <= 1 || size(self.metadata.name) + size(string(self.spec.replicas <= 1 ? 0 : self.spec.replicas - 1)) + size(r.role) + 3 + size(string(has(r.replicas) && r.replicas > 1 ? r.replicas - 1 : 0)) <= 52)",fieldPath=".spec.groupTemplate.roles",message="the StatefulSet of the last instance of a role of size over 1, \"<set>-<index>-<role>-<instance>\", would be over 52 characters in the last groups of the set (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the set name, or lower replicas"
type RoleBasedGroupSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the set.
	// +required
	Spec RoleBasedGroupSetSpec `json:"spec"`
	// status is the observed state of the set.
	// +optional
	Status RoleBasedGroupSetStatus `json:"status,omitempty"`
}

// RoleBasedGroupSetList is a list of RoleBasedGroupSets.
// +kubebuilder:object:root=true
type RoleBasedGroupSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoleBasedGroupSet `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RoleBasedGroupSet{}, &RoleBasedGroupSetList{})
}
