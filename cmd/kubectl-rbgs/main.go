// Command kubectl-rbgs is a kubectl plugin that shows RoleBasedGroupSets
// and RoleBasedGroups the way a person asks about them:
//
//	kubectl rbgs status NAME                  the set (or group) as a tree of groups and roles
//	kubectl rbgs config NAME GROUP ROLE RANK  the cluster.yaml and RBGS_* env a pod receives
//
// GROUP is a group's index in set NAME, or a group's name. Flags: -n/--namespace,
// --kubeconfig, --context; colour when stdout is a terminal (NO_COLOR=1 turns it off).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/openpatio/rbgs/internal/inspect"
	"github.com/openpatio/rbgs/internal/manager"
)

const usage = `Usage:
  kubectl rbgs status NAME                  show set (or group) NAME as a tree: groups, roles, readiness, last events
  kubectl rbgs config NAME GROUP ROLE RANK  print the cluster.yaml and RBGS_* environment of one pod
                                            (GROUP: the group's index in set NAME, or a group name)
Flags:
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("kubectl-rbgs", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	var namespace, kubeconfig, kubeContext string
	fs.StringVar(&namespace, "namespace", "", "namespace (default: the context's)")
	fs.StringVar(&namespace, "n", "", "namespace (short)")
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context")
	// Flags may come before or after the arguments, as with kubectl.
	var positional []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) == 0 {
		fs.Usage()
		return errors.New("no command")
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	if namespace == "" {
		ns, _, err := loader.Namespace()
		if err != nil {
			return err
		}
		namespace = ns
	}
	cfg, err := loader.ClientConfig()
	if err != nil {
		return err
	}
	scheme, err := manager.NewScheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	switch cmd, rest := positional[0], positional[1:]; {
	case cmd == "status" && len(rest) == 1:
		return inspect.Status(ctx, c, namespace, rest[0], inspect.Printer{W: os.Stdout, Color: colour(), Now: time.Now()})
	case cmd == "config" && len(rest) == 4:
		rank, err := strconv.Atoi(rest[3])
		if err != nil {
			return fmt.Errorf("RANK %q is not a number", rest[3])
		}
		return inspect.PodConfig(ctx, c, namespace, rest[0], rest[1], rest[2], int32(rank), os.Stdout)
	default:
		fs.Usage()
		return fmt.Errorf("unknown command or wrong arguments: %v", positional)
	}
}

// colour reports whether stdout is a terminal and NO_COLOR is unset.
func colour() bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	st, err := os.Stdout.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
