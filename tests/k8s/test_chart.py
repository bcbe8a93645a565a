"""Invariants of deploy/helm/icon-plugin, checked on `helm template` output for Kubernetes 1.20 and 1.33.

Run by `make k8s-check` (helm from deploy/k8s-tools.sh) and by `make test`, where the whole module is
skipped when no helm binary is found (HELM, .venv-k8s/bin/helm, or helm on PATH).
"""

from __future__ import annotations

import base64
import hashlib
import json
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


def render(
    version: str,
    *values: str,
    sets: tuple[str, ...] = (),
    set_json: tuple[str, ...] = (),
    set_file: tuple[str, ...] = (),
) -> list[dict]:
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "icon-k8s-test-helm"
    env = {**os.environ, **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
    command = [HELM, "template", "rel", str(CHART), "--namespace", "plugins", "--kube-version", version]
    for file in values:
        command += ["-f", file]
    for item in sets:
        command += ["--set", item]
    for item in set_json:
        command += ["--set-json", item]
    for item in set_file:  # name=<text>: the text goes through a file (for PEM and other multi-line values)
        name, _, text = item.partition("=")
        path = home / f"{name}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        command += ["--set-file", f"{name}={path}"]
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


def _http_env(docs: list[dict]) -> dict[str, dict]:
    return {e["name"]: e for e in http_deployment(docs)["spec"]["template"]["spec"]["containers"][0]["env"]}


def _http_rule(docs: list[dict]) -> dict:
    (policy,) = by_kind(docs, "NetworkPolicy")
    (rule,) = [r for r in policy["spec"]["ingress"] if {"port": 10001, "protocol": "TCP"} in r["ports"]]
    return rule


def test_network_policy_admits_only_the_release_namespace_by_default(default):
    _, docs = default
    (policy,) = by_kind(docs, "NetworkPolicy")
    assert policy["metadata"]["namespace"] == "plugins"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    # A peer with only a podSelector means "pods of the policy's own namespace"; a missing or empty
    # `from` would admit every source.
    assert _http_rule(docs)["from"] == [{"podSelector": {}}]


def test_network_policy_admits_exactly_the_sources_named():
    peers = '[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"orchestrator"}}}]'
    docs = render("1.33.0", sets=(), set_json=(f"networkPolicy.httpFrom={peers}",))
    assert _http_rule(docs)["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "orchestrator"}}}
    ]


def test_admin_endpoints_are_off_by_default(default):
    _, docs = default
    env = _http_env(docs)
    assert env["ICON_RUNTIME_ADMIN"]["value"] == "off"
    assert "ICON_RUNTIME_ADMIN_TOKEN" not in env and "ICON_RUNTIME_ADMIN_TOKEN_FILE" not in env
    assert int(env["ICON_RUNTIME_MAX_WORKERS"]["value"]) >= 1
    assert not [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-admin")]


def test_admin_on_requires_a_token_mounted_from_the_charts_secret():
    docs = render("1.33.0", sets=("http.admin.enabled=true",))
    env = _http_env(docs)
    assert env["ICON_RUNTIME_ADMIN"]["value"] == "on"
    assert "ICON_RUNTIME_ADMIN_TOKEN" not in env  # the token is a file, not a variable anyone can `describe`
    path = Path(env["ICON_RUNTIME_ADMIN_TOKEN_FILE"]["value"])
    pod = http_deployment(docs)["spec"]["template"]["spec"]
    (mount,) = [m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == str(path.parent)]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    (secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == volume["secret"]["secretName"]]
    assert volume["secret"]["items"] == [{"key": "token", "path": path.name}]
    token = base64.b64decode(secret["data"]["token"]).decode()
    assert len(token) >= 32 and token.isalnum()
    # a new random token per first install (an upgrade reads the existing one back with lookup)
    again = render("1.33.0", sets=("http.admin.enabled=true",))
    (other,) = [s for s in by_kind(again, "Secret") if s["metadata"]["name"] == secret["metadata"]["name"]]
    assert other["data"]["token"] != secret["data"]["token"]


def test_admin_token_from_an_existing_secret_as_a_variable():
    docs = render(
        "1.33.0",
        sets=(
            "http.admin.enabled=true",
            "http.admin.tokenFrom=env",
            "http.admin.existingSecret=ops-token",
            "http.admin.existingSecretKey=bearer",
        ),
    )
    env = _http_env(docs)
    assert env["ICON_RUNTIME_ADMIN_TOKEN"] == {
        "name": "ICON_RUNTIME_ADMIN_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "ops-token", "key": "bearer"}},
    }
    assert "ICON_RUNTIME_ADMIN_TOKEN_FILE" not in env
    assert not [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-admin")]


def test_no_token_value_is_ever_rendered_into_the_pod_spec():
    for tokens_from in ("file", "env"):
        docs = render("1.33.0", sets=("http.admin.enabled=true", f"http.admin.tokenFrom={tokens_from}"))
        (secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-admin")]
        token = base64.b64decode(secret["data"]["token"]).decode()
        assert token not in json.dumps(http_deployment(docs))


def _trigger_parts(docs: list[dict]) -> tuple[str, str, str]:
    """(annotation, message.json, salt) of the one trigger."""
    (sts,) = by_kind(docs, "StatefulSet")
    annotation = sts["spec"]["template"]["metadata"]["annotations"]["checksum/message"]
    (secret,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"] == sts["metadata"]["name"]]
    (salted,) = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-checksum-salt")]
    return annotation, secret["stringData"]["message.json"], base64.b64decode(salted["data"]["salt"]).decode()


def test_trigger_annotation_is_a_salted_checksum_that_reveals_nothing(full):
    _, docs = full
    annotation, message, salt = _trigger_parts(docs)
    (entry,) = yaml.safe_load(CI_VALUES.read_text())["triggers"]
    unsalted = {
        hashlib.sha256(text.encode()).hexdigest()
        for text in (
            message,
            json.dumps(entry, sort_keys=True, separators=(",", ":")),  # Go's toJson of the entry
            json.dumps(entry["connection"], sort_keys=True, separators=(",", ":")),
            json.dumps(json.loads(message), sort_keys=True, separators=(",", ":")),
        )
    }
    assert annotation not in unsalted
    assert len(salt) >= 32 and salt.isalnum()
    # It is derived from the content (so a changed message rolls the pod): sha256(salt \n message).
    assert annotation == hashlib.sha256(f"{salt}\n{message}".encode()).hexdigest()
    # And no annotation or label anywhere carries the connection's values.
    for doc in docs:
        meta = json.dumps([doc["metadata"].get("annotations"), doc.get("spec", {}).get("template", {})])
        assert "Hello" not in meta or doc["kind"] == "Secret"


def test_trigger_annotation_follows_the_message():
    first, _, _ = _trigger_parts(render("1.33.0", str(CI_VALUES)))
    second, _, _ = _trigger_parts(render("1.33.0", str(CI_VALUES), sets=("triggers[0].connection.greeting_prefix=Hi",)))
    assert first != second


def _adapter(docs: list[dict]) -> tuple[dict, dict, dict | None]:
    (deployment,) = [
        d
        for d in by_kind(docs, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "metrics-adapter"
    ]
    (api,) = by_kind(docs, "APIService")
    secrets = [s for s in by_kind(docs, "Secret") if s["metadata"]["name"].endswith("-metrics-adapter-tls")]
    return deployment, api, (secrets[0] if secrets else None)


def test_adapter_pair_is_kept_in_its_secret_and_rolls_the_adapter(full):
    _, docs = full
    deployment, api, secret = _adapter(docs)
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    # The CA is stored next to the certificate, which is what an upgrade reads back (lookup).
    assert secret["data"]["ca.crt"] == api["spec"]["caBundle"]
    cert = base64.b64decode(secret["data"]["tls.crt"]).decode()
    ca = base64.b64decode(secret["data"]["ca.crt"]).decode()
    expected = hashlib.sha256(f"{secret['metadata']['name']}\n{cert}\n{ca}".encode()).hexdigest()
    assert deployment["spec"]["template"]["metadata"]["annotations"]["checksum/tls"] == expected
    (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    template = (CHART / "templates" / "metrics-adapter.yaml").read_text()
    assert 'lookup "v1" "Secret" .Release.Namespace $secretName' in template


USER_CA = "-----BEGIN CERTIFICATE-----\nMIIBuserCA\n-----END CERTIFICATE-----\n"


def test_render_twice_with_a_supplied_pair_keeps_the_ca_and_the_checksum():
    sets = ("metricsAdapter.tls.existingSecret=adapter-serving",)
    renders = [
        render("1.33.0", str(CI_VALUES), sets=sets, set_file=(f"metricsAdapter.tls.caBundle={USER_CA}",))
        for _ in range(2)
    ]
    parts = []
    for docs in renders:
        deployment, api, secret = _adapter(docs)
        assert secret is None  # the user's Secret is used, none is generated
        (volume,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "tls"]
        assert volume["secret"]["secretName"] == "adapter-serving"
        assert base64.b64decode(api["spec"]["caBundle"]).decode() == USER_CA
        parts.append(
            (api["spec"]["caBundle"], deployment["spec"]["template"]["metadata"]["annotations"]["checksum/tls"])
        )
    assert parts[0] == parts[1]


def test_cert_manager_injects_the_ca():
    docs = render(
        "1.33.0",
        str(CI_VALUES),
        sets=(
            "metricsAdapter.tls.existingSecret=adapter-serving",
            "metricsAdapter.tls.certManagerCertificate=plugins/adapter-serving",
        ),
    )
    _, api, secret = _adapter(docs)
    assert secret is None and "caBundle" not in api["spec"]
    assert api["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == "plugins/adapter-serving"


def test_admin_and_tls_misconfigurations_fail_the_render():
    assert "maxWorkers" in render_fails("1.33.0", "http.maxWorkers=1", "http.processWorkers=2")
    assert "tokenFrom" in render_fails("1.33.0", "http.admin.tokenFrom=header")
    assert "existingSecret" in render_fails(
        "1.33.0", "metricsAdapter.enabled=true", "metricsAdapter.tls.certManagerCertificate=a/b"
    )
