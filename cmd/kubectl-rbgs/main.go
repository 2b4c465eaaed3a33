// Command kubectl-rbgs is a kubectl plugin that shows RoleBasedGroupSets
// and RoleBasedGroups the way a person asks about them, and drives a set's
// rollout:
//
//	kubectl rbgs status NAME [-o text|json|yaml]    the set (or group) as a tree of groups and roles
//	kubectl rbgs config NAME GROUP ROLE RANK        the cluster.yaml and RBGS_* env a pod receives
//	kubectl rbgs rollout pause|resume NAME          hold or release the set's rollout
//	kubectl rbgs rollout status NAME                wait until the set's rollout is done
//	kubectl rbgs completion bash|zsh|fish|powershell
//
// Every command takes kubectl's connection flags (--kubeconfig, -n,
// --context, --as, --request-timeout, ...). Colour appears when stdout is a
// terminal and NO_COLOR is unset.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	// The client library logs nothing worth a user's attention here.
	ctrllog.SetLogger(logr.Discard())
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd(streams, connect).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if u, ok := errors.AsType[*usageError](err); ok {
			fmt.Fprintf(os.Stderr, "See '%s --help' for usage.\n", u.cmd.CommandPath())
		}
		os.Exit(1)
	}
}
