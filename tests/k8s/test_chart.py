"""Invariants of deploy/helm/icon-plugin, checked on `helm template` output for Kubernetes 1.20 and 1.33.

Run by `make k8s-check` (helm from deploy/k8s-tools.sh) and by `make test`, where the whole module is
skipped when no helm binary is found (HELM, .venv-k8s/bin/helm, or helm on PATH).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "icon-plugin"
CI_VALUES = REPO / "deploy" / "helm" / "ci-values.yaml"
VERSIONS = ("1.20.2", "1.33.0")


def _helm() -> str | None:
    for candidate in (os.environ.get("HELM"), str(REPO / ".venv-k8s" / "bin" / "helm"), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = _helm()
pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed (make k8s-check installs it)")


def render(version: str, *values: str, sets: tuple[str, ...] = (), tmp: Path | None = None) -> list[dict]:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "icon-k8s-test-helm"
    env = {**os.environ, **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
    command = [HELM, "template", "rel", str(CHART), "--namespace", "plugins", "--kube-version", version]
    for file in values:
        command += ["-f", file]
    for item in sets:
        command += ["--set", item]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0:
        raise AssertionError(out.stderr)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def render_fails(version: str, *sets: str) -> str:
    with pytest.raises(AssertionError) as failure:
        render(version, sets=sets)
    return str(failure.value)


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.fixture(scope="module", params=VERSIONS)
def full(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(request.param, str(CI_VALUES))


@pytest.fixture(scope="module", params=VERSIONS)
def default(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def http_deployment(docs: list[dict]) -> dict:
    (deployment,) = [
        d for d in by_kind(docs, "Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "http"
    ]
    return deployment


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]


def test_api_versions_follow_the_cluster_version(full):
    version, docs = full
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    old = version.startswith("1.20")
    assert hpa["apiVersion"] == ("autoscaling/v2beta2" if old else "autoscaling/v2")
    assert pdb["apiVersion"] == ("policy/v1beta1" if old else "policy/v1")


def test_readiness_and_liveness_on_different_paths(full):
    _, docs = full
    container = http_deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    ready = container["readinessProbe"]["httpGet"]["path"]
    live = container["livenessProbe"]["httpGet"]["path"]
    assert ready == "/api/v1/health/ready" and live == "/api/v1/health/live"
    assert ready != live
    # The pod must leave the Service within the preStop sleep: readiness notices within period x threshold.
    probe = container["readinessProbe"]
    assert probe["periodSeconds"] * probe["failureThreshold"] < _prestop_seconds(container)


def _prestop_seconds(container: dict) -> int:
    pre = container["lifecycle"]["preStop"]
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    command = pre["exec"]["command"]
    assert command[0] == "sleep"
    return int(command[1])


def _arg(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_prestop_and_graceful_timeout_fit_in_the_grace_period(full):
    version, docs = full
    spec = http_deployment(docs)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    graceful = int(_arg(container["args"], "--graceful-timeout"))
    assert _prestop_seconds(container) + graceful < spec["terminationGracePeriodSeconds"]
    pre = container["lifecycle"]["preStop"]
    assert ("sleep" in pre) == (version >= "1.30")  # the kubelet's sleep action exists from 1.30 on


def test_admin_shutdown_delay_covers_readiness_detection(full):
    _, docs = full
    container = http_deployment(docs)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    probe = container["readinessProbe"]
    assert float(env["ICON_RUNTIME_SHUTDOWN_DELAY"]) > probe["periodSeconds"] * probe["failureThreshold"]


def test_rolling_update_never_drops_below_the_desired_count(full):
    _, docs = full
    strategy = http_deployment(docs)["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_hpa_on_requests_per_pod_with_the_adapter(full):
    _, docs = full
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    deployment = http_deployment(docs)
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert "replicas" not in deployment["spec"]  # the HPA owns the replica count
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] == "http_requests_per_second"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "2"}
    (api,) = by_kind(docs, "APIService")
    assert api["metadata"]["name"] == "v1beta1.custom.metrics.k8s.io" and api["spec"]["caBundle"]
    assert "insecureSkipTLSVerify" not in api["spec"]
    (cm,) = [c for c in by_kind(docs, "ConfigMap") if "adapter.py" in c["data"]]
    compile(cm["data"]["adapter.py"], "adapter.py", "exec")


def test_hpa_on_cpu_by_default(default):
    _, docs = default
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert not by_kind(docs, "APIService")


def test_pdb_selects_the_http_pods(full):
    _, docs = full
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    labels = http_deployment(docs)["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1


def test_trigger_is_a_single_replica_statefulset_with_a_persistent_checkpoint(full):
    _, docs = full
    (sts,) = by_kind(docs, "StatefulSet")
    assert sts["spec"]["replicas"] == 1
    # The trigger must not be PID 1 (it would ignore SIGTERM and hold the pod for the whole grace period).
    assert sts["spec"]["template"]["spec"]["shareProcessNamespace"] is True
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    mounts = {m["mountPath"]: m["name"] for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert mounts["/workspace/cache"] == claim["metadata"]["name"]
    env = {e["name"]: e["value"] for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ICON_RUNTIME_CACHE_DIR"] == "/workspace/cache"
    (svc,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == sts["spec"]["serviceName"]]
    assert svc["spec"]["clusterIP"] == "None"
    (secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == sts["metadata"]["name"]]
    message = yaml.safe_load(secret["stringData"]["message.json"])
    assert message["type"] == "trigger_start" and message["body"]["meta"]["triggerId"] == "greeting-1"


def test_every_container_is_non_root_with_a_read_only_root_and_writable_tmp(full):
    _, docs = full
    for workload in workloads(docs):
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, workload["metadata"]["name"]
            if workload["metadata"]["labels"]["app.kubernetes.io/component"] != "metrics-adapter":
                assert "/workspace/cache" in mounts


def test_every_container_has_requests_and_limits(full):
    _, docs = full
    for workload in workloads(docs):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= container["resources"][part].keys(), workload["metadata"]["name"]


def test_service_targets_the_http_port(full):
    _, docs = full
    deployment = http_deployment(docs)
    (svc,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == deployment["metadata"]["name"]]
    assert svc["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert all(len(p["name"]) <= 15 for p in ports)  # the API server's limit (schemas do not check it)


def test_digest_wins_over_the_tag():
    docs = render("1.33.0", sets=("image.digest=sha256:" + "a" * 64,))
    image = http_deployment(docs)["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "icon-runtime-example@sha256:" + "a" * 64


def test_misconfigurations_fail_the_render():
    assert "must exceed" in render_fails("1.33.0", "http.gracefulTimeout=40")
    assert "must differ" in render_fails("1.33.0", "http.readinessProbe.path=/api/v1/health/live")
    assert "autoscaling.metric" in render_fails("1.33.0", "autoscaling.metric=memory")
