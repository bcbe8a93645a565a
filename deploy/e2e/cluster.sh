#!/usr/bin/env bash
# One-node Kubernetes 1.20 confined to a network namespace (shared reference kubernetes.md, section 3).
#   cluster.sh up <bin dir>   start dockerd, etcd, control plane, kubelet and kube-proxy inside $K8S_NETNS
#   cluster.sh down           stop everything by recorded PID, remove containers, mounts, cgroups, netns
# State: $K8S_WORK (default /tmp/icon-k8s-e2e/cluster); docker's data root $K8S_DOCKER_ROOT (kept between runs
# so images are cached). Addresses exist only inside the namespace: node 10.250.0.1, pods 10.251.0.0/24
# (docker's bridge), services 10.252.0.0/24; the host's links, routes and iptables are not touched.
set -euo pipefail
NETNS=${K8S_NETNS:-icon-k8s}
W=${K8S_WORK:-/tmp/icon-k8s-e2e/cluster}
DROOT=${K8S_DOCKER_ROOT:-/tmp/icon-k8s-docker}
NODE_IP=10.250.0.1
SVC_CIDR=10.252.0.0/24
HOST_PATHS="/var/lib/kubelet /var/lib/dockershim /var/log/pods /var/log/containers $HOME/.kube"
log() { printf '[cluster %ss] %s\n' "$SECONDS" "$*" >&2; }
IN() { nsenter --net="/run/netns/$NETNS" "$@"; }

start() {  # <name> <command...>: started in the namespace, own session, PID recorded
  local name=$1; shift
  setsid nsenter --net="/run/netns/$NETNS" "$@" >"$W/log/$name.log" 2>&1 </dev/null &
  echo $! >"$W/run/$name.pid"
}

wait_for() {  # <seconds> <description> <command...>
  local limit=$1 what=$2; shift 2
  local end=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || { log "timed out waiting for $what"; return 1; }
    sleep 0.5
  done
}

up() {
  local B=${1:?bin dir}
  mkdir -p "$W"/{log,run,pki,etcd,kubelet,dexec} "$DROOT"
  : >"$W/created"   # host paths the kubelet/dockershim write outside --root-dir, removed by `down` if new
  for p in $HOST_PATHS; do [ -e "$p" ] || echo "$p" >>"$W/created"; done
  log "network namespace $NETNS"
  ip netns add "$NETNS"
  ip -n "$NETNS" link set lo up
  ip -n "$NETNS" link add k8s0 type veth peer name k8s1
  ip -n "$NETNS" addr add "$NODE_IP/24" dev k8s0
  ip -n "$NETNS" link set k8s0 up
  ip -n "$NETNS" link set k8s1 up
  ip -n "$NETNS" route add "$SVC_CIDR" dev k8s0   # a routing decision exists before kube-proxy's DNAT

  log "PKI (CA, API server certificate, service-account keys, token)"
  local P=$W/pki
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/ca.key" -out "$P/ca.crt" -days 2 -subj /CN=icon-k8s-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$P/apiserver.key" -out "$P/apiserver.csr" -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:10.252.0.1,IP:%s,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n' "$NODE_IP" >"$P/san.ext"
  openssl x509 -req -in "$P/apiserver.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" -CAcreateserial -days 2 \
    -extfile "$P/san.ext" -out "$P/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$P/sa.key" 2048 2>/dev/null
  openssl rsa -in "$P/sa.key" -pubout -out "$P/sa.pub" 2>/dev/null
  local token
  token=$(openssl rand -hex 16)
  echo "$token,admin,admin,system:masters" >"$P/tokens.csv"
  cat >"$W/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$P/ca.crt"}
users:
- name: admin
  user: {token: "$token"}
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC

  log "runc wrapper (negative oom_score_adj is refused on this VM)"
  cat >"$W/runc-clamp" <<'RC'
#!/bin/bash
args=("$@")
for ((i=0; i<${#args[@]}; i++)); do
  case "${args[i]}" in --bundle|-b) bundle="${args[i+1]}" ;; --bundle=*) bundle="${args[i]#--bundle=}" ;; esac
done
if [ -n "${bundle:-}" ] && jq -e '(.process.oomScoreAdj // 0) < 0' "$bundle/config.json" >/dev/null 2>&1; then
  jq -c '.process.oomScoreAdj = 0' "$bundle/config.json" > "$bundle/config.json.tmp" && mv "$bundle/config.json.tmp" "$bundle/config.json"
fi
exec runc "$@"
RC
  chmod +x "$W/runc-clamp"

  log "dockerd (data root $DROOT)"
  start dockerd dockerd --data-root "$DROOT" --exec-root "$W/dexec" --pidfile "$W/run/dockerd.pid.own" \
    --host "unix://$W/run/docker.sock" --storage-driver overlay2 --bip 10.251.0.1/24 \
    --exec-opt native.cgroupdriver=cgroupfs --add-runtime "runc-clamp=$W/runc-clamp" --default-runtime runc-clamp
  log "etcd"
  start etcd etcd --name icon-k8s --data-dir "$W/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster icon-k8s=http://127.0.0.1:2380
  wait_for 60 dockerd docker -H "unix://$W/run/docker.sock" info

  log "pause image"
  if ! docker -H "unix://$W/run/docker.sock" image inspect k8s.gcr.io/pause:3.2 >/dev/null 2>&1; then
    local pd; pd=$(mktemp -d)
    cp "$B/pause" "$pd/pause"
    tar -C "$pd" -c . | docker -H "unix://$W/run/docker.sock" import --change 'ENTRYPOINT ["/pause"]' - k8s.gcr.io/pause:3.2 >/dev/null
    rm -rf "$pd"
  fi

  log "kube-apiserver"
  start kube-apiserver "$B/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 \
    --advertise-address=$NODE_IP --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" \
    --cert-dir="$W/pki/generated" --token-auth-file="$P/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-key-file="$P/sa.pub" --service-account-signing-key-file="$P/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc --service-cluster-ip-range=$SVC_CIDR \
    --enable-aggregator-routing=true --kubelet-preferred-address-types=InternalIP --allow-privileged=false \
    --insecure-port=0
  wait_for 90 kube-apiserver IN "$B/kubectl" --kubeconfig "$W/admin.kubeconfig" get --raw /readyz
  log "controller-manager, scheduler, kubelet, kube-proxy"
  start kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$W/admin.kubeconfig" --leader-elect=false \
    --port=0 --bind-address=127.0.0.1 --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --use-service-account-credentials=false --horizontal-pod-autoscaler-sync-period=5s \
    --horizontal-pod-autoscaler-downscale-stabilization=30s --controllers='*,-nodeipam'
  start kube-scheduler "$B/kube-scheduler" --kubeconfig="$W/admin.kubeconfig" --leader-elect=false --port=0 \
    --bind-address=127.0.0.1
  start kubelet "$B/kubelet" --kubeconfig="$W/admin.kubeconfig" --root-dir="$W/kubelet" --cert-dir="$W/kubelet/pki" \
    --container-runtime=docker --docker-endpoint="unix://$W/run/docker.sock" --pod-infra-container-image=k8s.gcr.io/pause:3.2 \
    --node-ip=$NODE_IP --hostname-override=node1 --fail-swap-on=false --cgroup-driver=cgroupfs --address=$NODE_IP \
    --read-only-port=0 --anonymous-auth=true --authorization-mode=AlwaysAllow --sync-frequency=5s \
    --image-gc-high-threshold=100 --image-gc-low-threshold=99 \
    --eviction-hard='memory.available<100Mi,nodefs.available<1%,imagefs.available<1%' --resolv-conf=/etc/resolv.conf
  start kube-proxy "$B/kube-proxy" --kubeconfig="$W/admin.kubeconfig" --hostname-override=node1 --proxy-mode=iptables \
    --conntrack-max-per-core=0 --metrics-bind-address=127.0.0.1:10249 --healthz-bind-address=127.0.0.1:10256
  wait_for 90 "node Ready" sh -c "nsenter --net=/run/netns/$NETNS '$B/kubectl' --kubeconfig '$W/admin.kubeconfig' get node node1 -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
  wait_for 60 "default service account" IN "$B/kubectl" --kubeconfig "$W/admin.kubeconfig" get serviceaccount default
  log "node Ready"
}

stop_pid() {  # <name>
  local f=$W/run/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$f"
}

down() {
  log "teardown"
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager; do stop_pid "$name"; done
  if [ -S "$W/run/docker.sock" ]; then
    ids=$(docker -H "unix://$W/run/docker.sock" ps -aq 2>/dev/null || true)
    [ -z "$ids" ] || timeout 60 docker -H "unix://$W/run/docker.sock" rm -f $ids >/dev/null 2>&1 || true
  fi
  for name in kube-apiserver etcd dockerd; do stop_pid "$name"; done
  # containerd-shims started by this dockerd, if any survived
  for shim in $(pgrep -f "containerd-shim.*$W/dexec" 2>/dev/null || true); do kill -9 "$shim" 2>/dev/null || true; done
  # mounts under the work folders (kubelet volumes, docker netns), deepest first
  for dir in "$W" "$DROOT"; do
    awk -v d="$dir" '$2 ~ "^"d {print $2}' /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  for c in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/*/docker; do
    [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  ip netns del "$NETNS" 2>/dev/null || true
  if [ -f "$W/created" ]; then
    while read -r p; do [ -n "$p" ] && rm -rf "$p"; done <"$W/created"
  fi
  rm -rf "$W/etcd" "$W/kubelet"
  log "teardown done"
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down ;;
  *) echo "usage: $0 up <bin dir> | down" >&2; exit 2 ;;
esac
