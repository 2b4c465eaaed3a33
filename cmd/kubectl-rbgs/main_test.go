package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/inspect"
	"github.com/openpatio/rbgs/test/wrappers"
)

// syncBuffer is a bytes.Buffer a test may read while a command writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one run of kubectl-rbgs printed and returned.
type result struct {
	out, errOut *syncBuffer
	err         error
}

// run runs kubectl-rbgs args in process against c; the namespace is -n's,
// or "ns".
func run(t *testing.T, c client.WithWatch, args ...string) result {
	t.Helper()
	r := result{out: &syncBuffer{}, errOut: &syncBuffer{}}
	r.err = start(c, r, args...)()
	return r
}

// start prepares kubectl-rbgs args against c, writing to r's buffers; the
// function it returns runs it.
func start(c client.WithWatch, r result, args ...string) func() error {
	streams := genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: r.out, ErrOut: r.errOut}
	cmd := newRootCmd(streams, func(f *genericclioptions.ConfigFlags) (client.WithWatch, string, error) {
		if *f.Namespace != "" {
			return c, *f.Namespace, nil
		}
		return c, "ns", nil
	})
	cmd.SetArgs(args)
	return func() error { return cmd.ExecuteContext(context.Background()) }
}

// fixture is set demo (2 groups, every group updated and ready) with its
// groups, and group alone on its own.
func fixture(t *testing.T, mutate ...func(*rbgsv1.RoleBasedGroupSet)) client.WithWatch {
	t.Helper()
	s := wrappers.MakeSet("demo", "ns").Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	s.Generation = 2
	s.Status = rbgsv1.RoleBasedGroupSetStatus{
		ObservedGeneration: 2, Phase: rbgsv1.PhaseRunning, Replicas: 2, ReadyGroups: 2, UpdatedGroups: 2,
		CurrentRevision: "abc", UpdateRevision: "abc",
		Groups: []rbgsv1.GroupStatus{
			{GroupID: "0", Name: "demo-0", Phase: rbgsv1.PhaseRunning, Updated: true},
			{GroupID: "1", Name: "demo-1", Phase: rbgsv1.PhaseRunning, Updated: true},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	objs := []client.Object{s, wrappers.MakeGroup("alone", "ns").Role("a", 1).Obj()}
	for _, i := range []string{"0", "1"} {
		objs = append(objs, wrappers.MakeGroup("demo-"+i, "ns").Label(rbgsv1.LabelSetName, "demo").Label(rbgsv1.LabelGroupIndex, i).
			Label(rbgsv1.LabelGroupRevision, "abc").Role("prefill", 2).Role("decode", 2, "prefill").Obj())
	}
	return fake.NewClientBuilder().WithScheme(wrappers.Scheme()).WithObjects(objs...).Build()
}

// rollingOut is a set with one of its two groups updated.
func rollingOut(s *rbgsv1.RoleBasedGroupSet) {
	s.Status.UpdatedGroups, s.Status.CurrentRevision = 1, "def"
	s.Status.Groups[0].Updated = false
	s.Status.Conditions = []metav1.Condition{{Type: rbgsv1.ConditionProgressing, Status: metav1.ConditionTrue,
		Reason: rbgsv1.ReasonRollingOut, ObservedGeneration: 2}}
}

func TestHelp(t *testing.T) {
	c := fixture(t)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{
			"kubectl rbgs [flags]", "kubectl rbgs [command]", "status", "config", "rollout", "completion",
			"--kubeconfig string", "-n, --namespace string", "--context string", "--as string", "--request-timeout string", "-s, --server string",
		}},
		{nil, []string{"kubectl rbgs [command]"}},
		{[]string{"rollout", "--help"}, []string{"kubectl rbgs rollout [command]", "pause", "resume", "status", "--kubeconfig string"}},
		{[]string{"rollout"}, []string{"kubectl rbgs rollout [command]"}},
		{[]string{"status", "--help"}, []string{"kubectl rbgs status NAME [-o text|json|yaml] [flags]", "-o, --output string"}},
		{[]string{"rollout", "status", "-h"}, []string{"kubectl rbgs rollout status NAME [flags]", "--timeout duration", "-w, --watch"}},
	} {
		r := run(t, c, tc.args...)
		if r.err != nil {
			t.Errorf("%v: %v", tc.args, r.err)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.out.String(), want) {
				t.Errorf("%v: help lacks %q:\n%s", tc.args, want, r.out.String())
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	c := fixture(t)
	for _, tc := range []struct {
		args []string
		want string
		help string
	}{
		{[]string{"bogus"}, `unknown command "bogus" for "kubectl rbgs"`, "kubectl rbgs"},
		{[]string{"stats", "demo"}, `unknown command "stats" for "kubectl rbgs"; did you mean status?`, "kubectl rbgs"},
		{[]string{"rollout", "restart", "demo"}, `unknown command "restart" for "kubectl rbgs rollout"`, "kubectl rbgs rollout"},
		{[]string{"status"}, "missing NAME (expected NAME)", "kubectl rbgs status"},
		{[]string{"status", "demo", "extra"}, `unexpected argument "extra" (expected NAME)`, "kubectl rbgs status"},
		{[]string{"status", "demo", "-o", "wide"}, `--output must be text, json or yaml, not "wide"`, "kubectl rbgs status"},
		{[]string{"status", "demo", "--bogus"}, "unknown flag: --bogus", "kubectl rbgs status"},
		{[]string{"config", "demo", "0"}, "missing ROLE RANK (expected NAME GROUP ROLE RANK [WORKER])", "kubectl rbgs config"},
		{[]string{"config", "demo", "0", "decode", "one"}, `RANK "one" is not a number`, "kubectl rbgs config"},
		{[]string{"rollout", "pause"}, "missing NAME (expected NAME)", "kubectl rbgs rollout pause"},
		{[]string{"rollout", "status", "demo", "--timeout", "soon"}, `invalid argument "soon" for "--timeout" flag`, "kubectl rbgs rollout status"},
	} {
		r := run(t, c, tc.args...)
		u, ok := errors.AsType[*usageError](r.err)
		if !ok {
			t.Errorf("%v: got %v, want a usage error", tc.args, r.err)
			continue
		}
		if !strings.HasPrefix(u.Error(), tc.want) {
			t.Errorf("%v: got %q, want %q", tc.args, u.Error(), tc.want)
		}
		if got := u.cmd.CommandPath(); got != tc.help {
			t.Errorf("%v: help of %q, want %q", tc.args, got, tc.help)
		}
	}
}

func TestStatus(t *testing.T) {
	c := fixture(t)
	r := run(t, c, "status", "demo")
	if r.err != nil || !strings.HasPrefix(r.out.String(), "RoleBasedGroupSet ns/demo  Running  groups 2/2 ready, 2/2 updated (revision abc)\n├── demo-0") {
		t.Errorf("status: %v\n%s", r.err, r.out.String())
	}
	if r := run(t, c, "status", "demo", "-n", "other"); r.err == nil || r.err.Error() != "no RoleBasedGroupSet or RoleBasedGroup other/demo" {
		t.Errorf("-n other: %v", r.err)
	}

	for _, format := range []string{"yaml", "json"} {
		r := run(t, c, "status", "demo", "-o", format)
		if r.err != nil {
			t.Fatal(r.err)
		}
		var got inspect.SetReport
		if err := yaml.UnmarshalStrict([]byte(r.out.String()), &got); err != nil {
			t.Fatalf("-o %s: %v\n%s", format, err, r.out.String())
		}
		if got.Kind != "RoleBasedGroupSet" || got.Name != "demo" || got.Namespace != "ns" || got.UpdatedGroups != 2 ||
			len(got.Groups) != 2 || *got.Groups[1].Index != 1 || got.Groups[1].Roles[1].Role != "decode" {
			t.Errorf("-o %s read back as %+v", format, got)
		}
	}
	r = run(t, c, "status", "alone", "-o", "json")
	var group inspect.GroupReport
	if err := yaml.UnmarshalStrict([]byte(r.out.String()), &group); r.err != nil || err != nil || group.Kind != "RoleBasedGroup" || group.Name != "alone" {
		t.Errorf("a group as JSON: %v, %v, %+v", r.err, err, group)
	}
}

func TestRolloutPauseResume(t *testing.T) {
	c := fixture(t)
	paused := func() bool {
		var s rbgsv1.RoleBasedGroupSet
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "demo"}, &s); err != nil {
			t.Fatal(err)
		}
		return s.Spec.RolloutStrategy.Paused
	}
	for _, step := range []struct {
		args   []string
		out    string
		paused bool
	}{
		{[]string{"rollout", "pause", "demo"}, "rolebasedgroupset.openpatio.io/demo paused\n", true},
		{[]string{"rollout", "pause", "demo"}, "rolebasedgroupset.openpatio.io/demo already paused\n", true},
		{[]string{"rollout", "resume", "demo"}, "rolebasedgroupset.openpatio.io/demo resumed\n", false},
		{[]string{"rollout", "resume", "demo"}, "rolebasedgroupset.openpatio.io/demo not paused\n", false},
	} {
		r := run(t, c, step.args...)
		if r.err != nil {
			t.Fatalf("%v: %v", step.args, r.err)
		}
		if diff := cmp.Diff(step.out, r.out.String()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", step.args, diff)
		}
		if got := paused(); got != step.paused {
			t.Errorf("%v: paused %v, want %v", step.args, got, step.paused)
		}
	}
	for name, want := range map[string]string{
		"demo-0":  "demo-0 is a RoleBasedGroup of set demo: rollouts belong to RoleBasedGroupSets",
		"alone":   "alone is a RoleBasedGroup: rollouts belong to RoleBasedGroupSets",
		"nothing": "no RoleBasedGroupSet ns/nothing",
	} {
		for _, verb := range []string{"pause", "resume", "status"} {
			if r := run(t, c, "rollout", verb, name); r.err == nil || !strings.HasPrefix(r.err.Error(), want) {
				t.Errorf("rollout %s %s: got %v, want %q", verb, name, r.err, want)
			}
		}
	}
}

func TestRolloutStatus(t *testing.T) {
	t.Run("complete", func(t *testing.T) {
		r := run(t, fixture(t), "rollout", "status", "demo")
		if r.err != nil || r.out.String() != "rollout of demo complete: 2 groups at revision abc\n" {
			t.Errorf("%v\n%s", r.err, r.out.String())
		}
	})

	t.Run("once", func(t *testing.T) {
		r := run(t, fixture(t, rollingOut), "rollout", "status", "demo", "--watch=false")
		if r.err != nil || r.out.String() != "Waiting for rollout of demo to finish: 1 of 2 groups updated...\n" {
			t.Errorf("%v\n%s", r.err, r.out.String())
		}
	})

	t.Run("timeout", func(t *testing.T) {
		r := run(t, fixture(t, rollingOut), "rollout", "status", "demo", "--timeout=300ms")
		if r.err == nil || r.err.Error() != "timed out after 300ms waiting for the rollout of demo" {
			t.Errorf("got %v", r.err)
		}
		if r.out.String() != "Waiting for rollout of demo to finish: 1 of 2 groups updated...\n" {
			t.Errorf("printed:\n%s", r.out.String())
		}
	})

	// A paused rollout is told once and waited for; resumed, it runs to
	// its end, each change on a line of its own.
	t.Run("paused, then resumed", func(t *testing.T) {
		c := fixture(t, rollingOut, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.RolloutStrategy.Paused = true
			s.Status.Conditions[0].Reason = rbgsv1.ReasonRolloutPaused
		})
		r := result{out: &syncBuffer{}, errOut: &syncBuffer{}}
		done := make(chan error)
		go func() { done <- start(c, r, "rollout", "status", "demo", "--timeout=30s")() }()
		update := func(after string, change func(*rbgsv1.RoleBasedGroupSet)) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !strings.HasSuffix(r.out.String(), after+"\n"); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("waited for %q, got:\n%s", after, r.out.String())
				}
			}
			var s rbgsv1.RoleBasedGroupSet
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "demo"}, &s); err != nil {
				t.Fatal(err)
			}
			change(&s)
			if err := c.Update(context.Background(), &s); err != nil {
				t.Fatal(err)
			}
		}
		paused := "rollout of demo is paused (1 of 2 groups updated): kubectl rbgs rollout resume demo"
		update(paused, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Status.ReadyGroups = 2 // no visible change: no new line
		})
		update(paused, func(s *rbgsv1.RoleBasedGroupSet) {
			s.Spec.RolloutStrategy.Paused = false
			s.Status.Conditions[0].Reason = rbgsv1.ReasonRollingOut
			s.Status.ReadyGroups = 1
			s.Status.Groups[0].Phase, s.Status.Groups[0].Updated = rbgsv1.PhaseProgressing, true
		})
		update("Waiting for rollout of demo to finish: 1 of 2 groups updated, 1 moving...", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Status.UpdatedGroups = 2
		})
		update("Waiting for rollout of demo to finish: 1 of 2 updated groups ready...", func(s *rbgsv1.RoleBasedGroupSet) {
			s.Status.ReadyGroups, s.Status.CurrentRevision = 2, "abc"
		})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := paused + `
Waiting for rollout of demo to finish: 1 of 2 groups updated, 1 moving...
Waiting for rollout of demo to finish: 1 of 2 updated groups ready...
rollout of demo complete: 2 groups at revision abc
`
		if diff := cmp.Diff(want, r.out.String()); diff != "" {
			t.Errorf("rollout status (-want +got):\n%s", diff)
		}
	})

	t.Run("deleted", func(t *testing.T) {
		c := fixture(t, rollingOut)
		r := result{out: &syncBuffer{}, errOut: &syncBuffer{}}
		done := make(chan error)
		go func() { done <- start(c, r, "rollout", "status", "demo", "--timeout=30s")() }()
		for r.out.String() == "" {
			time.Sleep(10 * time.Millisecond)
		}
		if err := c.Delete(context.Background(), &rbgsv1.RoleBasedGroupSet{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "demo"}}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err == nil || err.Error() != "RoleBasedGroupSet ns/demo was deleted" {
			t.Errorf("got %v", err)
		}
	})
}

func TestCompletion(t *testing.T) {
	c := fixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "status", ""}, "alone\ndemo\ndemo-0\ndemo-1\n:4\n"},
		{[]string{"__complete", "status", "demo-"}, "demo-0\ndemo-1\n:4\n"},
		{[]string{"__complete", "rollout", "pause", ""}, "demo\n:4\n"},
		{[]string{"__complete", "rollout", "status", "demo", ""}, ":4\n"},
		{[]string{"__complete", "config", "demo", ""}, "0\n1\n:36\n"},
		{[]string{"__complete", "config", "demo", "1", ""}, "decode\nprefill\n:4\n"},
		{[]string{"__complete", "config", "demo", "1", "decode", ""}, "0\n1\n:36\n"},
		{[]string{"__complete", "status", "demo", "-o", ""}, "text\njson\nyaml\n:4\n"},
	} {
		r := run(t, c, tc.args...)
		if r.err != nil {
			t.Fatalf("%v: %v", tc.args, r.err)
		}
		if diff := cmp.Diff(tc.want, r.out.String()); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.args, diff)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := run(t, c, "completion", shell); r.err != nil || !strings.Contains(r.out.String(), "kubectl-rbgs") {
			t.Errorf("completion %s: %v\n%.200s", shell, r.err, r.out.String())
		}
	}
}
