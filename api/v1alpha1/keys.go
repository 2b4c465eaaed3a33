package v1alpha1

// Labels the operator puts on the objects it creates and on every pod of a
// group. Users may select on them, e.g. a Service selecting one role across
// all groups of a set with LabelRole and LabelSetName.
const (
	// LabelGroupName names the RoleBasedGroup a pod or object belongs to.
	LabelGroupName = "patio.io/rbgs-group"
	// LabelRole names the role, within its group, of a pod or object.
	LabelRole = "patio.io/rbgs-role"
	// LabelSetName names the RoleBasedGroupSet a group belongs to. Only
	// groups created by a set, and their pods and objects, carry it.
	LabelSetName = "patio.io/rbgs-name"
	// LabelGroupIndex is the index ("0", "1", ...) of a group within its set.
	LabelGroupIndex = "patio.io/rbgs-group-index"
	// LabelInstance is the index ("0", "1", ...) of the instance of a role
	// of size > 1 that a pod belongs to.
	LabelInstance = "patio.io/rbgs-instance"
	// LabelWorkerIndex is the index of a pod within its instance, on pods
	// of roles of size > 1: "0" is the leader, so a selector on it reaches
	// leaders only. The operator sets it once the pod exists (the
	// StatefulSet's own apps.kubernetes.io/pod-index label says the same
	// from the start).
	LabelWorkerIndex = "patio.io/rbgs-worker-index"
	// LabelGroupRevision is the revision (a hash of the set's group template,
	// replica counts excluded) that a set last applied to one of its groups;
	// the group's pods carry it too, so a router or an InferencePool can
	// select the pods of one revision.
	LabelGroupRevision = "patio.io/rbgs-revision"
	// LabelManagedBy marks the objects this operator manages; the operator
	// caches only objects carrying it.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on managed objects.
	ManagedByValue = "rbgs"
)

// Annotations the operator writes on the objects it manages.
const (
	// AnnotationSpecHash is a hash of the object as the operator last applied
	// it. The operator skips the write when the hash and the live object
	// agree; users should not edit it.
	AnnotationSpecHash = "patio.io/rbgs-spec-hash"
	// AnnotationTemplateInputs, on a workload, is a hash of what its pod
	// template is rendered from (the role but its replicas, and the group's
	// identity). While it is unchanged, a new version of the operator that
	// renders templates differently keeps the live template, so an upgrade
	// restarts no pod.
	AnnotationTemplateInputs = "patio.io/rbgs-template-inputs"
	// AnnotationTemplateHash, on the StatefulSet of an instance of a role of
	// size > 1, is a hash of the pod template the operator rendered for it:
	// a change of the role that leaves it as it was replaces no instance.
	AnnotationTemplateHash = "patio.io/rbgs-template-hash"
	// AnnotationTemplateFields, on a StatefulSet, fingerprints its pod
	// template field by field, images left out: a change of images alone
	// is what a role with podUpdatePolicy InPlaceIfPossible updates in
	// place, and the fingerprint names the fields of any other change.
	AnnotationTemplateFields = "patio.io/rbgs-template-fields"
	// AnnotationExpectedRestarts, on a pod updated in place, is the
	// restart count of each container the update leaves it at
	// ("name=count,..."): those restarts are the update's, not crashes.
	AnnotationExpectedRestarts = "patio.io/rbgs-expected-restarts"
	// AnnotationTopologyKey, on a PodGroup, is the topologyKey of the role
	// when the operator created it ("" for none). A PodGroup keeps the
	// topology constraint it was created with: one whose annotation no
	// longer matches the role is replaced once none of its pods is left,
	// and one that has the annotation but no constraint was created by an
	// API server without the TopologyAwareWorkloadScheduling gate.
	AnnotationTopologyKey = "patio.io/rbgs-topology-key"
)

// Environment variables injected into every container of every pod of a group.
// Their names all start with EnvPrefix, which admission refuses in the env
// names and envFrom prefixes of a role's template; an entry that a template
// already had when the check arrived is still allowed, and wins.
const (
	// EnvPrefix starts the name of every variable the operator injects.
	EnvPrefix = "RBGS_"
	// EnvLocalRole is the role of the pod.
	EnvLocalRole = "RBGS_LOCAL_ROLE"
	// EnvLocalRank is the ordinal of the pod within its role (StatefulSet
	// roles only: pods of a Deployment role have no stable ordinal).
	EnvLocalRank = "RBGS_LOCAL_RANK"
	// EnvGroupName is the name of the pod's RoleBasedGroup.
	EnvGroupName = "RBGS_GROUP_NAME"
	// EnvGroupIndex is the index of the pod's group within its set (only for
	// groups of a set).
	EnvGroupIndex = "RBGS_GROUP_INDEX"
	// EnvNamespace is the namespace of the group.
	EnvNamespace = "RBGS_NAMESPACE"
	// EnvLocalWorkerIndex is the index of the pod within its instance (0:
	// the leader), for roles of size > 1.
	EnvLocalWorkerIndex = "RBGS_LOCAL_WORKER_INDEX"
	// EnvInstanceSize is the number of pods of the pod's instance, for roles
	// of size > 1.
	EnvInstanceSize = "RBGS_INSTANCE_SIZE"
	// EnvLeaderAddress is the address, "<host>:<port>", of the leader of the
	// pod's instance, for roles of size > 1.
	EnvLeaderAddress = "RBGS_LEADER_ADDRESS"
	// EnvRolesPrefix starts the per-role variables. For role R (upper-cased,
	// "-" turned into "_") and ordinal k they are RBGS_ROLES_<R>_<k>_ADDRESS
	// and RBGS_ROLES_<R>_REPLICAS.
	EnvRolesPrefix = "RBGS_ROLES_"
	// EnvAddressSuffix ends the per-pod address variables.
	EnvAddressSuffix = "_ADDRESS"
	// EnvReplicasSuffix ends the per-role replica count variables.
	EnvReplicasSuffix = "_REPLICAS"
)

// Compatibility aliases of the variables above, with the names and values
// LeaderWorkerSet gives them, so multi-node recipes written for it run
// unchanged in pods of roles of size > 1.
const (
	// EnvLWSLeaderAddress is the leader's host name, without a port (as
	// LeaderWorkerSet sets it; recipes append their own port).
	EnvLWSLeaderAddress = "LWS_LEADER_ADDRESS"
	// EnvLWSGroupSize is EnvInstanceSize.
	EnvLWSGroupSize = "LWS_GROUP_SIZE"
	// EnvLWSWorkerIndex is EnvLocalWorkerIndex.
	EnvLWSWorkerIndex = "LWS_WORKER_INDEX"
)

// Where pods find the group's topology. Admission refuses a template volume
// named ClusterVolumeName, and a mount at or under ClusterConfigDir or of
// that volume.
const (
	// ClusterVolumeName is the volume, added to every pod, that holds the
	// group's cluster ConfigMap.
	ClusterVolumeName = "rbgs-cluster"
	// ClusterConfigDir is the folder of the discovery files in every container.
	ClusterConfigDir = "/etc/rbgs"
	// LiveClusterConfigDir is where the whole cluster ConfigMap is mounted as
	// a folder, which the kubelet refreshes while the container runs.
	LiveClusterConfigDir = ClusterConfigDir + "/live"
	// ClusterConfigPath is the topology as the container saw it when it
	// started, with its own role and rank under cluster.local.
	ClusterConfigPath = ClusterConfigDir + "/cluster.yaml"
	// LiveClusterConfigPath is the group's topology kept current by the
	// kubelet while the container runs (no cluster.local section).
	LiveClusterConfigPath = LiveClusterConfigDir + "/cluster.yaml"
)

// Limits enforced at admission, derived from Kubernetes' own limits.
const (
	// MaxWorkloadNameLength bounds "<group>-<role>": a StatefulSet's pods carry
	// the controller-revision-hash label "<statefulset>-<hash up to 10
	// characters>", and label values are limited to 63 characters.
	MaxWorkloadNameLength = 52
	// MaxRoles bounds the number of roles in one group.
	MaxRoles = 16
)
