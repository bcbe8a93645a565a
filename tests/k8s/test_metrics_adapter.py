"""The chart's custom-metrics adapter as shipped (its ConfigMap) with the pair the chart generates, run as
a real process on 127.0.0.1: silent TCP clients must not stop it answering, and the APIService's
caBundle must verify the certificate it serves for the Service's DNS name.

Run by `make k8s-check`; skipped like test_chart.py when no helm binary is found.
"""

from __future__ import annotations

import base64
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "icon-plugin"
CI_VALUES = REPO / "deploy" / "helm" / "ci-values.yaml"
ADAPTER = "rel-icon-plugin-metrics-adapter"
DNS_NAME = f"{ADAPTER}.plugins.svc"


def _helm() -> str | None:
    for candidate in (os.environ.get("HELM"), str(REPO / ".venv-k8s" / "bin" / "helm"), shutil.which("helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


HELM = _helm()
pytestmark = pytest.mark.skipif(HELM is None, reason="helm is not installed (make k8s-check installs it)")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    """adapter.py, tls.crt and tls.key as the chart renders them, and the APIService's CA."""
    home = tmp_path_factory.mktemp("helm")
    env = {**os.environ, **{f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")}}
    command = [HELM, "template", "rel", str(CHART), "--namespace", "plugins", "-f", str(CI_VALUES)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=True)
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and "adapter.py" in d.get("data", {})]
    (secret,) = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == f"{ADAPTER}-tls"]
    (api,) = [d for d in docs if d["kind"] == "APIService"]
    folder = tmp_path_factory.mktemp("adapter")
    files: dict[str, Path | str] = {"ca": base64.b64decode(api["spec"]["caBundle"]).decode()}
    for name, text in (
        ("adapter.py", config["data"]["adapter.py"]),
        ("tls.crt", base64.b64decode(secret["data"]["tls.crt"]).decode()),
        ("tls.key", base64.b64decode(secret["data"]["tls.key"]).decode()),
    ):
        (folder / name).write_text(text)
        files[name] = folder / name
    return files


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def adapter(shipped: dict[str, Path | str], request: pytest.FixtureRequest) -> Iterator[int]:
    """Starts the adapter with the environment the test's `adapter_env` marker gives; yields its port."""
    port = _free_port()
    marker = request.node.get_closest_marker("adapter_env")
    env = {
        **os.environ,
        "PORT": str(port),
        "BIND": "127.0.0.1",
        "TLS_CERT": str(shipped["tls.crt"]),
        "TLS_KEY": str(shipped["tls.key"]),
        **(marker.kwargs if marker else {}),
    }
    process = subprocess.Popen([sys.executable, str(shipped["adapter.py"])], env=env, stderr=subprocess.PIPE)
    try:
        # Ready once it logs that it serves (the socket listens by then). Not probed with a connection:
        # that would hold one of the connection slots a test counts.
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 20)
        line = process.stderr.readline().decode() if ready else ""
        assert "serving pods/" in line, line or "the adapter did not start"
        yield port
    finally:
        process.kill()
        process.wait(10)
        if process.stderr:
            process.stderr.close()


def _get(port: int, ca: str, path: str) -> tuple[int, bytes]:
    """One HTTPS GET that verifies the certificate against the CA, for the Service's DNS name."""
    context = ssl.create_default_context(cadata=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=DNS_NAME) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {DNS_NAME}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


@pytest.mark.adapter_env(HANDSHAKE_TIMEOUT="60")
def test_silent_connections_do_not_stop_it_answering(adapter: int, shipped: dict[str, Path | str]) -> None:
    silent = [socket.create_connection(("127.0.0.1", adapter), timeout=5) for _ in range(8)]
    try:
        time.sleep(0.2)  # all eight accepted and waiting in their handshakes
        for path in ("/apis/custom.metrics.k8s.io/v1beta1", "/readyz"):
            status, body = _get(adapter, str(shipped["ca"]), path)
            assert status == 200, body
        assert (
            b'"pods/http_requests_per_second"'
            in _get(adapter, str(shipped["ca"]), "/apis/custom.metrics.k8s.io/v1beta1")[1]
        )
        # the silent ones are still open: they were not dropped to make room
        assert not any(_closed_by_peer(s, 0.05) for s in silent)
    finally:
        for s in silent:
            s.close()


@pytest.mark.adapter_env(HANDSHAKE_TIMEOUT="1")
def test_a_silent_client_is_dropped_after_the_handshake_timeout(adapter: int, shipped: dict[str, Path | str]) -> None:
    with socket.create_connection(("127.0.0.1", adapter), timeout=5) as silent:
        assert _closed_by_peer(silent, 15)
    assert _get(adapter, str(shipped["ca"]), "/livez")[0] == 200


@pytest.mark.adapter_env(HANDSHAKE_TIMEOUT="60", IDLE_TIMEOUT="1")
def test_a_client_silent_after_the_handshake_is_dropped(adapter: int, shipped: dict[str, Path | str]) -> None:
    context = ssl.create_default_context(cadata=str(shipped["ca"]))
    with socket.create_connection(("127.0.0.1", adapter), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=DNS_NAME) as tls:
            tls.sendall(b"GET /readyz HTTP/1.1\r\n")  # and never the rest
            assert _closed_by_peer(tls, 15)


@pytest.mark.adapter_env(HANDSHAKE_TIMEOUT="60", MAX_CONNECTIONS="2")
def test_connections_past_the_cap_are_closed_not_queued_forever(adapter: int) -> None:
    held = [socket.create_connection(("127.0.0.1", adapter), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection(("127.0.0.1", adapter), timeout=5) as extra:
            assert _closed_by_peer(extra, 15)  # long before the 60 s handshake timeout of the held ones
        assert not any(_closed_by_peer(s, 0.05) for s in held)
    finally:
        for s in held:
            s.close()
