package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// The kustomize install (config/default) is accepted by the API server as
// it stands: every object, the manager Deployment under the namespace's
// restricted pod security included (server-side dry run: nothing changes).
func TestInstallManifestsDryRun(t *testing.T) {
	out := kubectl(t, "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-k", root+"/config/default")
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
