#!/usr/bin/env bash
# Builds public plugins' own Dockerfiles on the icon-runtime slim image, unchanged except for the
# FROM line, and checks each plugin image: `info` answers, one action runs where a message is
# given below, and the runtime inside is still ours (their setup.py requires
# insightconnect-plugin-runtime; pip must not have fetched the reference over it).
#   ICP_MIRROR=<git dir of rapid7/insightconnect-plugins> docker/public-plugin-images.sh [plugin ...]
# Needs the slim image (make image-test builds it) and DOCKER_HOST of a running dockerd
# (default: the one image-test starts, unix:///tmp/icon-docker/docker.sock). The plugins' code is
# exported from the mirror into a temporary folder, never into this repository. Their builds
# download their requirements from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ICP_MIRROR:?the git dir of rapid7/insightconnect-plugins (see ../shared/compat/README)}"
export DOCKER_HOST=${DOCKER_HOST:-unix:///tmp/icon-docker/docker.sock} DOCKER_BUILDKIT=1
D=/usr/bin/docker
SLIM=${SLIM_IMAGE:-icon-runtime:python-3-slim}
# Modern slim-based plugins of each Dockerfile shape: builder stage with `pip install .` and
# `pip uninstall -y setuptools`, `python setup.py build && install`, apt-get packages.
PLUGINS=("$@")
# (markdown, say, downloads a .deb from GitHub in its Dockerfile, which this network does not reach.)
[ ${#PLUGINS[@]} -gt 0 ] || PLUGINS=(awk sed tr finger ping traceroute compression cloudflare abnormal_security bitwarden)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/icon-public-plugins.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

base=$SLIM
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then
  # This host reaches PyPI through a TLS-inspecting proxy whose CA is in PIP_CERT: a derived base
  # trusts the same bundle for pip (the slim image itself is left as it is).
  mkdir -p "$WORK/ca" && cp "$PIP_CERT" "$WORK/ca/bundle.crt"
  printf 'FROM %s\nCOPY bundle.crt /etc/ssl/certs/host-ca-bundle.crt\nENV PIP_CERT=/etc/ssl/certs/host-ca-bundle.crt\n' "$SLIM" >"$WORK/ca/Dockerfile"
  base=icon-runtime:slim-host-ca
  "$D" build -q -t "$base" "$WORK/ca" >/dev/null
fi

# Messages for one action per plugin that needs no network (others are checked with `info`).
declare -A MESSAGES=(
  [awk]='{"body":{"action":"process_string","meta":{},"input":{"expression":"{ print $2 }","text":"alpha beta"},"connection":{}},"version":"v1","type":"action_start"}|"out": "beta'
  [tr]='{"body":{"action":"replace","meta":{},"input":{"expression":"a-z A-Z","text":"abc"},"connection":{}},"version":"v1","type":"action_start"}|"result": "ABC'
)

passed=0
failed=()
for plugin in "${PLUGINS[@]}"; do
  printf '\n--- %s\n' "$plugin"
  # (git archive of a partial mirror may complain about unrelated missing blobs: not ours to fix)
  git --git-dir "$ICP_MIRROR" archive HEAD "plugins/$plugin" 2>/dev/null | tar -x -C "$WORK"
  dir=$WORK/plugins/$plugin
  sed -i -E "s#^FROM (--platform=[^ ]+ )?[^ ]*insightconnect-python-3[^ ]*slim-plugin:[^ ]+#FROM \1$base#" "$dir/Dockerfile"
  grep -q "^FROM .*$base" "$dir/Dockerfile" || { echo "not a slim-based Dockerfile"; failed+=("$plugin"); continue; }
  if ! "$D" build -q --network host -t "icon-public-$plugin" "$dir" >"$WORK/$plugin.build.log" 2>&1; then
    grep -E "ERROR|error:" "$WORK/$plugin.build.log" | tail -5
    failed+=("$plugin"); continue
  fi
  ok=1
  "$D" run --rm --network none "icon-public-$plugin" info >"$WORK/$plugin.info" 2>&1 || ok=0
  grep -q "Actions\|Triggers\|Tasks" "$WORK/$plugin.info" || ok=0
  echo "  info: $(head -1 "$WORK/$plugin.info" | sed 's/\x1b\[[0-9;]*m//g')"
  ours=$("$D" run --rm --network none --entrypoint python "icon-public-$plugin" -c \
    'import importlib.metadata as m; print(m.version("icon-runtime-core"), m.metadata("insightconnect-plugin-runtime")["Summary"])' 2>&1) || ok=0
  case "$ours" in *"Provided by icon-runtime-core"*) echo "  runtime: icon-runtime-core $ours" | cut -c1-120 ;; *) echo "  runtime replaced: $ours"; ok=0 ;; esac
  if [ -n "${MESSAGES[$plugin]:-}" ]; then
    message=${MESSAGES[$plugin]%%|*}
    expect=${MESSAGES[$plugin]#*|}
    reply=$(printf '%s' "$message" | "$D" run --rm -i --network none "icon-public-$plugin" run 2>/dev/null || true)
    case "$reply" in *'"status": "ok"'*"$expect"*) echo "  action: ok" ;; *) echo "  action failed: ${reply:0:300}"; ok=0 ;; esac
  fi
  if [ "$ok" = 1 ]; then passed=$((passed + 1)); else failed+=("$plugin"); fi
done
printf '\npublic plugin images: %d of %d built and answered on %s%s\n' "$passed" "${#PLUGINS[@]}" "$SLIM" \
  "${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
