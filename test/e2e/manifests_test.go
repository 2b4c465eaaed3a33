package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	rbgsv1 "github.com/openpatio/rbgs/api/v1alpha1"
	"github.com/openpatio/rbgs/internal/inspect"
	"github.com/openpatio/rbgs/test/wrappers"
)

// The kustomize install (config/default) is accepted by the API server as
// it stands: every object, the manager Deployment under the namespace's
// restricted pod security included (server-side dry run: nothing changes).
func TestInstallManifestsDryRun(t *testing.T) {
	out := kubectl(t, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k", root+"/config/default")
	rendered := kubectl(t, "kustomize", root+"/config/default")
	if !strings.Contains(rendered, "request.userInfo.username != 'system:serviceaccount:rbgs-system:rbgs-controller-manager'") {
		t.Error("the group webhook does not exclude the manager's service account")
	}
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/rolebasedgroups.openpatio.io",
		"deployment.apps/rbgs-controller-manager",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/rbgs-validating-webhook-configuration",
		"clusterrole.rbac.authorization.k8s.io/rbgs-manager-role",
		"service/rbgs-webhook-service",
		"mutatingadmissionpolicy.admissionregistration.k8s.io/rbgs-worker-index",
		"mutatingadmissionpolicybinding.admissionregistration.k8s.io/rbgs-worker-index",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run did not apply %s:\n%s", want, out)
		}
	}
}

// Every sample passes the CRD schema, its CEL rules and the webhook.
func TestSamplesAdmitted(t *testing.T) {
	ns := namespace(t, "e2e-samples")
	samples, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if err != nil || len(samples) < 4 {
		t.Fatalf("samples: %v, %v", samples, err)
	}
	for _, f := range samples {
		out := kubectl(t, "apply", "--server-side", "--dry-run=server", "-n", ns, "-f", f)
		if !strings.Contains(out, "serverside-applied") {
			t.Errorf("%s: %s", filepath.Base(f), out)
		}
	}
}

// kubectl-rbgs against the cluster: the status tree of a running set, as
// text and as JSON, the discovery one of its pods receives, kubectl's
// conventions (--help, exit codes), and its rollout paused, resumed and
// followed to its end.
func TestKubectlPlugin(t *testing.T) {
	plugin := os.Getenv("RBGS_E2E_PLUGIN")
	if plugin == "" {
		t.Skip("RBGS_E2E_PLUGIN not set")
	}
	ns := namespace(t, "e2e-plugin")
	s := wrappers.MakeSet("demo", ns).Replicas(2).Role("prefill", 2).Role("decode", 2, "prefill").Obj()
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	revision := setRunning(t, ns, "demo", 2).Status.UpdateRevision
	exit := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(plugin, append(args, "--kubeconfig", kubeconfig, "-n", ns)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			return out.String(), errOut.String(), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), 0
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := exit(args...)
		if code != 0 {
			t.Fatalf("kubectl-rbgs %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	status := run("status", "demo")
	for _, want := range []string{
		"RoleBasedGroupSet " + ns + "/demo  Running  groups 2/2 ready",
		"├── demo-0  Running  roles 2/2 ready", "└── demo-1  Running  roles 2/2 ready",
		"prefill  2/2 pods ready", "decode   2/2 pods ready",
	} {
		if !strings.Contains(status, want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
	config := run("config", "demo", "1", "decode", "1")
	for _, want := range []string{
		`name: "demo-1"`, "  local:\n    role: \"decode\"\n    rank: 1\n",
		"RBGS_LOCAL_RANK=1\n", "RBGS_GROUP_INDEX=1\n", "RBGS_ROLES_PREFILL_0_ADDRESS=demo-1-prefill-0.demo-1-prefill:8080\n",
	} {
		if !strings.Contains(config, want) {
			t.Errorf("config lacks %q:\n%s", want, config)
		}
	}
	// What the plugin prints is what the pod has.
	var cm corev1.ConfigMap
	if err := get(ns, "demo-1-rbgs-cluster", &cm); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(config, cm.Data["decode.1.yaml"]) {
		t.Errorf("config differs from the ConfigMap's decode.1.yaml:\n%s", cm.Data["decode.1.yaml"])
	}

	t.Run("help and usage errors", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"rollout", "--help"}, {"rollout", "status", "--help"}} {
			if out, errOut, code := exit(args...); code != 0 || !strings.Contains(out, "Usage:\n  kubectl rbgs ") {
				t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
		for args, want := range map[string]string{
			"status":            "error: missing NAME (expected NAME)\nSee 'kubectl rbgs status --help' for usage.\n",
			"bogus demo":        "error: unknown command \"bogus\" for \"kubectl rbgs\"\nSee 'kubectl rbgs --help' for usage.\n",
			"status demo -o xx": "error: --output must be text, json or yaml, not \"xx\"\nSee 'kubectl rbgs status --help' for usage.\n",
		} {
			if _, errOut, code := exit(strings.Fields(args)...); code != 1 || errOut != want {
				t.Errorf("%s: exit %d, %q; want exit 1, %q", args, code, errOut, want)
			}
		}
	})

	t.Run("status as JSON", func(t *testing.T) {
		var r inspect.SetReport
		if err := json.Unmarshal([]byte(run("status", "demo", "-o", "json")), &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind != "RoleBasedGroupSet" || r.Name != "demo" || r.Namespace != ns || r.Phase != rbgsv1.PhaseRunning || r.Replicas != 2 ||
			r.ReadyGroups != 2 || r.UpdatedGroups != 2 || r.UpdateRevision != revision || len(r.Rollout.WaitingGroups) != 0 {
			t.Errorf("set: %+v", r)
		}
		if len(r.Groups) != 2 {
			t.Fatalf("groups: %+v", r.Groups)
		}
		for i, g := range r.Groups {
			if g.Name != fmt.Sprintf("demo-%d", i) || g.Index == nil || *g.Index != int32(i) || g.Updated == nil || !*g.Updated ||
				g.Revision != revision || g.Phase != rbgsv1.PhaseRunning || len(g.Roles) != 2 ||
				g.Roles[0].Role != "prefill" || g.Roles[0].ReadyReplicas != 2 || g.Roles[1].Role != "decode" || g.Roles[1].ReadyReplicas != 2 {
				t.Errorf("group %d: %+v", i, g)
			}
		}
	})

	t.Run("rollout status of a Ready set", func(t *testing.T) {
		start := time.Now()
		if out := run("rollout", "status", "demo", "--timeout=30s"); out != "rollout of demo complete: 2 groups at revision "+revision+"\n" {
			t.Errorf("rollout status: %q", out)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("rollout status of a Ready set took %s", took)
		}
	})

	t.Run("rollout pause and resume", func(t *testing.T) {
		paused := func() bool {
			t.Helper()
			var s rbgsv1.RoleBasedGroupSet
			if err := get(ns, "demo", &s); err != nil {
				t.Fatal(err)
			}
			return s.Spec.RolloutStrategy.Paused
		}
		if out := run("rollout", "pause", "demo"); out != "rolebasedgroupset.openpatio.io/demo paused\n" || !paused() {
			t.Errorf("pause: %q, paused %v", out, paused())
		}
		if out := run("rollout", "pause", "demo"); out != "rolebasedgroupset.openpatio.io/demo already paused\n" {
			t.Errorf("pause again: %q", out)
		}
		var r inspect.SetReport
		if err := json.Unmarshal([]byte(run("status", "demo", "-o", "json")), &r); err != nil || !r.Rollout.Paused {
			t.Errorf("status of the paused set: %v, %+v", err, r.Rollout)
		}
		if out := run("rollout", "resume", "demo"); out != "rolebasedgroupset.openpatio.io/demo resumed\n" || paused() {
			t.Errorf("resume: %q, paused %v", out, paused())
		}
		if _, errOut, code := exit("rollout", "pause", "demo-0"); code != 1 ||
			!strings.Contains(errOut, "demo-0 is a RoleBasedGroup of set demo: rollouts belong to RoleBasedGroupSets") {
			t.Errorf("pause of a group: exit %d, %s", code, errOut)
		}
	})

	t.Run("rollout status follows a template change", func(t *testing.T) {
		update(t, s, func(s *rbgsv1.RoleBasedGroupSet) {
			for i := range s.Spec.GroupTemplate.Roles {
				s.Spec.GroupTemplate.Roles[i].Template.Spec.Containers[0].Image = "registry.example.com/llm-server:v2"
			}
		})
		out := run("rollout", "status", "demo", "--timeout=180s")
		var now rbgsv1.RoleBasedGroupSet
		if err := get(ns, "demo", &now); err != nil {
			t.Fatal(err)
		}
		if now.Status.UpdateRevision == revision || now.Status.UpdatedGroups != 2 || now.Status.ReadyGroups != 2 {
			t.Errorf("after rollout status: %+v", now.Status)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) < 2 || !strings.HasPrefix(lines[0], "Waiting for rollout of demo to finish: ") ||
			lines[len(lines)-1] != "rollout of demo complete: 2 groups at revision "+now.Status.UpdateRevision {
			t.Errorf("rollout status printed:\n%s", out)
		}
		t.Logf("rollout status printed:\n%s", out)
	})
}

// The Helm chart renders (helm template, built from Go module sources like
// the cluster binaries) to objects the API server accepts as they stand.
func TestHelmChartDryRun(t *testing.T) {
	helm := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(helm); err != nil {
		t.Skip("bin/helm not built (hack/tools.sh helm)")
	}
	rendered, err := exec.Command(helm, "template", "rbgs", filepath.Join(root, "charts", "rbgs"),
		"--namespace", "rbgs-system", "--include-crds", "--set", "watchNamespace=default",
		// helm template has no cluster to ask; the chart requires 1.30+.
		"--kube-version", "v1.37.2", "--api-versions", "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm template: %v\n%s", err, stderr)
	}
	manifest := filepath.Join(t.TempDir(), "chart.yaml")
	if err := os.WriteFile(manifest, rendered, 0o600); err != nil {
		t.Fatal(err)
	}
	out := kubectl(t, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", manifest)
	for _, want := range []string{
		"customresourcedefinition.apiextensions.k8s.io/rolebasedgroupsets.openpatio.io",
		"deployment.apps/rbgs-controller-manager", "role.rbac.authorization.k8s.io/rbgs-manager-role",
		"validatingwebhookconfiguration.admissionregistration.k8s.io/rbgs-validating-webhook-configuration",
		"service/rbgs-metrics",
		"mutatingadmissionpolicy.admissionregistration.k8s.io/rbgs-worker-index",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run did not apply %s:\n%s", want, out)
		}
	}
	if !strings.Contains(string(rendered), "request.userInfo.username != 'system:serviceaccount:rbgs-system:rbgs-controller-manager'") {
		t.Error("the group webhook does not exclude the manager's service account")
	}
	if !strings.Contains(string(rendered), "- --namespace=default") {
		t.Error("watchNamespace did not reach the manager's arguments")
	}
}
