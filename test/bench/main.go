// Command bench measures the operator on the local cluster against the
// floor the cluster itself sets: the same StatefulSets, Services and
// ConfigMaps applied directly, all at once and in dependency order. hack/bench.sh
// starts a cluster of its own and runs it; see docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rbgsscheme "github.com/openpatio/rbgs/internal/scheme"
	"github.com/openpatio/rbgs/test/audit"
)

type config struct {
	kubeconfig, operatorKubeconfig, auditLog, manager, logDir, clusterDir string
	sizes                                                                 []int
	quiet                                                                 time.Duration
	rolloutMaxUnavailable                                                 string
	jsonOut, mdOut                                                        string
	timeout                                                               time.Duration
	rollout                                                               bool
	rollouts                                                              int
	rolloutStrategies, rolloutJSON                                        string
	requestCosts                                                          int
	profileSeconds                                                        int
	controllerManagerURL                                                  string
	reportFrom                                                            string
	// variants are the operators each size runs: a name and its flags.
	variants []variant
	// floor: measure the floors (off: the operator alone).
	floor bool
	// instanceSizes are the sizes of the instances of every role.
	instanceSizes []int32
	// creationOnly: the operator's creation alone, nothing after it.
	creationOnly bool
}

// variant is one way of running the operator: its name in the results and
// its extra flags.
type variant struct {
	name string
	args []string
}

// parseVariants reads -operator-variants: "name=flags;name=flags", flags
// separated by spaces; "" is the operator as it is.
func parseVariants(s string) ([]variant, error) {
	if strings.TrimSpace(s) == "" {
		return []variant{{}}, nil
	}
	var out []variant
	for part := range strings.SplitSeq(s, ";") {
		name, args, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("bad operator variant %q: want name=flags", part)
		}
		out = append(out, variant{name: strings.TrimSpace(name), args: strings.Fields(args)})
	}
	return out, nil
}

func main() {
	var c config
	var sizes string
	flag.StringVar(&c.kubeconfig, "admin-kubeconfig", "", "administrator kubeconfig of the cluster")
	flag.StringVar(&c.operatorKubeconfig, "operator-kubeconfig", "", "kubeconfig of the operator's own identity")
	flag.StringVar(&c.auditLog, "audit-log", "", "the API server's audit log")
	flag.StringVar(&c.manager, "manager", "bin/manager", "operator binary")
	flag.StringVar(&c.logDir, "log-dir", os.TempDir(), "folder for the operator's logs")
	flag.StringVar(&c.clusterDir, "cluster-dir", "", "state folder of the local cluster (for its processes' CPU)")
	flag.StringVar(&sizes, "sizes", "10,100,250,1000", "numbers of groups (of instances of 1 pod), comma-separated")
	flag.DurationVar(&c.quiet, "quiet", 20*time.Second, "length of the no-change periods")
	flag.StringVar(&c.rolloutMaxUnavailable, "rollout-max-unavailable", "25%", "maxUnavailable of the measured rollout")
	flag.StringVar(&c.jsonOut, "json", "", "write the results as JSON to this file")
	flag.StringVar(&c.mdOut, "markdown", "", "write the results as a markdown table to this file")
	flag.BoolVar(&c.rollout, "rollout", true, "measure the template rollout (at 1,000 groups the longest phase: about 40 minutes for operator and floor)")
	flag.DurationVar(&c.timeout, "timeout", 40*time.Minute, "limit of each phase (a rollout of 1,500 groups takes over 20 minutes on 2 cores)")
	flag.IntVar(&c.requestCosts, "request-costs", 0,
		"instead of the sizes, measure the CPU the API server and etcd spend per request of each kind the floor and the operator make, for this many groups")
	flag.IntVar(&c.profileSeconds, "cpu-profile-seconds", 0,
		"capture CPU profiles of the API server, kube-controller-manager and the operator over this many seconds from the start of the ordered floor's and the operator's creation, into -log-dir")
	flag.StringVar(&c.controllerManagerURL, "controller-manager-url", "", "https://host:port of kube-controller-manager, to profile it too")
	flag.StringVar(&c.reportFrom, "report", "", "only print (and write to -markdown) the tables of the results in this JSON file")
	flag.IntVar(&c.rollouts, "rollouts", 0,
		"instead of the sizes, measure image rollouts of a set of this many groups, one per -rollout-strategies, against a client making the same StatefulSet changes in the same steps")
	flag.StringVar(&c.rolloutStrategies, "rollout-strategies", "10%:0,0:10%", "maxUnavailable:maxSurge of each rollout -rollouts measures, comma-separated")
	flag.StringVar(&c.rolloutJSON, "rollouts-json", "", "write the results of -rollouts as JSON to this file")
	var instanceSizes string
	flag.StringVar(&instanceSizes, "instance-sizes", "1",
		"pods per instance of both roles (prefill 2 and decode 2 instances), comma-separated: each size runs every -sizes with the same pods (1,000 groups of size 1, 500 of size 2)")
	var variants string
	flag.StringVar(&variants, "operator-variants", "",
		`run the operator's phases once per variant after the same floors, "name=flags;name=flags" (e.g. "json=--kube-api-content-type=json;protobuf=")`)
	flag.BoolVar(&c.creationOnly, "creation-only", false, "measure the operator's creation and nothing after it (for sizes whose later phases take too long)")
	flag.BoolVar(&c.floor, "floor", true, "measure the floors (false: the operator alone, for sizes whose floors take too long)")
	flag.Parse()
	ks, err := parseInts(instanceSizes, 1, "instance size")
	if err == nil {
		c.sizes, err = parseInts(sizes, 2, "size")
	}
	if err == nil {
		c.variants, err = parseVariants(variants)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, k := range ks {
		c.instanceSizes = append(c.instanceSizes, int32(k))
	}
	do := run
	if c.reportFrom != "" {
		do = report
	}
	if err := do(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	scheme, err := rbgsscheme.New()
	if err != nil {
		return err
	}
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	watcher, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	b := &bench{config: c, k8s: k8s, watcher: watcher, api: cs.Discovery().RESTClient(),
		audit: &audit.Log{Path: c.auditLog, User: "rbgs-operator"}}
	b.track, err = newTracker(ctx, cs, b.statefulSetReady)
	if err != nil {
		return err
	}
	if b.prof, err = newProfiler(cfg, c.controllerManagerURL, c.logDir, c.profileSeconds); err != nil {
		return err
	}
	if c.rollouts > 0 {
		strategies, err := parseRolloutStrategies(c.rolloutStrategies)
		if err != nil {
			return err
		}
		results, err := b.rollouts(ctx, c.rollouts, strategies)
		fmt.Print(rolloutTable(results))
		if err != nil {
			return err
		}
		if c.rolloutJSON != "" {
			raw, err := json.MarshalIndent(results, "", "  ")
			if err != nil {
				return err
			}
			return os.WriteFile(c.rolloutJSON, append(raw, '\n'), 0o644)
		}
		return nil
	}
	if c.requestCosts > 0 {
		costs, err := b.requestCosts(ctx, c.requestCosts)
		if err != nil {
			return err
		}
		fmt.Print(requestCostTable(costs))
		return nil
	}
	return b.measureSizes(ctx)
}

// measureSizes measures every size of every shape (see -instance-sizes), writing
// the results after each.
func (b *bench) measureSizes(ctx context.Context) error {
	var results []sizeResult
	for _, k := range b.instanceSizes {
		// The groups' shape is the harness's for this size (see template).
		instanceSize, podsEach = k, 4*int(k)
		for _, pods := range b.sizes {
			n := pods / int(k)
			logf("=== %d groups of instances of %d (%d pods)", n, k, podsEach*n)
			rs, err := b.size(ctx, n)
			results = append(results, rs...)
			if err != nil {
				return fmt.Errorf("%d groups: %w", n, err)
			}
			if err := b.write(results); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseInts reads a comma-separated list of numbers of at least least,
// what naming them in the error.
func parseInts(s string, least int, what string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < least {
			return nil, fmt.Errorf("bad %s %q: want a number of at least %d", what, part, least)
		}
		out = append(out, n)
	}
	return out, nil
}

// report renders results written by an earlier run.
func report(c config) error {
	raw, err := os.ReadFile(c.reportFrom)
	if err != nil {
		return err
	}
	var results []sizeResult
	if err := json.Unmarshal(raw, &results); err != nil {
		return fmt.Errorf("%s: %w", c.reportFrom, err)
	}
	return (&bench{config: config{mdOut: c.mdOut}}).write(results)
}

func (b *bench) write(results []sizeResult) error {
	if b.jsonOut != "" {
		raw, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(b.jsonOut, append(raw, '\n'), 0o644); err != nil {
			return err
		}
	}
	md := markdown(results)
	fmt.Print(md)
	if b.mdOut != "" {
		return os.WriteFile(b.mdOut, []byte(md), 0o644)
	}
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
