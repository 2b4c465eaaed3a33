package main

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/naming"
)

// Completion of arguments reads the cluster the flags name (cobra parses
// them before it asks): names of sets and groups, group indices, roles,
// ranks and namespaces. A cluster that cannot be read completes nothing.

const noFiles = cobra.ShellCompDirectiveNoFileComp

// matching keeps the candidates that start with prefix, sorted.
func matching(candidates []string, prefix string) []string {
	out := slices.DeleteFunc(candidates, func(s string) bool { return !strings.HasPrefix(s, prefix) })
	slices.Sort(out)
	return slices.Compact(out)
}

// completeNames completes NAME with the sets of the namespace, and with
// its groups too when groups is true.
func completeNames(e *env, groups bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, noFiles
		}
		c, namespace, err := e.client()
		if err != nil {
			return nil, noFiles
		}
		var names []string
		var sets rbgsv1.RoleBasedGroupSetList
		if err := c.List(cmd.Context(), &sets, client.InNamespace(namespace)); err != nil {
			return nil, noFiles
		}
		for _, s := range sets.Items {
			names = append(names, s.Name)
		}
		if groups {
			var list rbgsv1.RoleBasedGroupList
			if err := c.List(cmd.Context(), &list, client.InNamespace(namespace)); err != nil {
				return nil, noFiles
			}
			for _, g := range list.Items {
				names = append(names, g.Name)
			}
		}
		return matching(names, toComplete), noFiles
	}
}

// completeConfig completes config NAME GROUP ROLE RANK [WORKER]: sets, the
// indices of set NAME's groups, the roles of the group, the ranks of the
// role, the worker indices of its instances.
// groupIndices lists the indices of the groups of set that start with
// prefix, in order.
func groupIndices(ctx context.Context, c client.Reader, namespace, set, prefix string) []string {
	var list rbgsv1.RoleBasedGroupList
	if err := c.List(ctx, &list, client.InNamespace(namespace), client.MatchingLabels{rbgsv1.LabelSetName: set}); err != nil {
		return nil
	}
	var indices []int
	for _, g := range list.Items {
		if i, err := strconv.Atoi(g.Labels[rbgsv1.LabelGroupIndex]); err == nil {
			indices = append(indices, i)
		}
	}
	slices.Sort(indices)
	var out []string
	for _, i := range indices {
		if s := strconv.Itoa(i); strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}

func completeConfig(e *env) cobra.CompletionFunc {
	sets := completeNames(e, false)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return sets(cmd, args, toComplete)
		}
		if len(args) > 4 {
			return nil, noFiles
		}
		c, namespace, err := e.client()
		if err != nil {
			return nil, noFiles
		}
		ctx := cmd.Context()
		if len(args) == 1 {
			return groupIndices(ctx, c, namespace, args[0], toComplete), noFiles | cobra.ShellCompDirectiveKeepOrder
		}
		group := args[1]
		if i, err := strconv.Atoi(group); err == nil {
			group = naming.Group(args[0], int32(i))
		}
		var g rbgsv1.RoleBasedGroup
		if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: group}, &g); err != nil {
			return nil, noFiles
		}
		var out []string
		for i := range g.Spec.Roles {
			r := &g.Spec.Roles[i]
			switch {
			case len(args) == 2:
				out = append(out, r.Role)
			case r.Role == args[2] && len(args) == 3:
				for k := range r.ReplicasOrDefault() {
					out = append(out, strconv.Itoa(int(k)))
				}
			case r.Role == args[2] && len(args) == 4:
				for j := range r.SizeOrDefault() {
					out = append(out, strconv.Itoa(int(j)))
				}
			}
		}
		if len(args) == 2 {
			return matching(out, toComplete), noFiles
		}
		out = slices.DeleteFunc(out, func(s string) bool { return !strings.HasPrefix(s, toComplete) })
		return out, noFiles | cobra.ShellCompDirectiveKeepOrder
	}
}

// registerConnectionCompletions completes --namespace with the cluster's
// namespaces and --context with the kubeconfig's contexts.
func registerConnectionCompletions(root *cobra.Command, e *env) {
	_ = root.RegisterFlagCompletionFunc("namespace", func(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		c, _, err := e.client()
		if err != nil {
			return nil, noFiles
		}
		var list corev1.NamespaceList
		if err := c.List(cmd.Context(), &list); err != nil {
			return nil, noFiles
		}
		var names []string
		for _, ns := range list.Items {
			names = append(names, ns.Name)
		}
		return matching(names, toComplete), noFiles
	})
	_ = root.RegisterFlagCompletionFunc("context", func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := e.flags.ToRawKubeConfigLoader().RawConfig()
		if err != nil {
			return nil, noFiles
		}
		var names []string
		for name := range cfg.Contexts {
			names = append(names, name)
		}
		return matching(names, toComplete), noFiles
	})
}
