"""Canary secrets through real processes: every output of the sample plugin searched for every form.

Used by ``test_canaries.py`` and by ``reliability/check_canary.py``. Each client has its own canary
(a secret key with characters every encoding changes, and an integer PIN) and calls the sample's
``leak_everywhere`` action, which logs the secret from the request thread, a ``ThreadPoolExecutor`` and
a bare ``threading.Thread``, through third-party loggers (one with a handler the plugin added), through
a helper and ``requests`` call that fail against a real local server with the secret in the URL, in a
log extra that cannot be rendered, in output only the plugin's encoder renders, and in an exception.
What comes out (replies, stdout, stderr, the server log, ``/metrics``, trigger events, exported spans)
is collected as ``places`` (name -> text) and searched for every form of every canary.

The forms are written out here independently of the runtime's masker, so a form the masker forgets
is a leak found, not a leak agreed on.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

from icon_http_testkit import SAMPLE, Server, message, start_server

BIN = SAMPLE / "bin" / "icon_example"
MASK = "********"
#: Forms shorter than this could appear by chance (they are masked, but searching for them would
#: report noise such as a timestamp that happens to hold a PIN's digits).
MIN_SEARCHED = 6


@dataclass(frozen=True)
class Canary:
    tag: str
    secret: str
    pin: int


def make_canaries(count: int) -> list[Canary]:
    """``count`` distinct canaries; each secret has ``/ + = & "`` and a space, so every form differs."""
    return [
        Canary(f"client{index:02d}", f'cAn{index:02d}{secrets.token_hex(5)}/Z+q="w&k x', 831_000_000 + 7919 * index)
        for index in range(count)
    ]


def _base64_cores(raw: bytes) -> set[str]:
    cores = set()
    for offset in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * offset + raw).decode().rstrip("=")
            cores.add(encoded[-(-8 * offset // 6) : (8 * (offset + len(raw))) // 6])
    return cores


def forms(canary: Canary) -> set[str]:
    """Every form the runtime promises to mask, written independently of its masker."""
    secret = canary.secret
    raw = secret.encode()
    url = {quote(secret, safe=""), quote(secret), quote_plus(secret)}
    found = {secret, str(canary.pin), raw.hex(), raw.hex().upper(), json.dumps(secret)[1:-1]}
    found |= url | {re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in url}
    found.add(json.dumps(json.dumps(secret)[1:-1])[1:-1])
    found |= _base64_cores(raw)
    found.add(secret[:12])  # a distinctive piece of the plain form (index and random part)
    return {form for form in found if len(form) >= MIN_SEARCHED}


def find_leaks(places: dict[str, str], canaries: list[Canary]) -> dict[str, list[str]]:
    """place -> the canary forms found in it (empty when nothing leaked)."""
    wanted = [(canary.tag, form) for canary in canaries for form in forms(canary)]
    found: dict[str, list[str]] = {}
    for place, text in places.items():
        hits = [f"{tag}:{form}" for tag, form in wanted if form in text]
        if hits:
            found[place] = hits
    return found


class FailingServer:
    """A real local HTTP server that answers 500 to everything (the helper's failing upstream)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Recorder:
    """A real local HTTP server that keeps every POST body (trigger events, OTLP exports)."""

    def __init__(self, path: str) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                outer.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _any_value_texts(value: Any) -> list[str]:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return [value.string_value]
    if kind == "bytes_value":
        return [value.bytes_value.decode("utf-8", "replace")]
    if kind == "array_value":
        return [text for item in value.array_value.values for text in _any_value_texts(item)]
    if kind == "kvlist_value":
        return [t for kv in value.kvlist_value.values for t in [kv.key, *_any_value_texts(kv.value)]]
    return [str(getattr(value, kind))] if kind else []


def span_texts(bodies: list[bytes]) -> list[tuple[str, str]]:
    """(span name, every string the span carries: name, attributes, events, links, status)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    texts = [span.name, span.status.message]
                    attribute_lists = [span.attributes, *(e.attributes for e in span.events)]
                    attribute_lists += [link.attributes for link in span.links]
                    texts += [event.name for event in span.events]
                    for attributes in attribute_lists:
                        for kv in attributes:
                            texts += [kv.key, *_any_value_texts(kv.value)]
                    spans.append((span.name, "\n".join(texts)))
    return spans


def leak_message(canary: Canary, url: str, fail: bool) -> dict[str, Any]:
    msg = message("leak_everywhere")
    msg["body"]["connection"]["api_key"]["secretKey"] = canary.secret
    msg["body"]["connection"]["pin"] = canary.pin
    msg["body"]["input"] = {"tag": canary.tag, "url": url, "fail": fail}
    return msg


#: Lines every call's own body.log must hold, masked (from the request thread and from its threads).
OWN_LINES = ("request-thread plain: ********", "executor-a: ********", "executor-b: ********", "bare-thread: ********")


def log_problems(canary: Canary, log: str, canaries: list[Canary]) -> list[str]:
    """What is wrong with one reply's body.log: a missing own line, or another client's line."""
    problems = [f"{canary.tag}: missing '{line}'" for line in OWN_LINES if f"{canary.tag} {line}" not in log]
    problems += [
        f"{canary.tag}: holds a line of {other.tag}" for other in canaries if other.tag in log and other != canary
    ]
    return problems


@dataclass
class Outcome:
    places: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    requests: int = 0
    spans: int = 0
    events: int = 0


def _spans_into(outcome: Outcome, prefix: str, receiver: Recorder) -> None:
    for index, (name, text) in enumerate(span_texts(receiver.bodies)):
        outcome.places[f"{prefix}/span/{index}/{name}"] = text
        outcome.spans += 1


def run_http(
    tmp: Path, canaries: list[Canary], cloud: bool, rounds: int = 2, extra_env: dict[str, str] | None = None
) -> Outcome:
    """16 concurrent clients (one per canary) against gunicorn with 2 workers x 4 threads."""
    outcome = Outcome()
    upstream, receiver = FailingServer(), Recorder("/v1/traces")
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100", **(extra_env or {})}
    if cloud:
        env["PLUGIN_RUNTIME_ENVIRONMENT"] = "cloud"
    mode = "cloud" if cloud else "on-prem"
    server = start_server(tmp, env, ("--process-workers", "2", "--threads", "4"))
    try:

        def client(canary: Canary) -> None:
            for round_ in range(rounds):
                fail = round_ % 2 == 1
                path = f"/api/v1/actions/leak_everywhere?apikey={quote_plus(canary.secret)}"
                headers = {"Authorization": f"Bearer {canary.secret}", "X-REQUEST-ID": canary.tag}
                reply = server.post(path, leak_message(canary, upstream.url, fail), headers=headers)
                outcome.places[f"http/{mode}/{canary.tag}/{round_}/reply"] = reply.body.decode(errors="replace")
                outcome.requests += 1
                expected = 500 if fail else 200
                if reply.status != expected:
                    outcome.problems.append(f"{canary.tag}: status {reply.status}, expected {expected}")
                    continue
                outcome.problems += log_problems(canary, reply.json()["body"]["log"], canaries)

        with ThreadPoolExecutor(len(canaries)) as pool:
            list(pool.map(client, canaries))
        outcome.places[f"http/{mode}/metrics"] = server.get("/metrics").body.decode(errors="replace")
        time.sleep(0.5)  # the batch span processors export every 100 ms
    finally:
        server.stop()
        upstream.close()
    outcome.places[f"http/{mode}/server-log"] = server.log()
    receiver.close()
    _spans_into(outcome, f"http/{mode}", receiver)
    return outcome


def _cli(env: dict[str, str], msg: dict[str, Any], command: str = "run") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, str(BIN), command],
        input=json.dumps(msg).encode(),
        capture_output=True,
        timeout=60,
        cwd=SAMPLE,
        env=env,
    )


def run_cli(tmp: Path, canaries: list[Canary], cloud: bool, extra_env: dict[str, str] | None = None) -> Outcome:
    """The same calls as one-shot CLI runs (a few at a time), plus a trigger run delivering events."""
    outcome = Outcome()
    upstream, receiver, dispatcher = FailingServer(), Recorder("/v1/traces"), Recorder("/events")
    mode = "cloud" if cloud else "on-prem"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PLUGIN_RUNTIME", "ICON_RUNTIME"))}
    env.update(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100",
               ICON_RUNTIME_CACHE_DIR=f"{tmp}/cache-{mode}/")  # fmt: skip
    env.update(extra_env or {})
    if cloud:
        env["PLUGIN_RUNTIME_ENVIRONMENT"] = "cloud"

    def one(canary: Canary) -> None:
        fail = canary.pin % 2 == 1
        proc = _cli(env, leak_message(canary, upstream.url, fail))
        outcome.requests += 1
        outcome.places[f"cli/{mode}/{canary.tag}/stdout"] = proc.stdout.decode(errors="replace")
        outcome.places[f"cli/{mode}/{canary.tag}/stderr"] = proc.stderr.decode(errors="replace")
        try:
            log = json.loads(proc.stdout)["body"]["log"]
        except (ValueError, KeyError, TypeError):
            outcome.problems.append(f"{canary.tag}: no reply on stdout ({proc.returncode})")
            return
        outcome.problems += log_problems(canary, log, canaries)
        trigger = message("emit_greeting")
        trigger["body"]["connection"]["api_key"]["secretKey"] = canary.secret
        trigger["body"]["connection"]["pin"] = canary.pin
        trigger["body"]["connection"]["greeting_prefix"] = f"Hi {canary.secret}"
        trigger["body"]["input"].update(count=2, interval=0, name=canary.secret)
        trigger["body"]["dispatcher"] = {"url": dispatcher.url}
        trigger["body"]["meta"] = {"triggerId": f"trigger-{canary.tag}"}
        proc = _cli(env, trigger)
        outcome.places[f"cli/{mode}/{canary.tag}/trigger-stdout"] = proc.stdout.decode(errors="replace")
        outcome.places[f"cli/{mode}/{canary.tag}/trigger-stderr"] = proc.stderr.decode(errors="replace")

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, canaries))
        time.sleep(0.3)
    finally:
        upstream.close()
        receiver.close()
        dispatcher.close()
    for index, body in enumerate(dispatcher.bodies):
        outcome.places[f"cli/{mode}/trigger-event/{index}"] = body.decode(errors="replace")
        outcome.events += 1
    _spans_into(outcome, f"cli/{mode}", receiver)
    return outcome


__all__ = ["Canary", "Outcome", "Server", "find_leaks", "forms", "make_canaries", "run_cli", "run_http"]
