package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

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

// kubectl-rbgs against the cluster: the status tree of a running set and
// the discovery one of its pods receives.
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
	setRunning(t, ns, "demo", 2)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(plugin, append(args, "--kubeconfig", kubeconfig, "-n", ns)...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl-rbgs %v: %v\n%s", args, err, out)
		}
		return string(out)
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
		"--kube-version", "v1.37.2").Output()
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
