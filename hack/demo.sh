#!/usr/bin/env bash
# The quick start: builds what is missing, starts the local cluster and the
# operator, applies the sample RoleBasedGroupSet, waits until it is Ready and
# shows what it made. Everything is left running.
#
# Usage: hack/demo.sh          start (again: reuses what is already running)
#        hack/demo.sh stop     stop the operator and the local cluster
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"
STATE="${RBGS_CLUSTER_DIR:-${ROOT}/.cluster}"
PIDFILE="${STATE}/pids/manager.pid"
LOG="${STATE}/logs/manager.log"
SAMPLE="config/samples/rolebasedgroupset.yaml"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

manager_running() {
  [[ -f "${PIDFILE}" ]] && kill -0 "$(cat "${PIDFILE}")" 2>/dev/null
}

stop_manager() {
  if manager_running; then
    local pid
    pid="$(cat "${PIDFILE}")"
    kill "${pid}"
    for _ in $(seq 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.2; done
    kill -9 "${pid}" 2>/dev/null || true
  fi
  rm -f "${PIDFILE}"
}

if [[ "${1:-}" == "stop" ]]; then
  stop_manager
  hack/cluster.sh down
  exit 0
fi

start=${SECONDS}
say "Building the cluster binaries (the first time takes about 20 minutes), the operator and the kubectl plugin"
hack/tools.sh kube etcd kwok
# bin/manager, and the plugin kubectl finds on PATH as "kubectl rbgs"
# (bin/kubectl-rbgs, with its completion hook).
make --no-print-directory build

say "Starting the local cluster"
hack/cluster.sh up >/dev/null
export KUBECONFIG="${STATE}/kubeconfig"
kubectl=("${ROOT}/bin/kubectl")

say "Installing the CRDs and the webhook registration"
hack/install.sh

say "Starting the operator (log: ${LOG})"
if manager_running; then
  stop_manager # run the binary just built
fi
mkdir -p "$(dirname "${PIDFILE}")" "$(dirname "${LOG}")"
# The detached shell records its own pid, then becomes the operator
# (hack/cluster.sh down stops it too).
# shellcheck disable=SC2016
KUBECONFIG="${STATE}/kubeconfig-operator" setsid nohup bash -c 'echo "$$" >"$0" && exec "$@"' \
  "${PIDFILE}" "${ROOT}/bin/manager" >"${LOG}" 2>&1 </dev/null &
for _ in {1..100}; do [[ -s "${PIDFILE}" ]] && break; sleep 0.05; done

say "Applying ${SAMPLE}"
# The webhook answers once the operator has made its certificate.
for i in $(seq 60); do
  "${kubectl[@]}" apply -f "${SAMPLE}" 2>/dev/null && break
  [[ ${i} -lt 60 ]] || "${kubectl[@]}" apply -f "${SAMPLE}"
  sleep 1
done
"${kubectl[@]}" wait rbgs/demo-group --for=condition=Ready --timeout=300s

say "The set, its groups, their StatefulSets and pods"
"${kubectl[@]}" get rbgs,rbg
echo
"${kubectl[@]}" get statefulsets,pods -l patio.io/rbgs-name=demo-group

say "/etc/rbgs/cluster.yaml of pod demo-group-0-decode-0"
"${kubectl[@]}" get configmap demo-group-0-rbgs-cluster -o jsonpath='{.data.decode\.0\.yaml}'

say "Done in $((SECONDS - start)) s. The cluster and the operator keep running:"
cat <<EOT
  export KUBECONFIG=${KUBECONFIG}
  export PATH=${ROOT}/bin:\$PATH              # kubectl, and the plugin: kubectl rbgs
  kubectl rbgs status demo-group               # the set, its groups, roles and pods
  kubectl get rbgs demo-group -o yaml          # the whole story in one status
  kubectl scale rbgs demo-group --replicas=3   # one more group
  kubectl get events --sort-by=.lastTimestamp  # what the operator did
  tail -f ${LOG}
Stop everything with: make demo-stop
EOT
