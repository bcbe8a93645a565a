#!/usr/bin/env bash
# The stand-in for python:3.x-slim-bookworm where no registry is reachable (make image-test, make
# k8s-e2e): Debian bookworm made with debootstrap (minbase), with what the official python slim
# images add to Debian (ca-certificates, netbase for /etc/services and /etc/protocols, tzdata) and
# Debian's python3 + python3-venv (Python 3.11). The root filesystem is cached as a tarball whose
# name carries a key of this recipe, so changing the recipe builds a new one (~3 minutes), and the
# image is imported again only when its label names another key.
#   DOCKER="<docker command>" docker/stand-in-base.sh <cache dir> <image tag>
set -euo pipefail
DIR=${1:?cache dir}
IMAGE=${2:?image tag}
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates,netbase,tzdata
KEY=$(printf '%s' "$SUITE minbase $PACKAGES python-link" | sha256sum | cut -c1-12)
TAR=$DIR/base-$SUITE-$KEY.tar
if [ ! -s "$TAR" ]; then
  mkdir -p "$DIR"
  mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  rootfs=$DIR/rootfs-$KEY
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$rootfs" \
    "${mirror:-http://deb.debian.org/debian}" >"$DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$DIR/debootstrap.log" >&2; exit 1; }
  ln -sf python3 "$rootfs/usr/bin/python"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c --numeric-owner -f "$TAR.part" . || { echo "stand-in-base: tar failed" >&2; exit 1; }
  mv "$TAR.part" "$TAR"
  rm -rf "$rootfs"
fi
DOCKER=${DOCKER:-docker}
# shellcheck disable=SC2086 # DOCKER may carry options (-H unix://...)
if [ "$($DOCKER image inspect --format '{{index .Config.Labels "icon.stand-in"}}' "$IMAGE" 2>/dev/null)" != "$KEY" ]; then
  # shellcheck disable=SC2086
  $DOCKER import --change 'CMD ["python3"]' --change "LABEL icon.stand-in=$KEY" "$TAR" "$IMAGE" >/dev/null
fi
