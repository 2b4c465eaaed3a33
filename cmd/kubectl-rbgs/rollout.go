package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/inspect"
)

func newRolloutCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rollout SUBCOMMAND",
		Short: "Pause, resume or follow the rollout of a set",
		Long: `A change of a set's group template rolls out to its groups a few at a time
(spec.rolloutStrategy). These commands hold it, release it, and wait for it.`,
		Args:                       noSubcommand,
		RunE:                       func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(newPauseCmd(e, true), newPauseCmd(e, false), newRolloutStatusCmd(e))
	return cmd
}

// newPauseCmd is rollout pause (paused true) or rollout resume.
func newPauseCmd(e *env, paused bool) *cobra.Command {
	use, short, long, done := "pause", "Pause the rollout of a set",
		`Set spec.rolloutStrategy.paused of RoleBasedGroupSet NAME: no group starts
moving to a new revision until the rollout is resumed; groups already moving
finish. Scaling still applies.`, "paused"
	if !paused {
		use, short, long, done = "resume", "Resume the paused rollout of a set",
			`Clear spec.rolloutStrategy.paused of RoleBasedGroupSet NAME: outdated groups
move to the update revision again, as rolloutStrategy says.`, "resumed"
	}
	return &cobra.Command{
		Use:               use + " NAME",
		Short:             short,
		Long:              long,
		Example:           "  kubectl rbgs rollout " + use + " demo",
		Args:              positional("NAME"),
		ValidArgsFunction: completeNames(e, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, namespace, err := e.client()
			if err != nil {
				return err
			}
			s, err := inspect.GetSet(cmd.Context(), c, namespace, args[0])
			if err != nil {
				return err
			}
			ref := "rolebasedgroupset.openpatio.io/" + s.Name
			if s.Spec.RolloutStrategy.Paused == paused {
				state := "already paused"
				if !paused {
					state = "not paused"
				}
				fmt.Fprintln(e.streams.Out, ref, state)
				return nil
			}
			patch := fmt.Appendf(nil, `{"spec":{"rolloutStrategy":{"paused":%t}}}`, paused)
			if err := c.Patch(cmd.Context(), s, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return err
			}
			fmt.Fprintln(e.streams.Out, ref, done)
			return nil
		},
	}
}

func newRolloutStatusCmd(e *env) *cobra.Command {
	var follow bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Wait until the rollout of a set is done",
		Long: `Follow the rollout of RoleBasedGroupSet NAME, printing a line each time its
progress changes, until every group runs the update revision and is ready
(or, with rolloutStrategy.partition, every group from the partition up).

A paused rollout is reported once and waited for: resume it with
kubectl rbgs rollout resume NAME. A set whose groups cannot be built as
specified ends the command with an error.

--watch=false prints the state once and exits. --timeout ends the wait
with an error when it passes (0: wait as long as it takes).`,
		Example: `  kubectl rbgs rollout status demo
  kubectl rbgs rollout status demo --timeout=10m`,
		Args:              positional("NAME"),
		ValidArgsFunction: completeNames(e, false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout < 0 {
				return usagef(cmd, "--timeout must not be negative")
			}
			c, namespace, err := e.client()
			if err != nil {
				return err
			}
			s, err := inspect.GetSet(cmd.Context(), c, namespace, args[0])
			if err != nil {
				return err
			}
			if !follow {
				st := inspect.Rollout(s)
				if st.Phase == inspect.RolloutFailed {
					return errors.New(st.Message)
				}
				fmt.Fprintln(e.streams.Out, st.Message)
				return nil
			}
			return waitRollout(cmd.Context(), c, namespace, s.Name, timeout, func(line string) { fmt.Fprintln(e.streams.Out, line) })
		},
	}
	cmd.Flags().BoolVarP(&follow, "watch", "w", true, "Watch the rollout until it is done; false prints its state once.")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "How long to wait before giving up (e.g. 30s, 10m); 0 waits as long as it takes.")
	return cmd
}

// waitRollout watches set namespace/name until its rollout is done, calling
// print with each new line that says where it stands. It fails when the set
// fails or is deleted, or when timeout (if not 0) passes.
func waitRollout(ctx context.Context, c client.WithWatch, namespace, name string, timeout time.Duration, print func(string)) error {
	waitCtx, cancel := watchtools.ContextWithOptionalTimeout(ctx, timeout)
	defer cancel()
	last := ""
	exists := func(store cache.Store) (bool, error) {
		if _, ok, err := store.GetByKey(namespace + "/" + name); err != nil || !ok {
			return false, errors.Join(err, fmt.Errorf("no RoleBasedGroupSet %s/%s", namespace, name))
		}
		return false, nil
	}
	_, err := watchtools.UntilWithSync(waitCtx, oneSet(c, namespace, name), &rbgsv1.RoleBasedGroupSet{}, exists,
		func(ev watch.Event) (bool, error) {
			s, ok := ev.Object.(*rbgsv1.RoleBasedGroupSet)
			if !ok || s.Name != name {
				return false, nil
			}
			if ev.Type == watch.Deleted {
				return false, fmt.Errorf("RoleBasedGroupSet %s/%s was deleted", namespace, name)
			}
			st := inspect.Rollout(s)
			if st.Phase == inspect.RolloutFailed {
				return false, errors.New(st.Message)
			}
			if st.Message != last {
				print(st.Message)
				last = st.Message
			}
			return st.Done(), nil
		})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted while waiting for the rollout of %s", name)
	case waitCtx.Err() != nil:
		return fmt.Errorf("timed out after %s waiting for the rollout of %s", timeout, name)
	}
	return err
}

// oneSet lists and watches the set namespace/name alone.
func oneSet(c client.WithWatch, namespace, name string) cache.ListerWatcher {
	byName := fields.OneTermEqualSelector("metadata.name", name).String()
	return listWatch{&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = byName
			var list rbgsv1.RoleBasedGroupSetList
			return &list, c.List(ctx, &list, client.InNamespace(namespace), &client.ListOptions{Raw: &o})
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = byName
			return c.Watch(ctx, &rbgsv1.RoleBasedGroupSetList{}, client.InNamespace(namespace), &client.ListOptions{Raw: &o})
		},
	}}
}

// listWatch asks for a plain list then watch: the list of one set is as
// cheap as a streamed one, and every client (fakes included) serves it.
type listWatch struct{ *cache.ListWatch }

func (listWatch) IsWatchListSemanticsUnSupported() bool { return true }
