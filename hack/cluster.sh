#!/usr/bin/env bash
# Local Kubernetes control plane on 127.0.0.1, built from Go module sources:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
# (fake nodes; pods on them become Running/Ready without containers).
#
# Usage: hack/cluster.sh up|down|restart-apiserver|status|env
#   up      build missing binaries, start everything, create fake nodes, wait
#           until usable; last line: export KUBECONFIG=<path>. No-op if running.
#   down    stop the processes this script started (by pid file), delete etcd data.
#   restart-apiserver  stop and start etcd and kube-apiserver, keeping the data, then
#           kube-controller-manager, whose caches can otherwise stay stale.
#   status  show which processes are alive.
#   env     print the export KUBECONFIG line.
#   Typical use: eval "$(hack/cluster.sh up)"
#
# Environment (defaults):
#   RBGS_CLUSTER_DIR=<repo>/.cluster  state: keys, tokens, kubeconfigs, etcd data,
#                                     logs/ (one per process, audit.log), pids/
#   RBGS_CLUSTER_NODES=4              fake nodes (cpu 1000, memory 4Ti, pods 2000,
#                                     nvidia.com/gpu 64 each)
#   RBGS_CLUSTER_TIMEOUT=120          seconds to wait for each readiness step
#   RBGS_ETCD_PORT=22379 RBGS_ETCD_PEER_PORT=22380 RBGS_APISERVER_PORT=26443
#   RBGS_CONTROLLER_MANAGER_PORT=20257 RBGS_SCHEDULER_PORT=20259 RBGS_KWOK_PORT=20247
#
# Identities: <dir>/kubeconfig is "admin" (system:masters); <dir>/kubeconfig-operator
# is "rbgs-operator" (group rbgs:operators; hack/install.sh binds it to the
# operator's generated roles). The audit log
# records, at Metadata level, requests of users other than the control plane's own.
# Pod IPs are fake: Services do not route, and webhooks must be registered by URL.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin"
STATE="${RBGS_CLUSTER_DIR:-${ROOT}/.cluster}"
NODES="${RBGS_CLUSTER_NODES:-4}"
TIMEOUT="${RBGS_CLUSTER_TIMEOUT:-120}"
ETCD_PORT="${RBGS_ETCD_PORT:-22379}"
ETCD_PEER_PORT="${RBGS_ETCD_PEER_PORT:-22380}"
APISERVER_PORT="${RBGS_APISERVER_PORT:-26443}"
KCM_PORT="${RBGS_CONTROLLER_MANAGER_PORT:-20257}"
SCHEDULER_PORT="${RBGS_SCHEDULER_PORT:-20259}"
KWOK_PORT="${RBGS_KWOK_PORT:-20247}"
KWOK_VERSION="v0.8.0"
# Workload-aware scheduling (PodGroups, gangs, topology) is off by default
# in Kubernetes 1.37: every component of the local clusters turns it on.
FEATURE_GATES="GenericWorkload=true,TopologyAwareWorkloadScheduling=true"

# Start order.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

LOGS="${STATE}/logs"
PIDS="${STATE}/pids"
CERTS="${STATE}/certs"
KUBECONFIG_ADMIN="${STATE}/kubeconfig"
KUBECONFIG_OPERATOR="${STATE}/kubeconfig-operator"
APISERVER_URL="https://127.0.0.1:${APISERVER_PORT}"

# Pids started by this invocation; stopped again if "up" fails.
STARTED=()

log() { echo "cluster: $*" >&2; }

die() {
  log "error: $*"
  exit 1
}

export_line() { echo "export KUBECONFIG=${KUBECONFIG_ADMIN}"; }

kubectl_admin() { "${BIN}/kubectl" --kubeconfig "${KUBECONFIG_ADMIN}" "$@"; }

# Prints the pid of a component if its pid file names a live process that runs
# our binary; fails otherwise.
live_pid() {
  local name="$1" pidfile="${PIDS}/$1.pid" pid argv0
  [[ -f "${pidfile}" ]] || return 1
  pid="$(<"${pidfile}")"
  [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
  kill -0 "${pid}" 2>/dev/null || return 1
  argv0="$(tr '\0' '\n' <"/proc/${pid}/cmdline" 2>/dev/null | head -n 1)" || return 1
  [[ "${argv0}" == "${BIN}/${name}" ]] || return 1
  echo "${pid}"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tail_log() {
  local file="$1"
  [[ -f "${file}" ]] || return 0
  echo "----- last lines of ${file} -----" >&2
  tail -n 30 "${file}" >&2
  echo "-----" >&2
}

# start NAME PORT... -- COMMAND...: run detached, log to logs/NAME.log.
start() {
  local name="$1" port pid
  shift
  while [[ "$1" != "--" ]]; do
    port="$1"
    shift
    if port_in_use "${port}"; then
      die "port 127.0.0.1:${port} for ${name} is already in use (override with RBGS_*_PORT)"
    fi
  done
  shift
  log "starting ${name}"
  local pidfile="${PIDS}/${name}.pid"
  rm -f "${pidfile}"
  # setsid forks when the caller leads its process group, so $! may not be the
  # daemon: the shell writes its own pid and then execs the command.
  # shellcheck disable=SC2016
  setsid nohup bash -c 'echo "$$" >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "${pidfile}" "$@" \
    >>"${LOGS}/${name}.log" 2>&1 </dev/null &
  for _ in {1..200}; do
    [[ -s "${pidfile}" ]] && break
    sleep 0.05
  done
  [[ -s "${pidfile}" ]] || die "${name} did not start"
  pid="$(<"${pidfile}")"
  STARTED+=("${pid}")
  for _ in {1..200}; do
    live_pid "${name}" >/dev/null && return 0
    sleep 0.05
  done
  tail_log "${LOGS}/${name}.log"
  die "${name} exited at start"
}

# Stops our live processes, and the operator that make demo started beside
# them (pids/manager.pid): TERM to all but etcd at once, wait up to 10 s,
# then KILL; then etcd (an API server whose etcd is gone waits on it).
stop_all() {
  local i order=(manager)
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    [[ "${COMPONENTS[i]}" == etcd ]] || order+=("${COMPONENTS[i]}")
  done
  stop_components "${order[@]}"
  stop_components etcd
}

# stop_components NAME... sends TERM to each running component, in order,
# then waits up to 10 s before KILL.
stop_components() {
  local i name pid names=() pids=() left
  for name in "$@"; do
    if pid="$(live_pid "${name}")"; then
      kill -TERM "${pid}" 2>/dev/null || true
      names+=("${name}")
      pids+=("${pid}")
    fi
    rm -f "${PIDS}/${name}.pid"
  done
  for ((i = 0; i <= 100; i++)); do
    left=0
    for pid in "${pids[@]}"; do
      kill -0 "${pid}" 2>/dev/null && left=1
    done
    ((left)) || break
    sleep 0.1
  done
  for ((i = 0; i < ${#pids[@]}; i++)); do
    if kill -0 "${pids[i]}" 2>/dev/null; then
      log "${names[i]} (pid ${pids[i]}) ignored TERM for 10 s; killing"
      kill -KILL "${pids[i]}" 2>/dev/null || true
      # Its ports are free only once it is gone.
      for _ in {1..50}; do
        kill -0 "${pids[i]}" 2>/dev/null || break
        sleep 0.1
      done
    else
      log "stopped ${names[i]} (pid ${pids[i]})"
    fi
  done
}

# Called on exit of "up": on failure, stop what this run started.
cleanup_failed_up() {
  local rc=$? pid
  trap - EXIT INT TERM
  if [[ ${rc} -ne 0 && ${#STARTED[@]} -gt 0 ]]; then
    log "up failed; stopping the processes it started"
    for pid in "${STARTED[@]}"; do
      kill -TERM "${pid}" 2>/dev/null || true
    done
    sleep 1
    for pid in "${STARTED[@]}"; do
      for _ in {1..90}; do
        kill -0 "${pid}" 2>/dev/null || break
        sleep 0.1
      done
      kill -KILL "${pid}" 2>/dev/null || true
    done
    rm -f "${PIDS}"/*.pid
  fi
  exit "${rc}"
}

# wait_for NAME DESCRIPTION COMMAND...: retry COMMAND until it succeeds, failing
# early if NAME's process died.
wait_for() {
  local name="$1" what="$2" deadline=$((SECONDS + TIMEOUT))
  shift 2
  until "$@" >/dev/null 2>&1; do
    if ! live_pid "${name}" >/dev/null; then
      tail_log "${LOGS}/${name}.log"
      die "${name} exited while waiting for ${what}"
    fi
    if ((SECONDS >= deadline)); then
      tail_log "${LOGS}/${name}.log"
      die "timed out after ${TIMEOUT} s waiting for ${what}"
    fi
    sleep 0.5
  done
}

readyz_ok() {
  local token
  token="$(cut -d, -f1 <"${STATE}/tokens.csv" | head -n 1)"
  [[ "$(curl -s --cacert "${CERTS}/ca.crt" --max-time 5 -H "Authorization: Bearer ${token}" "${APISERVER_URL}/readyz")" == "ok" ]]
}

healthz_ok() { [[ "$(curl -sk --max-time 5 "$1/healthz")" == "ok" ]]; }

all_running() {
  local name
  for name in "${COMPONENTS[@]}"; do
    live_pid "${name}" >/dev/null || return 1
  done
  [[ -f "${STATE}/tokens.csv" ]] && readyz_ok
}

write_kubeconfig() {
  local file="$1" user="$2" token="$3"
  cat >"${file}" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rbgs-local
  cluster:
    server: ${APISERVER_URL}
    certificate-authority-data: $(base64 -w0 "${CERTS}/ca.crt")
users:
- name: ${user}
  user:
    token: ${token}
contexts:
- name: rbgs-local
  context:
    cluster: rbgs-local
    user: ${user}
current-context: rbgs-local
EOF
  chmod 600 "${file}"
}

# Keys, tokens, kubeconfigs, audit policy and kwok stages; keys and tokens are
# kept across up/down so kubeconfigs stay valid.
prepare_state() {
  mkdir -p "${STATE}" "${LOGS}" "${PIDS}" "${CERTS}" "${STATE}/etcd"
  chmod 700 "${STATE}"
  if [[ ! -f "${STATE}/sa.key" || ! -f "${STATE}/sa.pub" ]]; then
    log "generating service-account keys"
    openssl genrsa -out "${STATE}/sa.key" 2048 2>/dev/null
    openssl rsa -in "${STATE}/sa.key" -pubout -out "${STATE}/sa.pub" 2>/dev/null
  fi
  # A CA for the apiserver's serving certificate and as client and
  # request-header CA (the apiserver then publishes kube-system/extension-
  # apiserver-authentication in full, which the controller manager and scheduler
  # read; they log errors every few seconds otherwise).
  local ca="${CERTS}/ca.crt" ca_key="${CERTS}/ca.key"
  if [[ ! -f "${ca}" || ! -f "${ca_key}" ]]; then
    log "generating CA and serving certificate"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=rbgs-local-ca \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
      -keyout "${ca_key}" -out "${ca}" 2>/dev/null
  fi
  if ! openssl verify -CAfile "${ca}" "${CERTS}/apiserver.crt" >/dev/null 2>&1; then
    openssl req -new -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
      -keyout "${CERTS}/apiserver.key" -out "${CERTS}/apiserver.csr" 2>/dev/null
    openssl x509 -req -in "${CERTS}/apiserver.csr" -CA "${ca}" -CAkey "${ca_key}" \
      -CAcreateserial -days 3650 -out "${CERTS}/apiserver.crt" -extfile <(
        echo "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        echo "extendedKeyUsage=serverAuth"
      ) 2>/dev/null
    rm -f "${CERTS}/apiserver.csr"
  fi

  # Columns: token,user,uid,"groups". The admin token must stay first.
  local tokens="${STATE}/tokens.csv" user
  if [[ ! -f "${tokens}" ]]; then
    log "generating tokens and kubeconfigs"
    {
      echo "$(openssl rand -hex 24),admin,admin,system:masters"
      echo "$(openssl rand -hex 24),rbgs-operator,rbgs-operator,rbgs:operators"
      for user in system:kube-controller-manager system:kube-scheduler system:kwok; do
        echo "$(openssl rand -hex 24),${user},${user},system:masters"
      done
    } >"${tokens}"
    chmod 600 "${tokens}"
  fi
  token_of() { awk -F, -v u="$1" '$2 == u { print $1 }' "${tokens}"; }
  write_kubeconfig "${KUBECONFIG_ADMIN}" admin "$(token_of admin)"
  write_kubeconfig "${KUBECONFIG_OPERATOR}" rbgs-operator "$(token_of rbgs-operator)"
  write_kubeconfig "${STATE}/kubeconfig-controller-manager" system:kube-controller-manager \
    "$(token_of system:kube-controller-manager)"
  write_kubeconfig "${STATE}/kubeconfig-scheduler" system:kube-scheduler "$(token_of system:kube-scheduler)"
  write_kubeconfig "${STATE}/kubeconfig-kwok" system:kwok "$(token_of system:kwok)"

  # Metadata for everyone but the control plane and health probes.
  cat >"${STATE}/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  users:
  - system:apiserver
  - system:kube-controller-manager
  - system:kube-scheduler
  - system:kwok
- level: None
  userGroups: ["system:nodes"]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/metrics", "/version"]
- level: Metadata
EOF

  local kwok_dir stage
  kwok_dir="$(cd "${ROOT}/hack/tools/kwok" && go mod download -json "sigs.k8s.io/kwok@${KWOK_VERSION}" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -d "${kwok_dir}/kustomize/stage" ]] || die "kwok ${KWOK_VERSION} source not found (go mod download)"
  # kwok plays stages with 4 workers by default; under load it lags, and a
  # stale deletion then removes a StatefulSet pod recreated under the same
  # name (kwok deletes by name). Enough workers keep it current.
  cat >"${STATE}/kwok-stages.yaml" <<'EOF'
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 64
  nodePlayStageParallelism: 8
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 16
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
EOF
  for stage in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    {
      echo "---"
      cat "${kwok_dir}/kustomize/stage/${stage}"
    } >>"${STATE}/kwok-stages.yaml"
  done
  # A kubelet's reaction to an in-place image change (see the file).
  {
    echo "---"
    cat "${ROOT}/hack/stages/container-image-change.yaml"
  } >>"${STATE}/kwok-stages.yaml"
}

start_etcd() {
  start etcd "${ETCD_PORT}" "${ETCD_PEER_PORT}" -- "${BIN}/etcd" \
    --name=rbgs \
    --data-dir="${STATE}/etcd" \
    --listen-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --advertise-client-urls="http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-advertise-peer-urls="http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster="rbgs=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --unsafe-no-fsync \
    --quota-backend-bytes=8589934592 \
    --log-level=warn
}

start_apiserver() {
  start kube-apiserver "${APISERVER_PORT}" -- "${BIN}/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:${ETCD_PORT}" \
    --bind-address=127.0.0.1 \
    --secure-port="${APISERVER_PORT}" \
    --cert-dir="${CERTS}" \
    --tls-cert-file="${CERTS}/apiserver.crt" \
    --tls-private-key-file="${CERTS}/apiserver.key" \
    --client-ca-file="${CERTS}/ca.crt" \
    --requestheader-client-ca-file="${CERTS}/ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User \
    --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --token-auth-file="${STATE}/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="${STATE}/sa.pub" \
    --service-account-signing-key-file="${STATE}/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 \
    --allow-privileged=true \
    --max-requests-inflight=2000 \
    --max-mutating-requests-inflight=1000 \
    --audit-policy-file="${STATE}/audit-policy.yaml" \
    --audit-log-path="${LOGS}/audit.log" \
    --audit-log-maxsize=500 \
    --feature-gates="${FEATURE_GATES}" \
    --runtime-config=scheduling.k8s.io/v1beta1=true
}

start_controller_manager() {
  local kc="${STATE}/kubeconfig-controller-manager"
  # HorizontalPodAutoscalers are evaluated every 2 s instead of every 15 s,
  # so that a scale driven by metrics shows within seconds.
  start kube-controller-manager "${KCM_PORT}" -- "${BIN}/kube-controller-manager" \
    --kubeconfig="${kc}" \
    --authentication-kubeconfig="${kc}" \
    --authorization-kubeconfig="${kc}" \
    --service-account-private-key-file="${STATE}/sa.key" \
    --root-ca-file="${CERTS}/ca.crt" \
    --controllers='*,-nodeipam,-serviceaccount-token' \
    --leader-elect=false \
    --kube-api-qps=5000 \
    --kube-api-burst=10000 \
    --secure-port="${KCM_PORT}" \
    --bind-address=127.0.0.1 \
    --horizontal-pod-autoscaler-sync-period=2s \
    --feature-gates="${FEATURE_GATES}"
}

start_scheduler() {
  local kc="${STATE}/kubeconfig-scheduler"
  start kube-scheduler "${SCHEDULER_PORT}" -- "${BIN}/kube-scheduler" \
    --kubeconfig="${kc}" \
    --authentication-kubeconfig="${kc}" \
    --authorization-kubeconfig="${kc}" \
    --leader-elect=false \
    --kube-api-qps=5000 \
    --kube-api-burst=10000 \
    --secure-port="${SCHEDULER_PORT}" \
    --bind-address=127.0.0.1 \
    --feature-gates="${FEATURE_GATES}"
}

start_kwok() {
  # /16 leaves room for thousands of fake pod IPs (the default is a /24).
  start kwok "${KWOK_PORT}" -- "${BIN}/kwok" \
    --kubeconfig="${STATE}/kubeconfig-kwok" \
    --manage-all-nodes=true \
    --config="${STATE}/kwok-stages.yaml" \
    --node-lease-duration-seconds=200 \
    --cidr=10.0.0.0/16 \
    --server-address="127.0.0.1:${KWOK_PORT}"
}

apply_objects() {
  local i
  {
    for ((i = 0; i < NODES; i++)); do
      cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-${i}
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-${i}
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
status:
  allocatable: {cpu: "1000", memory: 4Ti, pods: "2000", nvidia.com/gpu: "64"}
  capacity: {cpu: "1000", memory: 4Ti, pods: "2000", nvidia.com/gpu: "64"}
EOF
    done
  } | kubectl_admin apply -f - >/dev/null
}

nodes_ready() {
  local out
  out="$(kubectl_admin get nodes -l type=kwok -o \
    jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.conditions[?(@.type=="Ready")].status}{" "}{.spec.taints[*].key}{"\n"}{end}')"
  [[ "$(grep -c ' True ' <<<"${out}" || true)" -ge "${NODES}" ]] || return 1
  ! grep -q 'node.kubernetes.io/not-ready' <<<"${out}"
}

cmd_up() {
  if all_running; then
    log "already running"
    export_line
    return 0
  fi
  local t0=${SECONDS} name
  for name in "${COMPONENTS[@]}"; do
    if live_pid "${name}" >/dev/null; then
      log "partly running; restarting"
      stop_all
      break
    fi
  done
  rm -f "${PIDS}"/*.pid
  # A new cluster starts new logs; a restarted component adds to its own.
  rm -f "${LOGS}"/*.log
  local port
  for port in "${ETCD_PORT}" "${ETCD_PEER_PORT}" "${APISERVER_PORT}" "${KCM_PORT}" \
    "${SCHEDULER_PORT}" "${KWOK_PORT}"; do
    if port_in_use "${port}"; then
      die "port 127.0.0.1:${port} is already in use (override with RBGS_*_PORT, see --help)"
    fi
  done

  "${ROOT}/hack/tools.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok
  trap cleanup_failed_up EXIT
  trap 'exit 130' INT TERM
  prepare_state

  start_etcd
  wait_for etcd "etcd on port ${ETCD_PORT}" port_in_use "${ETCD_PORT}"
  start_apiserver
  wait_for kube-apiserver "kube-apiserver /readyz" readyz_ok
  log "kube-apiserver ready after $((SECONDS - t0)) s"
  start_controller_manager
  start_scheduler
  start_kwok
  wait_for kube-apiserver "objects applied" apply_objects
  wait_for kube-controller-manager "kube-controller-manager /healthz" \
    healthz_ok "https://127.0.0.1:${KCM_PORT}"
  wait_for kube-scheduler "kube-scheduler /healthz" healthz_ok "https://127.0.0.1:${SCHEDULER_PORT}"
  wait_for kwok "${NODES} Ready untainted nodes" nodes_ready
  wait_for kube-controller-manager "ServiceAccount default/default" \
    kubectl_admin get serviceaccount default -n default
  log "up in $((SECONDS - t0)) s; logs in ${LOGS}"
  trap - EXIT INT TERM
  export_line
}

cmd_down() {
  local name any=0
  for name in manager "${COMPONENTS[@]}"; do
    [[ -f "${PIDS}/${name}.pid" ]] && any=1
  done
  if ((any)); then
    stop_all
  else
    log "nothing running"
  fi
  rm -rf "${STATE}/etcd"
}

# Restarts etcd and kube-apiserver (data kept) under whatever runs against
# them, as an upgrade or a crash of the control plane would.
cmd_restart_apiserver() {
  all_running || die "the cluster is not running"
  local t0=${SECONDS}
  # The API server first: stopped together, it waits on requests that
  # etcd, gone, never answers.
  stop_components kube-apiserver
  stop_components etcd
  start_etcd
  wait_for etcd "etcd on port ${ETCD_PORT}" port_in_use "${ETCD_PORT}"
  start_apiserver
  wait_for kube-apiserver "kube-apiserver /readyz" readyz_ok
  # kube-controller-manager's caches can stay behind the restarted API
  # server for minutes (its StatefulSet controller then refuses to sync):
  # start it again, as a supervisor would.
  stop_components kube-controller-manager
  start_controller_manager
  wait_for kube-controller-manager "kube-controller-manager /healthz" \
    healthz_ok "https://127.0.0.1:${KCM_PORT}"
  log "etcd, kube-apiserver and kube-controller-manager restarted in $((SECONDS - t0)) s"
}

cmd_status() {
  local name pid
  for name in "${COMPONENTS[@]}"; do
    if pid="$(live_pid "${name}")"; then
      printf '%-24s running (pid %s)\n' "${name}" "${pid}"
    else
      printf '%-24s stopped\n' "${name}"
    fi
  done
  if [[ -f "${STATE}/tokens.csv" ]] && live_pid kube-apiserver >/dev/null && readyz_ok; then
    printf '%-24s ready (%s)\n' "apiserver /readyz" "${APISERVER_URL}"
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  restart-apiserver) cmd_restart_apiserver ;;
  status) cmd_status ;;
  env) export_line ;;
  *)
    sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
