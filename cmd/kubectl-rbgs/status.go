package main

import (
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/openpatio/rbgs/internal/inspect"
)

const formatText = "text"

func newStatusCmd(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status NAME [-o text|json|yaml]",
		Short: "Show a set (or a group) as a tree of groups and roles",
		Long: `Show RoleBasedGroupSet NAME as a tree: its groups in index order, each
group's roles with their ready and desired pods, what a role waits for, and
the latest event of the set and of each group. While a rollout is under way
or held, a line under the set gives the revisions, paused or partition,
and the groups that wait; outdated groups are marked.

NAME may also be a RoleBasedGroup (when no set has that name).

-o json and -o yaml print the same information as data.`,
		Example: `  kubectl rbgs status demo
  kubectl rbgs status demo-0 -n serving
  kubectl rbgs status demo -o json | jq '.rollout.waitingGroups'`,
		Args:              positional("NAME"),
		ValidArgsFunction: completeNames(e, true),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != formatText && output != inspect.FormatJSON && output != inspect.FormatYAML {
				return usagef(cmd, "--output must be text, json or yaml, not %q", output)
			}
			c, namespace, err := e.client()
			if err != nil {
				return err
			}
			r, err := inspect.Load(cmd.Context(), c, namespace, args[0])
			if err != nil {
				return err
			}
			if output != formatText {
				return inspect.Encode(e.streams.Out, r, output)
			}
			inspect.Printer{W: e.streams.Out, Color: color(e.streams.Out), Now: time.Now()}.Print(r)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", formatText, "Output format: text (a tree), json or yaml.")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(
		[]string{formatText, inspect.FormatJSON, inspect.FormatYAML}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newConfigCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "config NAME GROUP ROLE RANK [WORKER]",
		Short: "Print the cluster.yaml and RBGS_* environment one pod receives",
		Long: `Print /etc/rbgs/cluster.yaml and the RBGS_* environment variables of pod RANK of
role ROLE, as the kubelet assembles them from the group's ConfigMaps and the
role's workload. For a role of size > 1, RANK is the instance and WORKER the
pod's index in it (default 0, the leader).

GROUP is the index of a group of set NAME, or a group's name.`,
		Example: `  kubectl rbgs config demo 0 decode 1
  kubectl rbgs config demo demo-1 prefill 0
  kubectl rbgs config demo 0 decode 1 3`,
		Args:              positionalOptional([]string{"NAME", "GROUP", "ROLE", "RANK"}, []string{"WORKER"}),
		ValidArgsFunction: completeConfig(e),
		RunE: func(cmd *cobra.Command, args []string) error {
			rank, err := strconv.ParseInt(args[3], 10, 32)
			if err != nil {
				return usagef(cmd, "RANK %q is not a number", args[3])
			}
			var worker *int32
			if len(args) == 5 {
				w, err := strconv.ParseInt(args[4], 10, 32)
				if err != nil {
					return usagef(cmd, "WORKER %q is not a number", args[4])
				}
				worker = new(int32(w))
			}
			c, namespace, err := e.client()
			if err != nil {
				return err
			}
			return inspect.PodConfig(cmd.Context(), c, namespace, args[0], args[1], args[2], int32(rank), worker, e.streams.Out)
		},
	}
}
