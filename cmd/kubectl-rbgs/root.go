package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
)

// connectFunc returns a client of the cluster the flags name, and the
// namespace they name (or the context's).
type connectFunc func(*genericclioptions.ConfigFlags) (client.WithWatch, string, error)

// connect is the connectFunc of the real cluster.
func connect(flags *genericclioptions.ConfigFlags) (client.WithWatch, string, error) {
	namespace, _, err := flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, "", err
	}
	scheme, err := rbgsscheme.New()
	if err != nil {
		return nil, "", err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, "", err
	}
	return c, namespace, nil
}

// env is what every command shares: the connection flags, the streams, and
// how to reach the cluster.
type env struct {
	flags   *genericclioptions.ConfigFlags
	streams genericiooptions.IOStreams
	connect connectFunc
}

func (e *env) client() (client.WithWatch, string, error) {
	return e.connect(e.flags)
}

// color reports whether w is a terminal and NO_COLOR is unset.
func color(w io.Writer) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newRootCmd is kubectl-rbgs with every command, writing to streams and
// reaching the cluster through connect.
func newRootCmd(streams genericiooptions.IOStreams, connect connectFunc) *cobra.Command {
	e := &env{
		flags:   genericclioptions.NewConfigFlags(true).WithWarningPrinter(streams),
		streams: streams,
		connect: connect,
	}
	root := &cobra.Command{
		Use:   "kubectl-rbgs",
		Short: "Inspect RoleBasedGroupSets and RoleBasedGroups and drive their rollouts",
		Long: `kubectl rbgs shows RoleBasedGroupSets and RoleBasedGroups as trees of groups,
roles and pods, prints the discovery one pod receives, and pauses, resumes
and follows a set's rollout.`,
		Annotations: map[string]string{
			// kubectl runs the plugin as "kubectl rbgs"; help says so.
			cobra.CommandDisplayNameAnnotation: "kubectl rbgs",
		},
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
		SilenceErrors:              true,
		SilenceUsage:               true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{cmd, err} })
	e.flags.AddFlags(root.PersistentFlags())
	registerConnectionCompletions(root, e)
	root.AddCommand(newStatusCmd(e), newConfigCmd(e), newRolloutCmd(e))
	return root
}

// usageError is a command line that does not fit the command; main prints
// where its help is.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

func usagef(cmd *cobra.Command, format string, a ...any) error {
	return &usageError{cmd, fmt.Errorf(format, a...)}
}

// noSubcommand refuses arguments of a command that only groups others.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usagef(cmd, "%s", msg)
}

// positional checks the arguments against their names, e.g. NAME GROUP
// ROLE RANK, and says which are missing or too many.
func positional(names ...string) cobra.PositionalArgs {
	return positionalOptional(names, nil)
}

// positionalOptional is positional with optional arguments after the
// required names.
func positionalOptional(names, optional []string) cobra.PositionalArgs {
	all := append(slices.Clone(names), optional...)
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef(cmd, "missing %s (expected %s)", strings.Join(names[len(args):], " "), usage(names, optional))
		case len(args) > len(all):
			return usagef(cmd, "unexpected argument %q (expected %s)", args[len(all)], usage(names, optional))
		}
		return nil
	}
}

func usage(names, optional []string) string {
	out := strings.Join(names, " ")
	for _, o := range optional {
		out += " [" + o + "]"
	}
	return out
}
