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
	"github.com/openpatio/rbgs/internal/naming"
	"github.com/openpatio/rbgs/internal/topology"
)

// PodConfig prints the /etc/rbgs/cluster.yaml and the RBGS_* environment
// that pod rank of role receives in group (a group name, or the index of a
// group of set name), read from the live ConfigMaps and workload, as the
// kubelet would assemble them. For a role of size > 1, rank is the
// instance and worker the pod's index in it (0, the leader, when nil).
func PodConfig(ctx context.Context, c client.Reader, namespace, set, group, role string, rank int32, worker *int32, w io.Writer) error {
	if i, err := strconv.Atoi(group); err == nil {
		group = naming.Group(set, int32(i))
	}
	var g rbgsv1.RoleBasedGroup
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: group}, &g); err != nil {
		return fmt.Errorf("group %s: %w", group, err)
	}
	t := topology.Resolve(&g)
	r := t.Role(role)
	if r == nil {
		return fmt.Errorf("group %s has no role %q (roles: %s)", group, role, strings.Join(rbgsv1.RoleNames(g.Spec.Roles), ", "))
	}
	// Where the pod's file is, its workload, what the pod is called, and
	// what the downward API tells it.
	configMap, key, workload, pod := naming.ClusterConfigMap(group), naming.ClusterFileKey(role, nil), r.Service, "every pod of Deployment "+r.Service
	ordinal := rank
	stateful := r.Kind == rbgsv1.WorkloadStatefulSet
	if stateful {
		if rank < 0 || rank >= r.Replicas {
			return fmt.Errorf("role %s has %d instances: rank must be 0..%d", role, r.Replicas, r.Replicas-1)
		}
		in := &r.Instances[rank]
		j := int32(0)
		if worker != nil {
			j = *worker
		}
		if j < 0 || j >= r.Size {
			return fmt.Errorf("instances of role %s have %d pods: the worker index must be 0..%d", role, r.Size, r.Size-1)
		}
		p := &in.Pods[j]
		configMap, key, workload, pod = in.ConfigMap, p.FileKey, in.Workload, "pod "+p.Name
		if r.MultiPod() {
			ordinal = j
		}
	} else if worker != nil {
		return fmt.Errorf("role %s is a Deployment: its pods have no worker index", role)
	}
	var files, env corev1.ConfigMap
	for name, cm := range map[string]*corev1.ConfigMap{configMap: &files, naming.EnvConfigMap(group): &env} {
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, cm); err != nil {
			return fmt.Errorf("ConfigMap %s: %w", name, err)
		}
	}
	template, err := podTemplate(ctx, c, namespace, workload, stateful)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "# %s: /etc/rbgs/cluster.yaml (ConfigMap %s, key %s)\n", pod, files.Name, key)
	content, ok := files.Data[key]
	if !ok {
		content = "# not rendered yet\n"
	}
	fmt.Fprint(w, content)
	printEnv(w, &template.Spec.Containers[0], env.Data, ordinal)
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

// printEnv prints the environment of container c of a pod of ordinal
// ordinal, whose envFrom ConfigMap holds fromConfigMap.
func printEnv(w io.Writer, c *corev1.Container, fromConfigMap map[string]string, ordinal int32) {
	fmt.Fprintf(w, "\n# environment of container %s\n", c.Name)
	vars := map[string]string{}
	// envFrom comes first; the container's own env entries win.
	maps.Copy(vars, fromConfigMap)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.labels['"+appsv1.PodIndexLabel+"']":
			vars[e.Name] = strconv.Itoa(int(ordinal))
		case e.ValueFrom.FieldRef != nil:
			vars[e.Name] = "(from the pod's " + e.ValueFrom.FieldRef.FieldPath + ")"
		default:
			vars[e.Name] = "(from a reference)"
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(w, "%s=%s\n", k, vars[k])
	}
}
