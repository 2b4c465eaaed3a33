package integration

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/internal/topology"
	"github.com/openpatio/rbgs/test/wrappers"
)

const (
	groupDenied = `admission webhook "vrolebasedgroup.openpatio.io" denied the request: RoleBasedGroup.openpatio.io "g" is invalid: `
	setDenied   = `admission webhook "vrolebasedgroupset.openpatio.io" denied the request: RoleBasedGroupSet.openpatio.io "s" is invalid: `

	envFix       = `the operator reserves the RBGS_ prefix for the discovery variables it sets in every container`
	mountFix     = `the operator mounts its discovery files at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container, and reserves /etc/rbgs`
	mountNameFix = `rbgs-cluster is the operator's discovery volume, already mounted at /etc/rbgs/cluster.yaml and /etc/rbgs/live in every container: remove this mount and read the files there (a volume of your own needs another name)`
)

// What CEL cannot see, the webhook refuses, each at the exact field with its
// value and the fix; each case is the whole line the user reads.
func TestWebhookRejections(t *testing.T) {
	ns := namespace(t)
	seed := func(edit func(*rbgsv1.RoleBasedGroup)) *rbgsv1.RoleBasedGroup {
		g := wrappers.MakeGroup("g", ns).Role("prefill", 1).Role("decode", 1, "prefill").Obj()
		edit(g)
		return g
	}
	labelled := func(k, v string) *rbgsv1.RoleBasedGroup {
		return seed(func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Template.Labels = map[string]string{k: v} })
	}
	container := func(edit func(*corev1.Container)) *rbgsv1.RoleBasedGroup {
		return seed(func(g *rbgsv1.RoleBasedGroup) { edit(&g.Spec.Roles[1].Template.Spec.Containers[0]) })
	}
	big := wrappers.MakeGroup("g", "").Role("decode", 300).Obj()
	_, bigBytes, _ := discovery.Largest(topology.Resolve(big))
	bigSize := strconv.Itoa(bigBytes)
	cases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroup
		want string
	}{
		{"unknown dependency", wrappers.MakeGroup("g", ns).Role("prefill", 1).Role("decode", 1, "nope").Obj(),
			groupDenied + `spec.roles[1].dependencies[0]: Invalid value: "nope": not a role of this group (roles: prefill, decode): add the role or remove it from dependencies`},
		{"two-role cycle", wrappers.MakeGroup("g", ns).Role("router", 1, "decode").Role("decode", 1, "router").Obj(),
			groupDenied + `spec.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle router -> decode -> router: none of these roles can start first; remove one of these dependencies`},
		{"three-role cycle", wrappers.MakeGroup("g", ns).Role("a", 1, "c").Role("b", 1, "a").Role("c", 1, "b").Obj(),
			groupDenied + `spec.roles[0].dependencies[0]: Invalid value: "c": dependency cycle a -> c -> b -> a: none of these roles can start first; remove one of these dependencies`},
		{"StatefulSet name too long", wrappers.MakeGroup(strings.Repeat("g", 40), ns).Role("prefill", 1).Role(strings.Repeat("r", 12), 1).Obj(),
			strings.Replace(groupDenied, `"g"`, `"`+strings.Repeat("g", 40)+`"`, 1) +
				`spec.roles[1].role: Invalid value: "rrrrrrrrrrrr": the role's StatefulSet would be named "` + strings.Repeat("g", 40) + `-rrrrrrrrrrrr", 53 characters, over the 52 allowed (its pods carry the name in their controller-revision-hash label, limited to 63 characters): shorten the role name or the group's`},
		{"a role named like another role's instance", wrappers.MakeGroup("g", ns).Role("decode", 2).Size(4).Role("decode-1", 1).Obj(),
			groupDenied + `spec.roles[1].role: Invalid value: "decode-1": role decode has size 4, so its instances' StatefulSets are named "g-decode-0", "g-decode-1", ...: a role named "decode-1" would take one of those names; rename it`},
		{"instance maxUnavailable zero without a surge", func() *rbgsv1.RoleBasedGroup {
			g := wrappers.MakeGroup("g", ns).Role("decode", 2).Size(4).Obj()
			g.Spec.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxUnavailable: new(intstr.FromString("0%"))}
			return g
		}(), groupDenied + `spec.roles[0].rolloutStrategy.maxSurge: Invalid value: 0: role decode: maxUnavailable and maxSurge are both 0, so no instance could ever be replaced: set maxSurge to 1 (or more) to start one at the new template before an old one goes, or maxUnavailable to 1`},
		{"instance maxSurge negative", func() *rbgsv1.RoleBasedGroup {
			g := wrappers.MakeGroup("g", ns).Role("decode", 2).Size(4).Obj()
			g.Spec.Roles[0].RolloutStrategy = &rbgsv1.RoleRolloutStrategy{MaxSurge: new(intstr.FromInt32(-1))}
			return g
		}(), groupDenied + `spec.roles[0].rolloutStrategy.maxSurge: Invalid value: "-1": must be a number of instances of at least 0, or a percentage from 0% to 100%: e.g. 1 to start one instance at the new template before an old one goes, or 25%`},
		{"topology key not a label key", wrappers.MakeGroup("g", ns).Role("decode", 2).Size(4).Gang(rbgsv1.GangInstance, "racks/a/b").Obj(),
			groupDenied + `spec.roles[0].scheduling.topologyKey: Invalid value: "racks/a/b": role decode: topologyKey must be a node label key, e.g. topology.kubernetes.io/rack: a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`},
		{"group name not a DNS-1035 label", wrappers.MakeGroup("0group", ns).Role("a", 1).Obj(),
			strings.Replace(groupDenied, `"g"`, `"0group"`, 1) +
				`metadata.name: Invalid value: "0group": a group name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of the group's Services, which are DNS-1035 labels): rename the group`},
		{"discovery too large", wrappers.MakeGroup("g", ns).Role("decode", 300).Obj(),
			groupDenied + `spec.roles[0].replicas: Invalid value: 300: the group's 300 pods need ` + bigSize + ` bytes of discovery files in ConfigMap g-rbgs-cluster (301 files, each listing every pod of the group), over the 1000000 a ConfigMap holds: lower replicas or size, or spread the pods over more groups`},
		{"template relabels the role", labelled(rbgsv1.LabelRole, "decode"),
			groupDenied + `spec.roles[0].template.metadata.labels[patio.io/rbgs-role]: Invalid value: "decode": the operator sets this label to "prefill" on every pod of this role and selects the pods by it: remove it from the template`},
		{"template relabels the group", labelled(rbgsv1.LabelGroupName, "other"),
			groupDenied + `spec.roles[0].template.metadata.labels[patio.io/rbgs-group]: Invalid value: "other": the operator sets this label to "g" on every pod of this role and selects the pods by it: remove it from the template`},
		{"template claims a set", labelled(rbgsv1.LabelSetName, "fleet"),
			groupDenied + `spec.roles[0].template.metadata.labels[patio.io/rbgs-name]: Invalid value: "fleet": the operator sets this label only on the pods of a set's groups, and this group is not one: remove it from the template`},
		{"env in the reserved prefix", container(func(c *corev1.Container) {
			c.Env = []corev1.EnvVar{{Name: "MODEL", Value: "m"}, {Name: rbgsv1.EnvLocalRank, Value: "0"}}
		}), groupDenied + `spec.roles[1].template.spec.containers[0].env[1].name: Invalid value: "RBGS_LOCAL_RANK": ` + envFix + `: rename the variable`},
		{"env of an init container", seed(func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: wrappers.Image,
				Env: []corev1.EnvVar{{Name: "RBGS_ROLES_DECODE_0_ADDRESS", Value: "x"}}}}
		}), groupDenied + `spec.roles[0].template.spec.initContainers[0].env[0].name: Invalid value: "RBGS_ROLES_DECODE_0_ADDRESS": ` + envFix + `: rename the variable`},
		{"envFrom prefix", container(func(c *corev1.Container) {
			c.EnvFrom = []corev1.EnvFromSource{{Prefix: "RBGS_", ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "mine"}}}}
		}), groupDenied + `spec.roles[1].template.spec.containers[0].envFrom[0].prefix: Invalid value: "RBGS_": ` + envFix + `: choose another prefix`},
		{"volume named like the operator's", seed(func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Template.Spec.Volumes = []corev1.Volume{{Name: rbgsv1.ClusterVolumeName,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}), groupDenied + `spec.roles[0].template.spec.volumes[0].name: Invalid value: "rbgs-cluster": the operator adds a volume of this name to every pod, holding the discovery files: rename the volume and its mounts`},
		{"mount of the operator's volume", container(func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: rbgsv1.ClusterVolumeName, MountPath: "/config"}}
		}), groupDenied + `spec.roles[1].template.spec.containers[0].volumeMounts[0].name: Invalid value: "rbgs-cluster": ` + mountNameFix},
		{"mount under /etc/rbgs", container(func(c *corev1.Container) {
			c.VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "data", MountPath: "/etc//rbgs/live/"}}
		}), groupDenied + `spec.roles[1].template.spec.containers[0].volumeMounts[1].mountPath: Invalid value: "/etc//rbgs/live/": ` + mountFix + `: mount the volume elsewhere`},
		{"a Deployment role named cluster", wrappers.MakeGroup("g", ns).Role("prefill", 1).Role("cluster", 1).Workload(rbgsv1.WorkloadDeployment).Obj(),
			groupDenied + `spec.roles[1].role: Invalid value: "cluster": a Deployment role's discovery file is the ConfigMap key "cluster.yaml", which holds the group's live topology (/etc/rbgs/live/cluster.yaml): rename the role, or run it as a StatefulSet`},
		{"a gang created one pod at a time", func() *rbgsv1.RoleBasedGroup {
			g := wrappers.MakeGroup("g", ns).Role("router", 2).Gang(rbgsv1.GangRole, "").Obj()
			g.Spec.Roles[0].PodManagementPolicy = appsv1.OrderedReadyPodManagement
			return g
		}(), groupDenied + `spec.roles[0].podManagementPolicy: Invalid value: "OrderedReady": role router: a gang places all its pods together, and OrderedReady creates each pod only once the previous one is Ready, so the gang would wait forever: use podManagementPolicy Parallel (it cannot change on a role: remove the role and add it again under another name), or remove scheduling.gang`},
		{"RecreateInstance on a Deployment role", func() *rbgsv1.RoleBasedGroup {
			g := wrappers.MakeGroup("g", ns).Role("router", 2).Workload(rbgsv1.WorkloadDeployment).Obj()
			g.Spec.Roles[0].RestartPolicy = rbgsv1.RestartRecreateInstance
			return g
		}(), groupDenied + `spec.roles[0].restartPolicy: Invalid value: "RecreateInstance": role router runs as a Deployment, whose pods are no instances of their own to recreate: use None (the Deployment replaces a failed pod) or RecreateGroup`},
		{"several at once", seed(func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Dependencies = []string{"decode"}
			g.Spec.Roles[1].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RBGS_X", Value: "x"}}
		}), groupDenied + `[spec.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle prefill -> decode -> prefill: none of these roles can start first; remove one of these dependencies, ` +
			`spec.roles[1].template.spec.containers[0].env[0].name: Invalid value: "RBGS_X": ` + envFix + `: rename the variable]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}

	t.Run("the role's own labels, a StatefulSet role named cluster, mounts beside /etc/rbgs", func(t *testing.T) {
		g := wrappers.MakeGroup("allowed", ns).Role("cluster", 1).Role("router", 1).Workload(rbgsv1.WorkloadDeployment).Obj()
		g.Spec.Roles[0].Template.Labels = map[string]string{rbgsv1.LabelRole: "cluster"}
		g.Spec.Roles[1].Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/etc/rbgs-data"}}
		g.Spec.Roles[1].Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		create(t, g)
	})
	t.Run("a cycle introduced by an update", func(t *testing.T) {
		g := wrappers.MakeGroup("upd", ns).Role("router", 1).Role("decode", 1, "router").Obj()
		create(t, g)
		g.Spec.Roles[0].Dependencies = []string{"decode"}
		err := k8s.Update(context.Background(), g)
		want := strings.Replace(groupDenied, `"g"`, `"upd"`, 1) + `spec.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle router -> decode -> router: none of these roles can start first; remove one of these dependencies`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})

	t.Run("a running role gang changing its layout in one edit", func(t *testing.T) {
		g := wrappers.MakeGroup("gl", ns).Role("router", 2).Gang(rbgsv1.GangRole, "").Obj()
		create(t, g)
		g.Spec.Roles[0].Size = new(int32(2))
		err := k8s.Update(context.Background(), g)
		want := strings.Replace(groupDenied, `"g"`, `"gl"`, 1) + `spec.roles[0]: Forbidden: role router is placed as one gang (scheduling.gang Role), so it cannot change between size 1 and size over 1, ` +
			`or its workload kind, a few instances at a time: its pods are only placed together. Do it in two steps: set replicas to 0, then change size (or workload.kind) and replicas`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
		// The two steps go through.
		if err := get(t, ns, "gl", g); err != nil {
			t.Fatal(err)
		}
		update(t, g, func(g *rbgsv1.RoleBasedGroup) { g.Spec.Roles[0].Replicas = new(int32(0)) })
		update(t, g, func(g *rbgsv1.RoleBasedGroup) {
			g.Spec.Roles[0].Size, g.Spec.Roles[0].Replicas = new(int32(2)), new(int32(2))
		})
	})

	setCases := []struct {
		name string
		obj  *rbgsv1.RoleBasedGroupSet
		want string
	}{
		{"set with a cycle", wrappers.MakeSet("s", ns).Role("router", 1, "decode").Role("decode", 1, "router").Obj(),
			setDenied + `spec.groupTemplate.roles[0].dependencies[0]: Invalid value: "decode": dependency cycle router -> decode -> router: none of these roles can start first; remove one of these dependencies`},
		{"set with an unknown dependency", wrappers.MakeSet("s", ns).Role("decode", 1, "prefil").Obj(),
			setDenied + `spec.groupTemplate.roles[0].dependencies[0]: Invalid value: "prefil": not a role of this group (roles: decode): add the role or remove it from dependencies`},
		{"set name not a DNS-1035 label", wrappers.MakeSet("fleet.a", ns).Role("a", 1).Obj(),
			strings.Replace(setDenied, `"s"`, `"fleet.a"`, 1) + `metadata.name: Invalid value: "fleet.a": a set name must start with a lowercase letter and hold only lowercase letters, digits and hyphens (it starts the names of its groups' Services, which are DNS-1035 labels): rename the set`},
		{"set template names a group", func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet("s", ns).Role("prefill", 1).Obj()
			s.Spec.GroupTemplate.Roles[0].Template.Labels = map[string]string{rbgsv1.LabelGroupIndex: "0"}
			return s
		}(), setDenied + `spec.groupTemplate.roles[0].template.metadata.labels[patio.io/rbgs-group-index]: Invalid value: "0": the operator sets this label on every pod, to a value that differs from group to group, and selects the pods by it: remove it from the template`},
		{"set template with a reserved env and a Deployment role named cluster", func() *rbgsv1.RoleBasedGroupSet {
			s := wrappers.MakeSet("s", ns).Role("prefill", 1).Role("cluster", 1).Obj()
			s.Spec.GroupTemplate.Roles[1].Workload.Kind = rbgsv1.WorkloadDeployment
			s.Spec.GroupTemplate.Roles[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: rbgsv1.EnvGroupIndex, Value: "7"}}
			return s
		}(), setDenied + `[spec.groupTemplate.roles[0].template.spec.containers[0].env[0].name: Invalid value: "RBGS_GROUP_INDEX": ` + envFix + `: rename the variable, ` +
			`spec.groupTemplate.roles[1].role: Invalid value: "cluster": a Deployment role's discovery file is the ConfigMap key "cluster.yaml", which holds the group's live topology (/etc/rbgs/live/cluster.yaml): rename the role, or run it as a StatefulSet]`},
	}
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			err := k8s.Create(context.Background(), tc.obj)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

// warnings records the warnings the API server returns.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.list
	w.list = nil
	return out
}

// A group admitted before the collision checks existed keeps running; an
// update keeps what it had, with a warning, and refuses anything new.
func TestWebhookCollisionsRatchet(t *testing.T) {
	ns := namespace(t)
	rec := &warnings{}
	wcfg := rest.CopyConfig(cfg)
	wcfg.WarningHandler = rec
	scheme, err := rbgsscheme.New()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(wcfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	g := wrappers.MakeGroup("old", ns).Role("prefill", 1).Obj()
	main := &g.Spec.Roles[0].Template.Spec.Containers[0]
	main.Env = []corev1.EnvVar{{Name: rbgsv1.EnvLocalRole, Value: "mine"}}
	main.VolumeMounts = []corev1.VolumeMount{{Name: "models", MountPath: "/etc/rbgs/models"}}
	g.Spec.Roles[0].Template.Spec.Volumes = []corev1.Volume{{Name: "models", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	withoutWebhook(t, func() { create(t, g) })

	// The reconcilers do not run the collision checks: the group is built.
	eventually(t, "prefill StatefulSet", func() error { return exists(t, ns, "old-prefill", &appsv1.StatefulSet{}) })
	markStatefulSetReady(t, ns, "old-prefill")
	groupPhase(t, ns, "old", rbgsv1.PhaseRunning)

	kept := []string{
		`spec.roles[0].template.spec.containers[0].env[0].name: "RBGS_LOCAL_ROLE": ` + envFix + `: rename the variable (allowed because the object already had it; a new entry like it is refused)`,
		`spec.roles[0].template.spec.containers[0].volumeMounts[0].mountPath: "/etc/rbgs/models": ` + mountFix + `: mount the volume elsewhere (allowed because the object already had it; a new entry like it is refused)`,
	}
	t.Run("an update that keeps them warns", func(t *testing.T) {
		if err := get(t, ns, "old", g); err != nil {
			t.Fatal(err)
		}
		g.Spec.Roles[0].Replicas = new(int32(2))
		rec.take()
		if err := c.Update(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); strings.Join(got, "\n") != strings.Join(kept, "\n") {
			t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(kept, "\n"))
		}
	})
	t.Run("a new one is refused", func(t *testing.T) {
		if err := get(t, ns, "old", g); err != nil {
			t.Fatal(err)
		}
		main := &g.Spec.Roles[0].Template.Spec.Containers[0]
		main.Env = append(main.Env, corev1.EnvVar{Name: rbgsv1.EnvNamespace, Value: "mine"})
		rec.take()
		err := c.Update(context.Background(), g)
		want := strings.Replace(groupDenied, `"g"`, `"old"`, 1) + `spec.roles[0].template.spec.containers[0].env[1].name: Invalid value: "RBGS_NAMESPACE": ` + envFix + `: rename the variable`
		if err == nil || err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
		if got := rec.take(); strings.Join(got, "\n") != strings.Join(kept, "\n") {
			t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(kept, "\n"))
		}
	})
}
