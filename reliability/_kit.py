"""Shared pieces of the reliability suite: figures, servers, the sample plugin, an OTLP receiver.

Servers come from runtime-http's own test kit (``icon_http_testkit``): the sample plugin under a
real gunicorn on a free port of 127.0.0.1, stderr kept in a file. Nothing leaves the loopback.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "packages" / "runtime-http" / "tests"))

from icon_http_testkit import (  # noqa: E402
    MESSAGES,
    SAMPLE,
    SECRET,
    Reply,
    Server,
    free_port,
    message,
    start_server,
    wait_until_ready,
)

BIN = SAMPLE / "bin" / "icon_example"
PYTHON = sys.executable

__all__ = [
    "BIN", "MESSAGES", "PYTHON", "REPO", "SAMPLE", "SECRET", "Figure", "OtlpReceiver", "Reply", "Server",
    "free_port", "message", "metric_total", "rss_kb", "start_server", "wait_until_ready", "worker_pids",
]  # fmt: skip


@dataclass
class Figure:
    """One line of the report: ``check | figure | bound | ok/FAIL``."""

    check: str
    name: str
    value: Any
    bound: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        text = f"{self.check} | {self.name} = {self.value} | {self.bound} | {'ok' if self.ok else 'FAIL'}"
        return text + (f" | {self.detail}" if self.detail and not self.ok else "")


def at_most(check: str, name: str, value: float, bound: float, detail: str = "", unit: str = "") -> Figure:
    return Figure(check, name, f"{value}{unit}", f"<= {bound}{unit}", value <= bound, detail)


def at_least(check: str, name: str, value: float, bound: float, detail: str = "", unit: str = "") -> Figure:
    return Figure(check, name, f"{value}{unit}", f">= {bound}{unit}", value >= bound, detail)


def worker_pids(master_pid: int) -> list[int]:
    """Children of the gunicorn master (its workers), from /proc."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == master_pid:
            pids.append(int(entry))
    return sorted(pids)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


_METRIC = re.compile(r"^icon_runtime_requests_total\{([^}]*)\}\s+([0-9.e+]+)$", re.M)


def metric_total(server: Server) -> float:
    """Sum of ``icon_runtime_requests_total`` over every label set."""
    text = server.get("/metrics").body.decode()
    return sum(float(value) for _, value in _METRIC.findall(text))


class OtlpReceiver:
    """OTLP/HTTP trace receiver on 127.0.0.1; keeps every span with its attributes and events as text."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                found = []
                for resource_spans in request.resource_spans:
                    resource = str(resource_spans.resource)
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            found.append({"name": span.name, "text": str(span) + resource})
                with outer.lock:
                    outer.spans.extend(found)
                out = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.spans) < count:
            time.sleep(0.1)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
