package inspect

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/discovery"
	"github.com/openpatio/rbgs/internal/naming"
)

// PodConfig prints the /etc/rbgs/cluster.yaml and the RBGS_* environment
// that pod rank of role receives in group (a group name, or the index of a
// group of set name), read from the live ConfigMaps and workload, as the
// kubelet would assemble them.
func PodConfig(ctx context.Context, c client.Reader, namespace, set, group, role string, rank int32, w io.Writer) error {
	if i, err := strconv.Atoi(group); err == nil {
		group = naming.Group(set, int32(i))
	}
	var g rbgsv1.RoleBasedGroup
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: group}, &g); err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	i := slices.IndexFunc(g.Spec.Roles, func(r rbgsv1.RoleSpec) bool { return r.Role == role })
	if i < 0 {
		var names []string
		for _, r := range g.Spec.Roles {
			names = append(names, r.Role)
		}
		return fmt.Errorf("group %s has no role %q (roles: %s)", group, role, strings.Join(names, ", "))
	}
	spec := &g.Spec.Roles[i]
	stateful := discovery.KindOf(spec) == rbgsv1.WorkloadStatefulSet
	if want := discovery.ReplicasOf(spec); stateful && (rank < 0 || rank >= want) {
		return fmt.Errorf("role %s has %d pods: rank must be 0..%d", role, want, want-1)
	}
	var key string
	if stateful {
		key = naming.ClusterFileKey(role, &rank)
	} else {
		key = naming.ClusterFileKey(role, nil)
	}
	var files, env corev1.ConfigMap
	for name, cm := range map[string]*corev1.ConfigMap{naming.ClusterConfigMap(group): &files, naming.EnvConfigMap(group): &env} {
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
			return fmt.Errorf("ConfigMap %s: %w", name, err)
		}
	}
	template, err := podTemplate(ctx, c, namespace, naming.Workload(group, role), stateful)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "# %s: /etc/rbgs/cluster.yaml (ConfigMap %s, key %s)\n", podName(group, role, rank, stateful), files.Name, key)
	content, ok := files.Data[key]
	if !ok {
		content = "# not rendered yet\n"
	}
	fmt.Fprint(w, content)
	fmt.Fprintf(w, "\n# environment of container %s\n", template.Spec.Containers[0].Name)
	vars := map[string]string{}
	// envFrom comes first; the container's own env entries win.
	maps.Copy(vars, env.Data)
	for _, e := range template.Spec.Containers[0].Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.labels['"+appsv1.PodIndexLabel+"']":
			vars[e.Name] = strconv.Itoa(int(rank))
		case e.ValueFrom.FieldRef != nil:
			vars[e.Name] = "(from the pod's " + e.ValueFrom.FieldRef.FieldPath + ")"
		default:
			vars[e.Name] = "(from a reference)"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(w, "%s=%s\n", k, vars[k])
	}
	return nil
}

func podTemplate(ctx context.Context, c client.Reader, namespace, name string, stateful bool) (*corev1.PodTemplateSpec, error) {
	key := client.ObjectKey{Namespace: namespace, Name: name}
	if stateful {
		var s appsv1.StatefulSet
		if err := c.Get(ctx, key, &s); err != nil {
			return nil, fmt.Errorf("StatefulSet %s (not created yet while its dependencies start?): %w", name, err)
		}
		return &s.Spec.Template, nil
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, key, &d); err != nil {
		return nil, fmt.Errorf("Deployment %s: %w", name, err)
	}
	return &d.Spec.Template, nil
}

func podName(group, role string, rank int32, stateful bool) string {
	if stateful {
		return "pod " + naming.Pod(group, role, rank)
	}
	return "every pod of Deployment " + naming.Workload(group, role)
}
