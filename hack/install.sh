#!/usr/bin/env bash
# Installs what the operator needs into the cluster KUBECONFIG names: the
# CRDs (waiting until they are served), the operator's namespace (its
# webhook certificate Secret lives there) and, for an operator running on
# this machine, the webhook registration that calls https://localhost:PORT
# (PORT: RBGS_WEBHOOK_PORT, default 19443, the operator's --webhook-port),
# and the admission policy that labels the pods of multi-pod instances.
#
# Usage: hack/install.sh            install
#        hack/install.sh uninstall  remove them (and every group and set)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBECTL="${ROOT}/bin/kubectl"
[[ -x "${KUBECTL}" ]] || "${ROOT}/hack/tools.sh" kubectl
NAMESPACE="${RBGS_NAMESPACE:-rbgs-system}"
WEBHOOK_PORT="${RBGS_WEBHOOK_PORT:-19443}"

if [[ "${1:-}" == "uninstall" ]]; then
  "${KUBECTL}" delete --ignore-not-found -f "${ROOT}/config/local/webhook.yaml" -f "${ROOT}/config/admission/worker-index.yaml" \
    -f "${ROOT}/config/local/rbac-binding.yaml" -f "${ROOT}/config/rbac/role.yaml"
  "${KUBECTL}" delete --ignore-not-found -f "${ROOT}/config/crd/bases"
  exit 0
fi

"${KUBECTL}" apply --server-side --force-conflicts -f "${ROOT}/config/crd/bases" >/dev/null
"${KUBECTL}" wait --for=condition=Established --timeout=60s -f "${ROOT}/config/crd/bases" >/dev/null
"${KUBECTL}" create namespace "${NAMESPACE}" --dry-run=client -o yaml | "${KUBECTL}" apply -f - >/dev/null
# The operator fills this Secret with its webhook CA and certificate; it is
# created empty, once, and never overwritten.
if ! "${KUBECTL}" -n "${NAMESPACE}" get secret rbgs-webhook-cert >/dev/null 2>&1; then
  "${KUBECTL}" -n "${NAMESPACE}" create secret generic rbgs-webhook-cert >/dev/null
fi
# The generated roles, bound to the local operator identity.
"${KUBECTL}" apply --server-side --force-conflicts -f "${ROOT}/config/rbac/role.yaml" \
  -f "${ROOT}/config/local/rbac-binding.yaml" >/dev/null
sed "s|https://localhost:19443/|https://localhost:${WEBHOOK_PORT}/|" "${ROOT}/config/local/webhook.yaml" |
  "${KUBECTL}" apply --server-side --force-conflicts -f - >/dev/null
"${KUBECTL}" apply --server-side --force-conflicts -f "${ROOT}/config/admission/worker-index.yaml" >/dev/null
echo "installed: CRDs, namespace ${NAMESPACE}, RBAC of user rbgs-operator, webhook registration (https://localhost:${WEBHOOK_PORT}), worker-index admission policy"
