package e2e

import (
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
