package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoleScalerTargetKind is the kind of object a RoleScaler scales a role of.
// +kubebuilder:validation:Enum=RoleBasedGroupSet;RoleBasedGroup
type RoleScalerTargetKind string

const (
	// TargetSet scales the role across the groups of a set.
	TargetSet RoleScalerTargetKind = "RoleBasedGroupSet"
	// TargetGroup scales the role of one group (not one of a set's).
	TargetGroup RoleScalerTargetKind = "RoleBasedGroup"
)

// RoleScalerTarget names the set or group whose role a RoleScaler scales,
// in the RoleScaler's namespace.
type RoleScalerTarget struct {
	// kind is RoleBasedGroupSet or RoleBasedGroup.
	// +required
	Kind RoleScalerTargetKind `json:"kind"`
	// name of the set or group.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
}

// RoleScalerSpec is the desired state of a RoleScaler.
// +kubebuilder:validation:XValidation:rule="self.targetRef == oldSelf.targetRef && self.role == oldSelf.role",message="targetRef and role are immutable: create another RoleScaler to scale another role, and delete this one"
type RoleScalerSpec struct {
	// targetRef is the set (every group of it) or group whose role is
	// scaled.
	// +required
	TargetRef RoleScalerTarget `json:"targetRef"`
	// role is the role scaled.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Role string `json:"role"`
	// replicas is the number of instances of the role (pods, for size 1)
	// across every group of the target: each group runs ceil(replicas /
	// groups), recomputed when the set's number of groups changes. While
	// the RoleScaler exists, the target runs this count whatever its own
	// spec says of the role's replicas. kubectl scale,
	// HorizontalPodAutoscalers and KEDA set it through the scale
	// subresource.
	// +kubebuilder:validation:Minimum=0
	// +required
	Replicas int32 `json:"replicas"`
}

// RoleScalerStatus is the observed state of a RoleScaler.
type RoleScalerStatus struct {
	// observedGeneration is the generation of the spec this status is about.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// replicas is the number of instances of the role the target's groups
	// run, summed over the groups.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of those instances that are Ready,
	// summed over the groups.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`
	// selector selects one pod per instance of the role in every group of
	// the target (its pods for size 1, the leaders for size > 1), in label
	// selector syntax: the scale subresource's selector, over which
	// autoscalers average per-pod metrics, so the pods it matches are
	// status.replicas once settled.
	// +optional
	Selector string `json:"selector,omitempty"`
	// conditions: Ready is True once every group of the target runs its
	// share of spec.replicas, all Ready; False says why not (the target or
	// the role is missing, another RoleScaler drives the role, the
	// replicas are refused, or the groups are still scaling).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Reasons of a RoleScaler's Ready condition.
const (
	// ReasonScaled: every group runs its share of spec.replicas, all Ready.
	ReasonScaled = "Scaled"
	// ReasonScaling: groups do not run their share Ready yet.
	ReasonScaling = "Scaling"
	// ReasonTargetNotFound: the target does not exist (yet).
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonRoleNotFound: the target has no such role.
	ReasonRoleNotFound = "RoleNotFound"
	// ReasonTargetInSet: the target group belongs to a set, whose template
	// sets its roles.
	ReasonTargetInSet = "TargetInSet"
	// ReasonDuplicate: an older RoleScaler drives the same role.
	ReasonDuplicate = "Duplicate"
	// ReasonReplicasRefused: the target cannot run the role at
	// spec.replicas (the message says why); it keeps the count it runs.
	ReasonReplicasRefused = "ReplicasRefused"
)

// RoleScaler scales one role of a RoleBasedGroupSet (across its groups) or
// of a RoleBasedGroup, through a scale subresource that kubectl scale,
// HorizontalPodAutoscalers and KEDA drive, in instances across the groups.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=rsc,categories=openpatio
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetRef.name`
// +kubebuilder:printcolumn:name="Role",type=string,JSONPath=`.spec.role`
// +kubebuilder:printcolumn:name="Desired",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Current",type=integer,JSONPath=`.status.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoleScaler struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the RoleScaler.
	// +required
	Spec RoleScalerSpec `json:"spec"`
	// status is the observed state of the RoleScaler.
	// +optional
	Status RoleScalerStatus `json:"status,omitempty"`
}

// RoleScalerList is a list of RoleScalers.
// +kubebuilder:object:root=true
type RoleScalerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoleScaler `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RoleScaler{}, &RoleScalerList{})
}
