#!/usr/bin/env bash
# Runs the benchmark (test/bench) on a local cluster of its own, stopped
# afterwards. Results: docs/benchmarks.json and the tables printed at the end
# (also written to docs/benchmarks-latest.md).
#
# Usage: hack/bench.sh [bench flags...]     e.g. hack/bench.sh -sizes 10,100
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

export RBGS_CLUSTER_DIR="${RBGS_BENCH_CLUSTER_DIR:-${ROOT}/.cluster-bench}"
export RBGS_ETCD_PORT=42379 RBGS_ETCD_PEER_PORT=42380 RBGS_APISERVER_PORT=46443
export RBGS_CONTROLLER_MANAGER_PORT=40257 RBGS_SCHEDULER_PORT=40259 RBGS_KWOK_PORT=40247

trap 'hack/cluster.sh down' EXIT
hack/cluster.sh up
# The operator binary is built into the state folder so that rebuilding
# bin/manager during a run does not change what is measured.
go build -o "${RBGS_CLUSTER_DIR}/manager" ./cmd/manager
export KUBECONFIG="${RBGS_CLUSTER_DIR}/kubeconfig"
hack/install.sh

go run ./test/bench \
  -admin-kubeconfig "${KUBECONFIG}" \
  -operator-kubeconfig "${RBGS_CLUSTER_DIR}/kubeconfig-operator" \
  -audit-log "${RBGS_CLUSTER_DIR}/logs/audit.log" \
  -log-dir "${RBGS_CLUSTER_DIR}/logs" \
  -cluster-dir "${RBGS_CLUSTER_DIR}" \
  -manager "${RBGS_CLUSTER_DIR}/manager" \
  -controller-manager-url "https://127.0.0.1:${RBGS_CONTROLLER_MANAGER_PORT}" \
  -json docs/benchmarks.json \
  -markdown docs/benchmarks-latest.md \
  "$@"
