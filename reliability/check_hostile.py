"""Check 7: closed by default (issue 16): hostile bodies, admin endpoints, URL helper redirects.

* Hostile bodies against one worker at the default limits: each gets a JSON 4xx, and the worker's
  peak RSS growth and CPU time stay within the budgets of ``tests/test_hostile_bodies.py``.
* Admin endpoints with a token and a ceiling: refused without / with a wrong token (401), accepted
  with it, ``workers/add`` past the ceiling 409; with ``ICON_RUNTIME_ADMIN=off`` they are 404.
* ``helper.open_url`` redirected to a second loopback server with ``Authorization`` set: the second
  server sees the header 0 times; ``file://`` refused; a redirect loop stops after 10 redirects.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _kit import Figure, at_most, message, start_server
from icon_http_testkit import ProcessCost, post_raw, wait_for
from icon_http_testkit import worker_pids as children

from insightconnect_plugin_runtime.api._limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_CONTAINERS,
    DEFAULT_MAX_JSON_VALUES,
)

HELLO = "/api/v1/actions/say_hello"
MIB = 1024 * 1024
TOKEN = "reliability-admin-token-5f1c"


def _wrong_type(size: int, extra: dict[str, Any] | None = None) -> bytes:
    template = message("say_hello")
    template["type"] = "trigger_start"
    template["body"]["input"] = {"name": "@", **(extra or {})}
    text = json.dumps(template, separators=(",", ":")).encode()
    return text.replace(b'"@"', b'"' + b"A" * (size - len(text) + 1) + b'"')


def _hostile_bodies() -> list[tuple[str, bytes | None, int, int]]:
    """(name, body or None for a declared over-limit length, expected status, RSS budget)."""
    secrets = message("say_hello")
    secrets["body"]["connection"].update({f"password_{i}": f"hunter-{i:06d}" for i in range(100_000)})
    secrets["body"]["input"] = {}
    objects = DEFAULT_MAX_JSON_CONTAINERS - 10
    members = (DEFAULT_MAX_JSON_VALUES - 50) // objects - 1
    rows = [{f"k{m}": f"v{i}-{m}" for m in range(members)} for i in range(objects)]
    half = DEFAULT_MAX_JSON_CONTAINERS // 2
    return [
        ("deep nesting", b"[" * half + b"]" * half, 400, 64 * MIB),
        ("1M empty arrays", b"[" + b"[]," * 999_999 + b"[]]", 413, 64 * MIB),
        ("too many values", b"[" + b"1," * DEFAULT_MAX_JSON_VALUES + b"1]", 413, 64 * MIB),
        ("100k secret-looking keys", json.dumps(secrets).encode(), 400, 64 * MIB),
        (
            "just under the body limit",
            _wrong_type(DEFAULT_MAX_BODY_BYTES),
            400,
            5 * DEFAULT_MAX_BODY_BYTES // 2 + 16 * MIB,
        ),
        (
            "worst accepted",
            _wrong_type(DEFAULT_MAX_BODY_BYTES, {"rows": rows}),
            400,
            3 * DEFAULT_MAX_BODY_BYTES + 16 * MIB,
        ),
        ("declared length over the limit", None, 413, 16 * MIB),
    ]


def _hostile(check: str, work: Path) -> list[Figure]:
    figures: list[Figure] = []
    server = start_server(work, {}, ("--process-workers", "1", "--threads", "2"))
    try:
        [pid] = children(server)
        server.post(HELLO, message("say_hello"))
        for name, body, expected, budget in _hostile_bodies():
            started = time.monotonic()
            with ProcessCost(pid) as cost:
                if body is None:
                    headers = {"Content-Type": "application/json", "Content-Length": str(DEFAULT_MAX_BODY_BYTES + 1)}
                    reply = post_raw(server, HELLO, iter([b"A" * 65536]), headers)
                else:
                    reply = server.post(HELLO, body, timeout=60)
            elapsed = time.monotonic() - started
            is_json = reply.headers.get("content-type", "").startswith("application/json")
            figures.append(
                Figure(
                    check, f"{name}: status", reply.status, f"== {expected}, JSON", reply.status == expected and is_json
                )
            )
            figures.append(
                at_most(
                    check, f"{name}: worker RSS growth", round(cost.rss_growth / MIB, 1), budget // MIB, unit=" MiB"
                )
            )
            figures.append(at_most(check, f"{name}: worker CPU", round(cost.cpu_seconds * 1000), 10_000, unit=" ms"))
            figures.append(at_most(check, f"{name}: elapsed", round(elapsed, 2), 60, unit=" s"))
        figures.append(
            Figure(check, "worker after the bodies", children(server), f"== [{pid}]", children(server) == [pid])
        )
    finally:
        server.stop()
    return figures


def _admin(check: str, work: Path) -> list[Figure]:
    figures: list[Figure] = []
    server = start_server(work, {"ICON_RUNTIME_ADMIN_TOKEN": TOKEN, "ICON_RUNTIME_MAX_WORKERS": "2"})
    off = start_server(work, {"ICON_RUNTIME_ADMIN": "off"})
    try:
        right = {"Authorization": f"Bearer {TOKEN}"}
        cases = [
            ("workers/add without a token", server.post("/api/v1/workers/add"), 401),
            (
                "workers/add with a wrong token",
                server.post("/api/v1/workers/add", headers={"Authorization": "Bearer x"}),
                401,
            ),
            ("admin/shutdown without a token", server.post("/api/v1/admin/shutdown"), 401),
            ("workers/add with the token", server.post("/api/v1/workers/add", headers=right), 200),
            ("workers/add past the ceiling", server.post("/api/v1/workers/add", headers=right), 409),
            ("ADMIN=off: workers/add", off.post("/api/v1/workers/add"), 404),
            ("ADMIN=off: admin/shutdown", off.post("/api/v1/admin/shutdown"), 404),
        ]
        for name, reply, expected in cases:
            is_json = reply.headers.get("content-type", "").startswith("application/json")
            figures.append(
                Figure(check, name, reply.status, f"== {expected}, JSON", reply.status == expected and is_json)
            )
        wait_for(lambda: len(children(server)) == 2)
        time.sleep(1.5)  # the master looks at its workers at least once a second: nothing more may appear
        figures.append(at_most(check, "workers after 2 adds past a ceiling of 2", len(children(server)), 2))
        figures.append(at_most(check, "admin token in the server log", server.log().count(TOKEN), 0))
    finally:
        server.stop()
        off.stop()
    return figures


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []
    location = ""

    def do_GET(self) -> None:  # noqa: N802
        type(self).seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", type(self).location)
        elif self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def _open_url(check: str, work: Path) -> list[Figure]:
    from insightconnect_plugin_runtime import helper

    first_handler = type("First", (_Recorder,), {"seen": []})
    second_handler = type("Second", (_Recorder,), {"seen": []})
    first = ThreadingHTTPServer(("127.0.0.1", 0), first_handler)
    second = ThreadingHTTPServer(("127.0.0.1", 0), second_handler)
    for server in (first, second):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    first_handler.location = f"http://127.0.0.1:{second.server_address[1]}/landing"
    figures: list[Figure] = []
    try:
        helper.open_url(
            f"http://127.0.0.1:{first.server_address[1]}/redirect", timeout=5, Authorization="Bearer tok", Cookie="c=1"
        ).close()
        sent = sum("authorization" in seen for seen in first_handler.seen)
        leaked = sum("authorization" in seen or "cookie" in seen for seen in second_handler.seen)
        figures.append(Figure(check, "open_url: Authorization sent to the first host", sent, "== 1", sent == 1))
        figures.append(at_most(check, "open_url: Authorization/Cookie seen by the redirect target", leaked, 0))
        secret = work / "local.txt"
        secret.write_text("local")
        try:
            helper.open_url(secret.as_uri())
            refused = False
        except helper.HelperError:
            refused = True
        figures.append(Figure(check, "open_url: file:// refused", refused, "== True", refused))
        first_handler.seen.clear()
        try:
            helper.open_url(f"http://127.0.0.1:{first.server_address[1]}/loop", timeout=5)
        except helper.HelperError:
            pass
        figures.append(at_most(check, "open_url: requests served for a redirect loop", len(first_handler.seen), 11))
    finally:
        first.shutdown()
        second.shutdown()
    return figures


def run(options) -> list[Figure]:
    check = "hostile"
    work = Path(tempfile.mkdtemp(prefix="reliability-hostile-"))
    return _hostile(check, work) + _admin("admin", work) + _open_url("open-url", work)
