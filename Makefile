# icon-runtime: every entry point a developer or CI needs. Installs its own tools (hatch, ruff).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
TOOLS  := $(CURDIR)/.venv-tools
HATCH  := $(TOOLS)/bin/hatch
RUFF   := $(TOOLS)/bin/ruff
sample ?= example
SAMPLE_DIR := samples/$(sample)
PORT ?= 10001

.PHONY: help tools env test test-matrix lint fmt run-sample run-sample-oneshot bench compat compat-images build clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(HATCH):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q --disable-pip-version-check "hatch>=1.18,<2" "ruff>=0.8"

tools: $(HATCH)  ## install hatch and ruff into .venv-tools

env: $(HATCH)  ## create the workspace environment (every package editable)
	$(HATCH) env create default

test: $(HATCH)  ## run every test (all packages + cross-package) on Python 3.11
	$(HATCH) test -py 3.11 packages tests || { rc=$$?; [ $$rc -eq 5 ] && echo "pytest: no tests collected" || exit $$rc; }

test-matrix: $(HATCH)  ## run every test on Python 3.11, 3.12 and 3.13
	$(HATCH) test --all packages tests || { rc=$$?; [ $$rc -eq 5 ] || exit $$rc; }

lint: $(HATCH)  ## ruff lint and format check
	$(RUFF) check .
	$(RUFF) format --check .

fmt: $(HATCH)  ## apply ruff formatting and fixes
	$(RUFF) format .
	$(RUFF) check --fix .

run-sample: env  ## serve samples/$(sample) over HTTP on 0.0.0.0:$(PORT) (make sample=example run-sample)
	cd $(SAMPLE_DIR) && exec "$$($(HATCH) env find default)/bin/python" bin/$$(ls bin | head -n 1) http --port $(PORT)

run-sample-oneshot: env  ## run samples/$(sample)'s first action once over stdin/stdout
	cd $(SAMPLE_DIR) && "$$($(HATCH) env find default)/bin/python" bin/$$(ls bin | head -n 1) run < messages/say_hello.json

bench: env  ## import, one-shot, HTTP and tracing figures against the reference 6.6.1 (needs wrk)
	command -v wrk >/dev/null || apt-get install -y -q wrk
	"$$($(HATCH) env find default)/bin/python" bench/core_bench.py
	"$$($(HATCH) env find default)/bin/python" bench/http_bench.py
	"$$($(HATCH) env find default)/bin/python" bench/tracing_bench.py
	"$$($(HATCH) env find default)/bin/python" bench/hostile_bench.py
	"$$($(HATCH) env find default)/bin/python" bench/payload_bench.py

compat: env  ## run public plugins' unit tests against our packages (needs ICP_MIRROR); names the failures that compare preset wording
	@mkdir -p .work
	rm -f .work/compat.json; ../shared/compat/run.sh ./packages/runtime-core,./packages/runtime-helpers,./packages/runtime-aws,./packages/runtime-tracing @open -v --json .work/compat.json; rc=$$?; \
	  if [ -f .work/compat.json ]; then $(PYTHON) tools/preset_wording.py --compat-json .work/compat.json; else exit $$rc; fi

compat-images:  ## build public plugins' own Dockerfiles on the slim image and run them (needs ICP_MIRROR, make image-test first)
	docker/public-plugin-images.sh

.PHONY: compat-legacy
compat-legacy: env  ## KOMAND-era public plugins on our wheels: imports, info, sample per step (needs ICP_MIRROR; JOBS=1|2)
	"$$($(HATCH) env find default)/bin/python" packages/runtime-komand/compat/compat_legacy.py -j $(or $(JOBS),1) $(COMPAT_LEGACY_ARGS)

build: $(HATCH)  ## build every distribution into dist/
	$(HATCH) build --all

clean:
	rm -rf dist .pytest_cache bench/.work

# --- container images (docker/README.md) ---
DOCKERFILE ?= python-3
IMAGE_PYTHON ?= 3.13
BASE_IMAGE ?=

.PHONY: build-image image-test

build-image: $(HATCH)  ## build the base image docker/$(DOCKERFILE) as icon-runtime:$(DOCKERFILE) (DOCKERFILE=python-3-slim, IMAGE_PYTHON=3.13, BASE_IMAGE=...)
	@test -f docker/$(DOCKERFILE)/Dockerfile || { echo "no docker/$(DOCKERFILE)/Dockerfile"; exit 2; }
	docker/wheelhouse.sh $(IMAGE_PYTHON) $(if $(findstring slim,$(DOCKERFILE)),slim,alpine)
	DOCKER_BUILDKIT=1 docker build --platform linux/amd64 \
	  $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE),--build-arg BASE_IMAGE=$(if $(findstring slim,$(DOCKERFILE)),python:$(IMAGE_PYTHON)-slim-bookworm,python:$(IMAGE_PYTHON)-alpine)) \
	  -f docker/$(DOCKERFILE)/Dockerfile -t icon-runtime:$(DOCKERFILE) docker
	rm -rf docker/wheelhouse

image-test: $(HATCH)  ## lint the Dockerfiles, build the slim and sample images on a local Debian base and drive the plugin container
	docker/image-test.sh

# --- Kubernetes (deploy/helm/icon-plugin; README "Running on Kubernetes") ---
.PHONY: k8s-check k8s-e2e

k8s-check:  ## offline chart checks: helm lint/template (1.20 + current), kubernetes-validate, checkov, tests/k8s
	deploy/helm/k8s-check.sh

k8s-e2e:  ## live test on a one-node Kubernetes 1.20 in a network namespace (builds and caches the binaries once)
	deploy/e2e/k8s-e2e.sh

# --- reliability suite (reliability/run.py; issue 8) ---
.PHONY: reliability

reliability: $(HATCH)  ## fuzzing, canary secrets, soak and fault injection against the sample plugin (RELIABILITY_SOAK_SECONDS=120)
	$(HATCH) env create reliability
	"$$($(HATCH) env find reliability)/bin/python" reliability/run.py

.PHONY: compat-check
compat-check:  ## run bin/<plugin> check (icon-runtime-testing) over the open compatibility list (needs ICP_MIRROR)
	$(PYTHON) packages/runtime-testing/compat_check.py

# --- installs and migration (issue 17) ---
.PHONY: install-matrix openapi-corpus

install-matrix: $(HATCH)  ## fresh-venv installs of the meta-package and each distribution: Python 3.11-3.13 x oldest/newest pip + uv, then pip check
	$(PYTHON) bench/install_matrix.py

openapi-corpus: $(HATCH)  ## build and validate (openapi-spec-validator) the OpenAPI document of every public plugin (needs ICP_MIRROR)
	@test -n "$$ICP_MIRROR" || { echo "set ICP_MIRROR to the git dir of rapid7/insightconnect-plugins"; exit 2; }
	$(HATCH) env create http
	"$$($(HATCH) env find http)/bin/python" tools/openapi_corpus.py
