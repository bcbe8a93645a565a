#!/usr/bin/env bash
# Builds the Kubernetes 1.20 server programs from Debian bookworm's `kubernetes` source package
# (the pinned version below; see shared reference kubernetes.md section 3a) and caches them.
#
#   deploy/e2e/build-kubernetes.sh            # prints the folder holding the binaries
#
# Cache: $ICON_K8S_CACHE (default /var/cache/icon-k8s)/<version>/bin; a complete cache is reused as is.
# apt reads a private deb-src list (its own lists folder), so the host's apt configuration is untouched.
set -euo pipefail
VERSION=1.20.5+really1.20.2-1.1+deb12u1
CACHE=${ICON_K8S_CACHE:-/var/cache/icon-k8s}/$VERSION
BIN=$CACHE/bin
W=${ICON_K8S_BUILD:-/tmp/icon-k8s-build}
PROGRAMS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl kube-proxy pause)

complete() { for p in "${PROGRAMS[@]}"; do [ -x "$BIN/$p" ] || return 1; done; }
if complete; then echo "$BIN"; exit 0; fi

log() { printf '[build-kubernetes %ss] %s\n' "$SECONDS" "$*" >&2; }
export DEBIAN_FRONTEND=noninteractive
need=()
command -v go >/dev/null || need+=(golang-go)
command -v dpkg-source >/dev/null || need+=(dpkg-dev)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null; apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
fi

mkdir -p "$W" && cd "$W"
SRC=$W/kubernetes-1.20.5+really1.20.2
if [ ! -f "$SRC/.icon-unpacked" ]; then
  log "apt-get source kubernetes=$VERSION (private deb-src list)"
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$W/apt/lists/partial"
  {
    echo "deb-src $mirror bookworm main"
    echo "deb-src $mirror bookworm-updates main"
    echo "deb-src ${mirror%/debian}/debian-security bookworm-security main"
  } >"$W/apt/sources.list"
  APT=(-o "Dir::Etc::SourceList=$W/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
       -o "Dir::State::Lists=$W/apt/lists" -o APT::Sandbox::User=root)
  apt-get "${APT[@]}" update -q >/dev/null
  rm -rf "$SRC"
  apt-get "${APT[@]}" source -q "kubernetes=$VERSION" >/dev/null
  touch "$SRC/.icon-unpacked"
fi

cd "$SRC"
mkdir -p .go/src/k8s.io && ln -sfn ../../.. .go/src/k8s.io/kubernetes
log "go build (about 15 min on 2 cores)"
GOPATH=$PWD/.go HOME=$W/home GOFLAGS=-mod=vendor \
  make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubelet cmd/kubectl cmd/kube-proxy" >"$W/make.log" 2>&1 \
  || { tail -40 "$W/make.log" >&2; exit 1; }
gcc -Os -static -o _output/bin/pause build/pause/linux/pause.c
mkdir -p "$BIN.part"
for p in "${PROGRAMS[@]}"; do cp "_output/bin/$p" "$BIN.part/$p"; done
rm -rf "$BIN" && mv "$BIN.part" "$BIN"
log "cached in $BIN; removing the build tree"
cd / && rm -rf "$W"
echo "$BIN"
