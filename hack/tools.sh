#!/usr/bin/env bash
# Builds the development tools into <repo>/bin/ from the pinned modules under
# hack/tools/, skipping any binary that is already there.
#
# Usage: hack/tools.sh [--rebuild] [name...]
#   names: etcd kwok controller-gen helm kube-apiserver kube-controller-manager
#          kube-scheduler kubectl, or "kube" for the four Kubernetes commands.
#   No name means all of them. --rebuild builds even those already in bin/
#   (needed after a version change under hack/tools/).
#
# First builds on 2 cores: the Kubernetes commands about 6 minutes together,
# etcd and kwok about 1 minute; later builds come from Go's build cache.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/bin"
TOOLS="${ROOT}/hack/tools"

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
ALL=(etcd kwok controller-gen helm "${KUBE_CMDS[@]}")

usage() {
  sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# timed_build MODULE_DIR OUT LABEL [go build flags...] -- PACKAGE...: builds into
# a scratch folder (as OUT, or under the packages' names when OUT is empty),
# then moves each binary into bin/, so no one runs a half-written file.
timed_build() {
  local dir="$1" out="$2" label="$3" start=${SECONDS} tmp f
  shift 3
  local flags=()
  while [[ "$1" != "--" ]]; do
    flags+=("$1")
    shift
  done
  shift
  echo "tools: building ${label} (from hack/tools/${dir}) ..." >&2
  tmp="$(mktemp -d "${BIN}/.build.XXXXXX")"
  if ! go build -C "${TOOLS}/${dir}" "${flags[@]}" -o "${tmp}/${out}" "$@"; then
    rm -rf "${tmp}"
    return 1
  fi
  for f in "${tmp}"/*; do
    mv -f "${f}" "${BIN}/"
  done
  rmdir "${tmp}"
  echo "tools: built ${label} in $((SECONDS - start)) s" >&2
}

rebuild=0
if [[ "${1:-}" == "--rebuild" ]]; then
  rebuild=1
  shift
fi

want=()
if [[ $# -eq 0 ]]; then
  want=("${ALL[@]}")
else
  for arg in "$@"; do
    case "${arg}" in
      -h | --help) usage ;;
      kube) want+=("${KUBE_CMDS[@]}") ;;
      etcd | kwok | controller-gen | helm | kube-apiserver | kube-controller-manager | kube-scheduler | kubectl)
        want+=("${arg}")
        ;;
      *)
        echo "tools: unknown tool '${arg}'" >&2
        usage
        ;;
    esac
  done
fi

mkdir -p "${BIN}"
# Serialise concurrent runs (for example parallel make targets).
exec 9>"${BIN}/.tools.lock"
flock 9

missing_kube=()
declare -A seen=()
for name in "${want[@]}"; do
  [[ -n "${seen[${name}]:-}" ]] && continue
  seen[${name}]=1
  [[ ${rebuild} -eq 0 && -x "${BIN}/${name}" ]] && continue
  case "${name}" in
    # The etcd module root is its main package (default binary name "server").
    etcd) timed_build etcd etcd etcd -- go.etcd.io/etcd/server/v3 ;;
    kwok) timed_build kwok kwok kwok -- sigs.k8s.io/kwok/cmd/kwok ;;
    controller-gen)
      timed_build gen controller-gen controller-gen -- sigs.k8s.io/controller-tools/cmd/controller-gen
      ;;
    helm) timed_build helm helm helm -- helm.sh/helm/v3/cmd/helm ;;
    *) missing_kube+=("${name}") ;;
  esac
done

if [[ ${#missing_kube[@]} -gt 0 ]]; then
  pkgs=()
  for name in "${missing_kube[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/${name}")
  done
  # Stamp the release version (unset, kubectl version fails to parse it).
  version="$(go -C "${TOOLS}/kube" list -m -f '{{.Version}}' k8s.io/kubernetes)"
  minor="${version#v1.}"
  minor="${minor%%.*}"
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${version} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean"
  done
  timed_build kube "" "${missing_kube[*]}" -ldflags="${ldflags# }" -- "${pkgs[@]}"
fi
