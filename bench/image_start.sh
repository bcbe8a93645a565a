#!/usr/bin/env bash
# Start-up figures inside plugin images, to compare image builds side by side (e.g. the slim image
# before and after a change to docker/): medians of fresh processes, measured inside one container
# per image so Docker's own start-up is not in the figures.
#   bench/image_start.sh IMAGE [IMAGE ...]     (images built FROM a base image, like the sample's)
# Needs DOCKER_HOST pointing at a running dockerd (docker/image-test.sh leaves its socket in
# /tmp/icon-docker/docker.sock while it runs; start one the same way to use this by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: bench/image_start.sh IMAGE [IMAGE ...]" >&2; exit 2; }
read -r -d '' INSIDE <<'SCRIPT' || true
t() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1; echo $(( ($(date +%s%N) - s) / 1000000 )); }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
row() { printf '%-58s %6s ms\n' "$1" "$2"; }
row "one-shot run of an action (11 runs)" "$(for _ in $(seq 11); do t sh -c 'icon_example run < /m/say_hello.json'; done | median)"
row "import server, helper, aws_client, boto3, requests (7)" "$(for _ in $(seq 7); do t python -c 'import insightconnect_plugin_runtime.server, insightconnect_plugin_runtime.helper, insightconnect_plugin_runtime.clients.aws_client, boto3, requests'; done | median)"
row "boto3 EC2 client and its DescribeInstances model (5)" "$(for _ in $(seq 5); do t python -c 'import boto3; c = boto3.client("ec2", region_name="us-east-1"); c.meta.service_model.operation_model("DescribeInstances").output_shape.members'; done | median)"
row "stdlib modules no public plugin imports (7)" "$(for _ in $(seq 7); do t python -c 'import xml.dom.minidom, imaplib, poplib, configparser, sqlite3, calendar'; done | median)"
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
s=$(date +%s%N); icon_example http --bind 127.0.0.1 --port "$port" >/dev/null 2>&1 & pid=$!
for _ in $(seq 500); do python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/api/v1/info', timeout=1)" 2>/dev/null && break; sleep 0.02; done
row "http mode: start to first 200 on /api/v1/info" "$(( ($(date +%s%N) - s) / 1000000 ))"
kill "$pid"; wait "$pid" 2>/dev/null || true
SCRIPT
for image in "$@"; do
  echo "== $image ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1 / 1e6}'))"
  docker run --rm --network host --entrypoint bash -v "$PWD/samples/example/messages:/m:ro" "$image" -c "$INSIDE"
done
