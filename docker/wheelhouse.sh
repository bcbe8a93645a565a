#!/usr/bin/env bash
# Builds docker/wheelhouse/: every distribution of this repository (hatch build --all, plus the
# meta-package) and all their dependencies as wheels for the image's Python, so the Dockerfiles
# install with `pip install --no-index` and no source tree enters the image.
#   docker/wheelhouse.sh <python-version> <slim|alpine>
#   slim:   `pip wheel` with the host's python<version> (glibc wheels; Debian bookworm or newer)
#   alpine: `pip download` of musllinux_1_2 wheels for cp<version> (binary wheels only: this is
#           also the check that every pinned dependency installs on Alpine)
set -euo pipefail
cd "$(dirname "$0")/.."

PY_VERSION=${1:?python version, e.g. 3.13}
FLAVOUR=${2:?slim or alpine}
HATCH=${HATCH:-.venv-tools/bin/hatch}
OUT=docker/wheelhouse
python3 docker/check-pins.py
DIST=$(mktemp -d "${TMPDIR:-/tmp}/icon-dist.XXXXXX")
trap 'rm -rf "$DIST"' EXIT

# ICON_DIST: a folder that already holds this checkout's wheels (image-test builds them once).
if [ -n "${ICON_DIST:-}" ]; then
  cp "$ICON_DIST"/*.whl "$DIST"/
else
  "$HATCH" build --all -t wheel "$DIST" >/dev/null 2>&1
  (cd packages/runtime && "../../$HATCH" build -t wheel "$DIST" >/dev/null 2>&1)
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' packages/runtime/pyproject.toml)

# pip's resolver gives up on the OpenTelemetry instrumentation pins (ResolutionImpossible after
# backtracking), uv resolves them: uv pins the set for the target platform, pip fetches it.
case "$FLAVOUR" in
  slim) platform=x86_64-manylinux_2_36 ;;
  alpine) platform=x86_64-unknown-linux-musl ;;
  *) echo "wheelhouse: unknown flavour $FLAVOUR" >&2; exit 2 ;;
esac
UV=${UV:-$(dirname "$HATCH")/uv}
"$UV" pip compile -q --no-header --no-annotate --python-version "$PY_VERSION" --python-platform "$platform" \
  --find-links "$DIST" -o "$DIST/requirements.txt" - <<<"icon-runtime==$version"
grep -v '^icon-runtime' "$DIST/requirements.txt" > "$DIST/third-party.txt"

rm -rf "$OUT" && mkdir -p "$OUT"
cp "$DIST"/*.whl "$OUT"/
cp "$DIST/requirements.txt" "$OUT/requirements.txt"
quiet() { grep -v "is ignored: it is neither" >&2 || true; }
case "$FLAVOUR" in
  slim)
    py="python$PY_VERSION"
    command -v "$py" >/dev/null || { echo "wheelhouse: $py not found (pyenv?)" >&2; exit 1; }
    "$py" -m pip wheel -q --disable-pip-version-check --no-deps --wheel-dir "$OUT" -r "$DIST/third-party.txt" 2> >(quiet)
    ;;
  alpine)
    abi="cp${PY_VERSION/./}"
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      --platform musllinux_1_2_x86_64 --python-version "$PY_VERSION" --implementation cp --abi "$abi" \
      -d "$OUT" -r "$DIST/third-party.txt" 2> >(quiet)
    ;;
esac
# setuptools, for images whose Python has none (3.12+): plugin Dockerfiles run `setup.py install`.
python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: -d "$OUT" setuptools 2> >(quiet)
setuptools_wheel=$(find "$OUT" -name 'setuptools-*.whl' | head -n 1)
basename "$setuptools_wheel" | sed -E 's/^setuptools-([^-]+)-.*/setuptools==\1/' >"$OUT/setuptools.txt"
python3 docker/common/strip_wheels.py "$OUT"
echo "wheelhouse: $(find "$OUT" -name '*.whl' | wc -l) wheels for Python $PY_VERSION ($FLAVOUR) in $OUT"
