"""Helpers that run the sample plugin under a real gunicorn on 127.0.0.1 and talk to it over HTTP.

Every server is started by the test itself on a free port (``bin/icon_example http --bind
127.0.0.1 --port N``), its stderr is kept in a file for log assertions, and it is stopped with
SIGTERM (then SIGKILL) at the end. Nothing leaves the loopback interface.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "example"
MESSAGES = SAMPLE / "messages"
SECRET = "example-secret-key-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def message(name: str) -> dict[str, Any]:
    return json.loads((MESSAGES / f"{name}.json").read_text())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            sent = {"Content-Type": "application/json"} if data is not None else {}
            sent.update(headers or {})
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, body, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode


def start_server(
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    wait: bool = True,
    cwd: Path = SAMPLE,
) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "ICON_RUNTIME", "GUNICORN"))}
    env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
    env.pop("CPS_ENDPOINT", None)
    env.update(extra_env or {})
    log_path = tmp_path / f"server-{port}.log"
    command = [sys.executable, str(SAMPLE / "bin" / "icon_example"), "http", "--bind", "127.0.0.1", "--port", str(port)]
    command += list(args)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(port, process, log_path, env)
    if wait:
        wait_until_ready(server)
    return server


def wait_until_ready(server: Server, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if server.get("/api/v1/health/live", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    server.stop()
    raise AssertionError(f"the server did not answer within {timeout}s:\n{server.log()}")


def worker_pids(server: Server) -> list[int]:
    """The gunicorn workers of ``server`` (children of its master), from /proc."""
    path = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


@dataclass
class ProcessCost:
    """Peak RSS growth and CPU time of one process across a block (Linux /proc)."""

    pid: int
    rss_growth: int = 0
    cpu_seconds: float = 0.0
    _rss_before: int = 0
    _cpu_before: float = 0.0

    def _status_kib(self, field_name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field_name} in /proc/{self.pid}/status")

    def _cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> ProcessCost:
        # Reset the peak (VmHWM) to the current RSS, so the peak afterwards is this block's.
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self._rss_before = self._status_kib("VmRSS") * 1024
        self._cpu_before = self._cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rss_growth = self._status_kib("VmHWM") * 1024 - self._rss_before
        self.cpu_seconds = self._cpu() - self._cpu_before


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def post_raw(server: Server, path: str, chunks: Any, headers: dict[str, str], timeout: float = 60) -> Reply:
    """POST ``chunks`` (bytes pieces) as they are; a server that answers before reading everything
    (413 on the declared length) may close its side while we still send, so the reply is read anyway."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        try:
            sock.sendall(head.encode("latin-1"))
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        sock.close()


@contextlib.contextmanager
def local_http_server(handler: type) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with ``handler``; yields its base URL."""
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
