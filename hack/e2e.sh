#!/usr/bin/env bash
# Runs the end-to-end tests (test/e2e) on a local cluster of their own: its
# own state folder and ports, so a cluster started by `make demo` keeps
# running. The cluster and the operator are stopped afterwards, also when a
# test fails.
#
# Usage: hack/e2e.sh [go test flags...]     e.g. hack/e2e.sh -run TestSetEndToEnd
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

export RBGS_CLUSTER_DIR="${RBGS_E2E_CLUSTER_DIR:-${ROOT}/.cluster-e2e}"
export RBGS_ETCD_PORT="${RBGS_E2E_ETCD_PORT:-32379}"
export RBGS_ETCD_PEER_PORT="${RBGS_E2E_ETCD_PEER_PORT:-32380}"
export RBGS_APISERVER_PORT="${RBGS_E2E_APISERVER_PORT:-36443}"
export RBGS_CONTROLLER_MANAGER_PORT="${RBGS_E2E_CONTROLLER_MANAGER_PORT:-30257}"
export RBGS_SCHEDULER_PORT="${RBGS_E2E_SCHEDULER_PORT:-30259}"
export RBGS_KWOK_PORT="${RBGS_E2E_KWOK_PORT:-30247}"
export RBGS_WEBHOOK_PORT="${RBGS_E2E_WEBHOOK_PORT:-39443}"

trap 'hack/cluster.sh down' EXIT
hack/tools.sh helm
hack/cluster.sh up
MANAGER="${RBGS_MANAGER_BIN:-${ROOT}/bin/manager}"
go build -o "${MANAGER}" ./cmd/manager
PLUGIN="$(dirname "${MANAGER}")/kubectl-rbgs"
go build -o "${PLUGIN}" ./cmd/kubectl-rbgs
export KUBECONFIG="${RBGS_CLUSTER_DIR}/kubeconfig"
hack/install.sh

RBGS_E2E_MANAGER="${MANAGER}" \
  RBGS_E2E_PLUGIN="${PLUGIN}" \
  RBGS_E2E_KUBECONFIG="${RBGS_CLUSTER_DIR}/kubeconfig" \
  RBGS_E2E_OPERATOR_KUBECONFIG="${RBGS_CLUSTER_DIR}/kubeconfig-operator" \
  RBGS_E2E_LOG_DIR="${RBGS_CLUSTER_DIR}/logs" \
  RBGS_E2E_AUDIT_LOG="${RBGS_CLUSTER_DIR}/logs/audit.log" \
  go test -count=1 -timeout 30m -v "$@" ./test/e2e/
