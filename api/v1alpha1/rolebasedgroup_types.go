package v1alpha1

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// StartupPolicy says when a role's workload is created.
// +kubebuilder:validation:Enum=Ordered;Parallel
type StartupPolicy string

const (
	// StartupOrdered creates a role's workload only once every role it
	// depends on is Ready.
	StartupOrdered StartupPolicy = "Ordered"
	// StartupParallel creates every role's workload at once.
	StartupParallel StartupPolicy = "Parallel"
)

// RestartPolicy says what the failure of one pod does to the rest of its
// group.
// +kubebuilder:validation:Enum=None;RecreateGroup;RecreateInstance
type RestartPolicy string

const (
	// RestartNone leaves a failed pod to its StatefulSet or Deployment,
	// which restarts or replaces that pod alone.
	RestartNone RestartPolicy = "None"
	// RestartRecreateGroup recreates every pod of the group when one of them
	// fails or restarts a container: a disaggregated group that lost one
	// member is broken as a whole and must start again together.
	RestartRecreateGroup RestartPolicy = "RecreateGroup"
	// RestartRecreateInstance recreates every pod of one instance of a role
	// when one of them fails or restarts a container: the ranks of a
	// tensor-parallel engine cannot carry on without one of theirs. It is
	// the default of roles of size > 1; for a role of size 1 it replaces the
	// failed pod.
	RestartRecreateInstance RestartPolicy = "RecreateInstance"
)

// DefaultMaxRestarts is the default of maxRestarts.
const DefaultMaxRestarts = 10

// RestartSpec says how the operator reacts when a pod of a group fails.
type RestartSpec struct {
	// restartPolicy: None (default) leaves a failed pod to its workload;
	// RecreateGroup deletes every pod of the group, which their workloads
	// then recreate, when any pod of a role with that policy fails or
	// restarts a container. Recreations in a row wait 10 s, 20 s, 40 s...
	// (at most 5 min) after the previous one. A role may set its own policy.
	// +kubebuilder:default=None
	// +optional
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`

	// maxRestarts bounds the recreations in a row (each less than 10 minutes
	// after the previous one); past it the group's failed pods are left to
	// their workloads and status says so. Default 10.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxRestarts *int32 `json:"maxRestarts,omitempty"`
}

// WorkloadKind is the kind of object that runs a role's pods.
// +kubebuilder:validation:Enum=StatefulSet;Deployment
type WorkloadKind string

const (
	// WorkloadStatefulSet runs the role as an apps/v1 StatefulSet: pods have
	// stable names and ordinals.
	WorkloadStatefulSet WorkloadKind = "StatefulSet"
	// WorkloadDeployment runs a stateless role as an apps/v1 Deployment.
	WorkloadDeployment WorkloadKind = "Deployment"
)

// WorkloadSpec names the workload type of a role.
type WorkloadSpec struct {
	// apiVersion of the workload; only apps/v1.
	// +kubebuilder:default="apps/v1"
	// +kubebuilder:validation:Enum="apps/v1"
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`

	// kind of the workload: StatefulSet (default) or Deployment.
	// +kubebuilder:default=StatefulSet
	// +optional
	Kind WorkloadKind `json:"kind,omitempty"`
}

// GangPolicy says which pods of a role the scheduler places all together or
// not at all.
// +kubebuilder:validation:Enum=None;Instance;Role
type GangPolicy string

const (
	// GangNone schedules the role's pods one by one.
	GangNone GangPolicy = "None"
	// GangInstance places the pods of each instance of a role of size > 1
	// all together or not at all.
	GangInstance GangPolicy = "Instance"
	// GangRole places every pod of the role all together or not at all.
	GangRole GangPolicy = "Role"
)

// RoleScheduling says how the scheduler places a role's pods, through the
// Kubernetes Workload API (scheduling.k8s.io/v1beta1 PodGroups).
type RoleScheduling struct {
	// gang: None (default) schedules the pods one by one; Instance places the
	// pods of each instance together or not at all (needs size > 1); Role
	// places every pod of the role together (the instances of a role, and
	// their number, in one gang). Needs the GenericWorkload feature gate.
	// +optional
	Gang GangPolicy `json:"gang,omitempty"`

	// topologyKey is a node label, e.g. topology.kubernetes.io/rack: all
	// pods of each gang are placed in one domain of it. Needs a gang, and
	// the TopologyAwareWorkloadScheduling feature gate.
	// +kubebuilder:validation:MaxLength=316
	// +optional
	TopologyKey string `json:"topologyKey,omitempty"`
}

// RoleRolloutStrategy says how a template change reaches the instances of
// a role, and how a role moves to another layout.
type RoleRolloutStrategy struct {
	// maxUnavailable is the number (or percentage, rounded down) of the
	// role's instances that may be unavailable at once while its template
	// changes (size > 1: instances replaced at once; the next go when those
	// are Ready again; a Deployment role: its own rolling update). It also
	// bounds a move between layouts (a change of size between 1 and more,
	// or of workload kind): the instances of the new layout come up that
	// many at a time as the old ones go. 0 needs maxSurge; when both come
	// to 0, 1 instance at a time. Default 1.
	// +kubebuilder:validation:XIntOrString
	// +optional
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`

	// maxSurge is the number (or percentage, rounded up) of instances the
	// role may run above replicas while its template changes: surge
	// instances (size > 1) or pods (size 1) at the next indices, started
	// at the new template before an old one goes, and removed, highest
	// first, once every instance runs it. A StatefulSet of size 1 then
	// replaces its pods one at a time. Default 0.
	// +kubebuilder:validation:XIntOrString
	// +optional
	MaxSurge *intstr.IntOrString `json:"maxSurge,omitempty"`

	// podUpdatePolicy says how a template change reaches the role's pods.
	// Recreate (the default) replaces them. InPlaceIfPossible applies a
	// change of container and init container images alone to the running
	// pods, which keep their node, IP, volumes and devices while the
	// kubelet restarts the changed containers, maxUnavailable instances at
	// a time (an instance's pods all at once); any other change replaces
	// the pods as Recreate does, with an InPlaceFallback event naming the
	// field that asked for it. An in-place update ignores maxSurge.
	// +kubebuilder:validation:Enum=Recreate;InPlaceIfPossible
	// +optional
	PodUpdatePolicy PodUpdatePolicy `json:"podUpdatePolicy,omitempty"`
}

// PodUpdatePolicy says how a template change reaches a role's pods.
type PodUpdatePolicy string

const (
	// PodUpdateRecreate replaces the pods.
	PodUpdateRecreate PodUpdatePolicy = "Recreate"
	// PodUpdateInPlaceIfPossible updates the images of the running pods
	// when nothing else changes.
	PodUpdateInPlaceIfPossible PodUpdatePolicy = "InPlaceIfPossible"
)

// DisruptionBudget bounds the voluntary disruptions (evictions: a drain, the
// cluster autoscaler) of a role, in instances.
type DisruptionBudget struct {
	// maxUnavailable is the number (or percentage of the role's replicas,
	// rounded down) of instances that may be unavailable at once. The
	// operator keeps a PodDisruptionBudget per role of each group, named
	// after the role's workload, with this many pods: every pod taken
	// breaks at most one instance.
	// +kubebuilder:validation:XIntOrString
	// +required
	MaxUnavailable intstr.IntOrString `json:"maxUnavailable"`
}

// RoleSpec is one role of a group: a set of identical instances (pods, or
// groups of size pods) run by StatefulSets or a Deployment, reachable
// through one headless Service.
// +kubebuilder:validation:XValidation:rule="!has(self.scheduling) || !has(self.scheduling.gang) || self.scheduling.gang != 'Instance' || (has(self.size) && self.size > 1)",fieldPath=".scheduling.gang",messageExpression="'role ' + self.role + ': gang Instance places the pods of each instance together, and an instance of one pod has nothing to place together: set size over 1, or use gang Role to place the whole role together'"
// +kubebuilder:validation:XValidation:rule="!has(self.scheduling) || !has(self.scheduling.topologyKey) || (has(self.scheduling.gang) && self.scheduling.gang != 'None')",fieldPath=".scheduling.topologyKey",messageExpression="'role ' + self.role + ': topologyKey places each gang in one domain, and the role has no gang: set scheduling.gang to Instance or Role, or remove topologyKey'"
// +kubebuilder:validation:XValidation:rule="!has(self.rolloutStrategy) || !has(self.rolloutStrategy.podUpdatePolicy) || self.rolloutStrategy.podUpdatePolicy != 'InPlaceIfPossible' || !has(self.workload.kind) || self.workload.kind != 'Deployment'",fieldPath=".rolloutStrategy.podUpdatePolicy",messageExpression="'role ' + self.role + ' runs as a Deployment, whose ReplicaSets replace pods of a new template on their own: use Recreate, or run the role as a StatefulSet (remove workload.kind)'"
// +kubebuilder:validation:XValidation:rule="!has(self.size) || self.size == 1 || !has(self.workload.kind) || self.workload.kind != 'Deployment'",fieldPath=".size",messageExpression="'role ' + self.role + ': a size over 1 needs a StatefulSet workload (its pods need stable names): remove workload.kind Deployment, or set size to 1'"
// +kubebuilder:validation:XValidation:rule="!has(self.dependencies) || !(self.role in self.dependencies)",fieldPath=".dependencies",messageExpression="'\"' + self.role + '\": a role cannot depend on itself: remove it from dependencies'"
// +kubebuilder:validation:XValidation:rule="has(self.template.spec) && size(self.template.spec.containers) > 0",fieldPath=".template.spec.containers",reason="FieldValueRequired",messageExpression="'role ' + self.role + ' has no container: add at least one'"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.podManagementPolicy) || !has(self.podManagementPolicy) || self.podManagementPolicy == oldSelf.podManagementPolicy",fieldPath=".podManagementPolicy",messageExpression="'\"' + self.podManagementPolicy + '\": immutable, the StatefulSet of role ' + self.role + ' runs with \"' + oldSelf.podManagementPolicy + '\" and cannot change it: set it back, or remove the role and add it again under a new name'"
type RoleSpec struct {
	// role is the name of the role, unique in the group; a DNS label.
	// Objects of the role are named "<group>-<role>".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="a role name must be a DNS label, lowercase letters, digits and hyphens starting and ending with a letter or digit (it names the role's StatefulSet, Service and pods): rename the role"
	// +required
	Role string `json:"role"`

	// replicas is the number of instances of the role: of pods, when size
	// is 1.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// size is the number of pods of one instance (default 1): an instance of
	// size > 1 is one engine spread over several pods, such as a tensor- or
	// expert-parallel model across nodes, whose pod 0 is the leader. Each
	// instance then runs as its own StatefulSet, "<group>-<role>-<instance>",
	// whose pods are replaced, recreated and scaled together.
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 64",message="must be from 1 to 64 pods per instance: e.g. 8 for an engine spread over 8 nodes, or 1 for an instance of one pod"
	// +optional
	Size *int32 `json:"size,omitempty"`

	// scheduling places the role's pods in gangs, all together or not at
	// all, optionally in one topology domain each (see the README).
	// +optional
	Scheduling *RoleScheduling `json:"scheduling,omitempty"`

	// rolloutStrategy of the instances of the role: how many may be
	// replaced at once when its template changes (size > 1), or move at
	// once to a new layout. An instance's pods are always replaced
	// together, never a mix of versions.
	// +optional
	RolloutStrategy *RoleRolloutStrategy `json:"rolloutStrategy,omitempty"`

	// disruptionBudget bounds the evictions of the role's pods (kubectl
	// drain, the cluster autoscaler): at most maxUnavailable instances at
	// once. Without it the role has no PodDisruptionBudget.
	// +optional
	DisruptionBudget *DisruptionBudget `json:"disruptionBudget,omitempty"`

	// dependencies names other roles of the same group that must be Ready
	// before this role's workload is created (with startupPolicy Ordered).
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=63
	// +optional
	Dependencies []string `json:"dependencies,omitempty"`

	// workload is the kind of object that runs the role's pods.
	// +kubebuilder:default={}
	// +optional
	Workload WorkloadSpec `json:"workload,omitempty"`

	// podManagementPolicy of the role's StatefulSet: Parallel (default) starts
	// all pods at once, OrderedReady one after another. Ignored for
	// Deployment roles.
	// +kubebuilder:default=Parallel
	// +kubebuilder:validation:Enum=OrderedReady;Parallel
	// +optional
	PodManagementPolicy appsv1.PodManagementPolicyType `json:"podManagementPolicy,omitempty"`

	// restartPolicy of the role's pods, in place of the group's: None leaves
	// them to their workload; RecreateGroup recreates the whole group when
	// one of them fails; RecreateInstance recreates the pods of the failed
	// pod's instance. A role of size > 1 recreates its instances unless it
	// says otherwise here (or the group says RecreateGroup).
	// +optional
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`

	// template is the pod template of the role. The operator adds its labels,
	// the RBGS_* environment variables and the /etc/rbgs discovery files.
	// +required
	Template corev1.PodTemplateSpec `json:"template"`
}

// Coordination says how the roles of a group move together while their
// templates change.
type Coordination struct {
	// maxSkew is the most the updated and Ready fraction of a changing role
	// may run ahead of the least updated changing role, as a percentage:
	// with prefill 8 and decode 4 and maxSkew 25%, prefill waits at 2 of 8
	// updated until decode has 1 of 4, so the new revision's ratio of
	// prefill to decode tracks the old one. The role furthest behind may
	// always move one more instance, so a rollout always progresses; a
	// role whose template does not change does not move. Deployment roles
	// roll on their own.
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == string && self.matches('^[0-9]{1,2}%$|^100%$')",message="must be a percentage from 0% to 100%: e.g. 25%"
	// +required
	MaxSkew intstr.IntOrString `json:"maxSkew"`
}

// GroupTemplate is the list of roles of a group.
type GroupTemplate struct {
	// coordination makes the group's roles move together while their
	// templates change (see maxSkew); without it each role rolls on its own.
	// +optional
	Coordination *Coordination `json:"coordination,omitempty"`

	// roles of the group.
	// +listType=map
	// +listMapKey=role
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(r, self.exists_one(x, x.role == r.role))",messageExpression="'\"' + self.map(r, r.role).filter(n, self.filter(x, x.role == n).size() > 1)[0] + '\" names more than one role: role names are unique in a group; rename or remove all but one'"
	// +required
	Roles []RoleSpec `json:"roles"`
}

// UpdatePolicy says how a template change reaches a group's pods.
// +kubebuilder:validation:Enum=RollingUpdate;Recreate
type UpdatePolicy string

const (
	// UpdateRollingUpdate updates each changed role in place, as its
	// workload rolls: for a while, pods of both templates run side by side.
	UpdateRollingUpdate UpdatePolicy = "RollingUpdate"
	// UpdateRecreate empties every changed role (all its pods gone), then
	// starts them again at the new template in dependency order: the group
	// never runs pods of two templates at once.
	UpdateRecreate UpdatePolicy = "Recreate"
)

// RoleBasedGroupSpec is the desired state of a group.
type RoleBasedGroupSpec struct {
	// startupPolicy: Ordered (default) creates a role only once its
	// dependencies are Ready; Parallel creates every role at once.
	// +kubebuilder:default=Ordered
	// +optional
	StartupPolicy StartupPolicy `json:"startupPolicy,omitempty"`

	// updatePolicy: RollingUpdate (default) updates each changed role in
	// place; Recreate empties every changed role, then starts them again
	// at the new template in dependency order, so the group never runs
	// pods of two templates at once. Replica changes apply either way
	// without recreating anything. A set gives its groups its
	// rolloutStrategy.groupUpdatePolicy.
	// +optional
	UpdatePolicy UpdatePolicy `json:"updatePolicy,omitempty"`

	RestartSpec `json:",inline"`

	GroupTemplate `json:",inline"`
}

// GroupPhase summarises the state of a group (or of a set).
// +kubebuilder:validation:Enum=Pending;Progressing;Running;Degraded;Failed
type GroupPhase string

const (
	// PhasePending: nothing is ready yet.
	PhasePending GroupPhase = "Pending"
	// PhaseProgressing: roles are being created, scaled or updated.
	PhaseProgressing GroupPhase = "Progressing"
	// PhaseRunning: every role is Ready, or, for a group that was
	// Running, only scales and keeps serving what it served.
	PhaseRunning GroupPhase = "Running"
	// PhaseDegraded: the group was Running and a role is no longer Ready.
	PhaseDegraded GroupPhase = "Degraded"
	// PhaseFailed: the group cannot be built as specified; nothing is created.
	PhaseFailed GroupPhase = "Failed"
)

// Condition types of groups and sets.
const (
	// ConditionReady is True when every role (every group, for a set) is
	// Ready. A group that was Running stays Ready while its roles only
	// scale and lose no Ready pod (reason Scaling, with Progressing True).
	ConditionReady = "Ready"
	// ConditionProgressing is True while the operator is creating, scaling or
	// updating something.
	ConditionProgressing = "Progressing"
	// ConditionGangsScheduled, on a group whose roles ask for gangs, is True
	// once the scheduler placed every pod of every gang (the pods'
	// PodScheduled conditions say so), and False with the reason and the
	// scheduler's message when a pod of a gang cannot be placed
	// (Unschedulable, SchedulerError), Pending while gangs wait, or when the
	// cluster cannot place gangs at all (GangSchedulingUnavailable,
	// TopologyUnavailable).
	ConditionGangsScheduled = "GangsScheduled"
	// ConditionRestartLimitReached is True once restartPolicy RecreateGroup
	// has recreated a group maxRestarts times in a row: the operator stops
	// recreating it until the spec changes or someone removes the condition.
	ConditionRestartLimitReached = "RestartLimitReached"
)

// RoleStatus is the observed state of one role.
type RoleStatus struct {
	// role is the name of the role.
	Role string `json:"role"`
	// replicas is the desired number of pods (instances, for size > 1).
	Replicas int32 `json:"replicas"`
	// readyReplicas is the number of Ready pods (instances whose pods are
	// all Ready, for size > 1).
	ReadyReplicas int32 `json:"readyReplicas"`
	// updatedReplicas is the number of pods (instances, for size > 1)
	// running the current template.
	// +optional
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// size is the number of pods of an instance, for roles of size > 1;
	// replicas, readyReplicas and updatedReplicas then count instances.
	// +optional
	Size int32 `json:"size,omitempty"`
	// readyPods is the number of Ready pods, for roles of size > 1.
	// +optional
	ReadyPods int32 `json:"readyPods,omitempty"`
	// waitingFor lists the dependencies that are not Ready yet while the
	// role's workload waits to be created.
	// +listType=set
	// +optional
	WaitingFor []string `json:"waitingFor,omitempty"`
	// waitsFor names the role this one waits for while its template
	// changes: it is as far ahead of that role as the group's
	// spec.coordination.maxSkew allows.
	// +optional
	WaitsFor string `json:"waitsFor,omitempty"`
	// recreateSince is when a restart policy that recreates pods
	// (RecreateGroup, RecreateInstance) took effect for the role: failures of
	// its pods that happened before recreate nothing.
	// +optional
	RecreateSince *metav1.Time `json:"recreateSince,omitempty"`
}

// GroupRestart is one recreation of a group's pods.
type GroupRestart struct {
	// time the pods were deleted.
	Time metav1.Time `json:"time"`
	// reason names the pod that failed and how.
	Reason string `json:"reason"`
	// role and instance whose pods were recreated (restartPolicy
	// RecreateInstance); absent when every pod of the group was.
	// +optional
	Role string `json:"role,omitempty"`
	// +optional
	Instance *int32 `json:"instance,omitempty"`
}

// RoleBasedGroupStatus is the observed state of a group.
type RoleBasedGroupStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase summarises the group.
	// +optional
	Phase GroupPhase `json:"phase,omitempty"`
	// readyRoles counts the roles whose pods are all Ready and up to date.
	// +optional
	ReadyRoles int32 `json:"readyRoles,omitempty"`
	// desiredRoles counts the roles of the spec.
	// +optional
	DesiredRoles int32 `json:"desiredRoles,omitempty"`
	// roles reports each role.
	// +listType=map
	// +listMapKey=role
	// +optional
	Roles []RoleStatus `json:"roles,omitempty"`
	// restarts counts the times the operator recreated the group's pods
	// because one failed (restartPolicy RecreateGroup).
	// +optional
	Restarts int32 `json:"restarts,omitempty"`
	// recentRestarts counts the recreations in a row, each less than 10
	// minutes after the previous one; maxRestarts bounds it.
	// +optional
	RecentRestarts int32 `json:"recentRestarts,omitempty"`
	// lastRestart tells when and why the group's pods were last recreated.
	// +optional
	LastRestart *GroupRestart `json:"lastRestart,omitempty"`
	// runningRevision is the revision (label patio.io/rbgs-revision) the
	// group last turned Running with; only groups of a set have one. While
	// it differs from the label, the set's rollout is moving the group.
	// +optional
	RunningRevision string `json:"runningRevision,omitempty"`
	// conditions: Ready, Progressing, and RestartLimitReached once
	// maxRestarts recreations in a row happened.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// RoleBasedGroup is one group of cooperating roles, each run by a StatefulSet
// (or Deployment) with a headless Service, started in dependency order and
// told the whole group's topology.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rbg,categories=openpatio
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyRoles`,description="Roles Ready"
// +kubebuilder:printcolumn:name="Roles",type=integer,JSONPath=`.status.desiredRoles`,description="Roles in the spec"
// +kubebuilder:printcolumn:name="Restarts",type=integer,JSONPath=`.status.restarts`,description="Recreations of the group's pods"
// +kubebuilder:printcolumn:name="Set",type=string,JSONPath=`.metadata.labels.patio\.io/rbgs-name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RoleBasedGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the group.
	// +required
	Spec RoleBasedGroupSpec `json:"spec"`
	// status is the observed state of the group.
	// +optional
	Status RoleBasedGroupStatus `json:"status,omitempty"`
}

// RoleBasedGroupList is a list of RoleBasedGroups.
// +kubebuilder:object:root=true
type RoleBasedGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RoleBasedGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RoleBasedGroup{}, &RoleBasedGroupList{})
}
