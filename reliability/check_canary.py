"""Check 3: canary secrets never come out: not in replies, log lines, trigger events or span attributes.

The connection's credential holds a marker with characters that every encoding changes (quote,
slash, plus, ampersand), so its plain, URL-encoded, JSON-escaped and base64 forms all differ. Every
step type and error path runs through the CLI and through the HTTP server (on-prem with ``--debug``,
and cloud mode with JSON logs), with tracing exported to a local OTLP receiver; HTTP requests also
carry the marker in the query string and in headers. Any form found anywhere is a leak.

A second part (issue 14, ``icon_canary_kit``) runs 16 concurrent clients, each with its own canary,
against the sample's ``leak_everywhere`` action under gunicorn 2 workers x 4 threads (on-prem and
cloud), then the same calls as one-shot CLI runs with triggers: secrets logged from executors and bare
threads, through helpers and ``requests`` failing with the secret in the URL, third-party loggers,
unrenderable log extras (``handleError``), output only the plugin's encoder renders, exceptions; every
reply, stdout, stderr, server log, ``/metrics``, trigger event and span string is searched.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, quote_plus

from _kit import BIN, MESSAGES, SAMPLE, Figure, OtlpReceiver, at_least, at_most, start_server
from icon_canary_kit import find_leaks, make_canaries, run_cli, run_http

MARKER = 'CanaryQ7"mark/er+91=z&k\\w'
KINDS = ["plugin", "api", "connection_test", "client", "server", "value", "system_exit", "keyboard_interrupt",
         "bad_output", "leak_secret", "none"]  # fmt: skip


def forms(secret: str) -> set[str]:
    """The marker as it could leak: plain, URL, JSON-escaped (once, twice), base64 at any alignment."""
    found = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json.dumps(secret)[1:-1],
             json.dumps(json.dumps(secret)[1:-1])[1:-1]}  # fmt: skip
    raw = secret.encode()
    for offset in range(3):
        for alphabet in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = alphabet(b"\0" * offset + raw).decode().rstrip("=")
            found.add(encoded[-(-8 * offset // 6) : (8 * (offset + len(raw))) // 6])
    found.add('Q7"mark')  # a distinctive piece of the plain form
    return {form for form in found if len(form) >= 6}


FORMS = forms(MARKER)


def leaks(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return [form for form in FORMS if form in text]


def _message(step: str, **input_changes) -> dict:
    message = json.loads((MESSAGES / f"{step}.json").read_text())
    message["body"]["connection"]["api_key"]["secretKey"] = MARKER
    message["body"].get("input", {}).update(input_changes)
    return message


def _messages(dispatcher_url: str) -> list[tuple[str, dict, bool]]:
    """(label, message, is_test) for every step type and error path."""
    out = [(f"raise_error:{kind}", _message("raise_error", kind=kind), False) for kind in KINDS]
    out += [(f"raise_error:{kind}:test", _message("raise_error", kind=kind), True) for kind in ("leak_secret", "none")]
    out += [
        ("say_hello", _message("say_hello"), False),
        ("say_hello:test", _message("say_hello"), True),
        ("say_hello:empty-name", _message("say_hello", name=""), False),
        ("say_goodbye", _message("say_goodbye"), False),
        ("monitor_events", _message("monitor_events"), False),
        ("monitor_events:negative-cursor", dict(_message("monitor_events")), False),
        ("monitor_events:test", _message("monitor_events"), True),
        ("connection_test", _message("connection_test"), True),
        ("emit_greeting:test", _message("emit_greeting"), True),
    ]
    out[-4][1]["body"]["state"] = {"cursor": -1}
    trigger = _message("emit_greeting", count=2, interval=0)
    trigger["body"]["dispatcher"]["url"] = dispatcher_url
    trigger["body"]["meta"]["triggerId"] = "canary-trigger"
    out.append(("emit_greeting:run", trigger, False))
    bad_connection = _message("say_hello")
    bad_connection["body"]["connection"]["greeting_prefix"] = 5  # connection fails its schema
    out.append(("say_hello:bad-connection", bad_connection, False))
    mismatch = _message("say_hello")
    mismatch["body"]["action"] = "say_goodbye"  # route mismatch over HTTP
    out.append(("say_hello:mismatch", mismatch, False))
    return out


class Dispatcher:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                outer.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _route(label: str, message: dict, is_test: bool) -> str:
    kind = message["type"].split("_")[0]
    if kind == "connection":
        return "/api/v1/connection/test"
    name = label.split(":")[0]
    segment = {"action": "actions", "task": "tasks", "trigger": "triggers"}[kind]
    return f"/api/v1/{segment}/{name}" + ("/test" if is_test else "")


def run(options) -> list[Figure]:
    check = "canary"
    work = Path(tempfile.mkdtemp(prefix="reliability-canary-"))
    receiver = OtlpReceiver()
    dispatcher = Dispatcher()
    found: dict[str, list[str]] = {}
    runs = {"cli": 0, "http": 0}

    def note(where: str, text: str | bytes) -> None:
        hit = leaks(text)
        if hit:
            found.setdefault(where, []).extend(hit)

    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PLUGIN_RUNTIME", "ICON_RUNTIME"))}
    base_env.update(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100",
                    ICON_RUNTIME_CACHE_DIR=str(work / "cache") + "/", ICON_RUNTIME_DISPATCH_TIMEOUT="5")  # fmt: skip
    for mode in ("on-prem", "cloud"):
        env = dict(base_env, **({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"} if mode == "cloud" else {}))
        for label, message, is_test in _messages(dispatcher.url):
            for debug in [False, True] if label in ("raise_error:leak_secret", "emit_greeting:run") else [False]:
                command = [sys.executable, str(BIN), *(["--debug"] if debug else []), "test" if is_test else "run"]
                proc = subprocess.run(command, input=json.dumps(message).encode(), capture_output=True, timeout=60,
                                      cwd=SAMPLE, env=env)  # fmt: skip
                runs["cli"] += 1
                note(f"cli/{mode}/{label}/stdout", proc.stdout)
                note(f"cli/{mode}/{label}/stderr", proc.stderr)
    for index, body in enumerate(dispatcher.bodies):
        note(f"trigger-event/{index}", body)

    headers = {"Authorization": f"Bearer {MARKER}", "X-Api-Key": quote(MARKER), "X-REQUEST-ID": "canary-req"}
    for mode, extra, args in (
        ("on-prem", {}, ("--debug", "--process-workers", "2")),
        ("cloud", {"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"}, ("--process-workers", "2")),
    ):
        env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url, "OTEL_BSP_SCHEDULE_DELAY": "100",
               "ICON_RUNTIME_CACHE_DIR": str(work / "cache") + "/", **extra}  # fmt: skip
        server = start_server(work, env, args)
        try:
            for label, message, is_test in _messages(dispatcher.url):
                if label == "emit_greeting:run":
                    continue  # HTTP has no trigger run route
                path = _route(label, message, is_test)
                if label.endswith("mismatch"):
                    path = "/api/v1/actions/say_goodbye"
                for suffix in ("", f"?api_key={quote_plus(MARKER)}"):
                    reply = server.post(path + suffix, message, headers=headers)
                    runs["http"] += 1
                    note(f"http/{mode}/{label}/reply", reply.body)
            for path in ("/api/v1/no/such/route", "/api/v1/actions/say_hello/extra"):
                reply = server.call("PUT", f"{path}?token={quote_plus(MARKER)}", b"{}", headers=headers)
                note(f"http/{mode}/{path}/reply", reply.body)
            time.sleep(1)
        finally:
            server.stop()
        note(f"http/{mode}/server-log", server.log())
    receiver.wait_for(1)
    time.sleep(1)
    spans = receiver.spans
    for span in spans:
        note(f"span/{span['name']}", span["text"])
    receiver.close()
    summary = "; ".join(f"{where}: {sorted(set(hit))[:2]}" for where, hit in list(found.items())[:6])
    return [
        at_least(check, "CLI runs (on-prem + cloud, every step type and error path)", runs["cli"], 40),
        at_least(check, "HTTP requests (on-prem --debug + cloud JSON logs)", runs["http"], 40),
        at_least(check, "spans received and searched", len(spans), 20),
        at_least(check, "trigger events received and searched", len(dispatcher.bodies), 2),
        at_most(check, "places where a marker form was found", len(found), 0, summary),
        *_concurrent_canaries(work),
    ]


#: Kinds of place searched by the concurrent part.
_PLACE_KINDS = (
    ("spans (server, step, outgoing requests)", "span"),
    ("replies (concurrent clients, encoder output, exceptions)", "reply"),
    ("server logs (threads, helpers, third-party loggers, handleError)", "server-log"),
    ("/metrics", "metrics"),
    ("one-shot stdout", "stdout"),
    ("one-shot stderr (threads, helpers, handleError)", "stderr"),
    ("trigger events", "trigger-event"),
)


def _place_kind(place: str) -> str:
    """``span`` for any exported span, else the last part of the place name (``.../reply``)."""
    if "/span/" in place:
        return "span"
    if "/trigger-event/" in place:
        return "trigger-event"
    return place.rsplit("/", 1)[1].replace("trigger-", "")


def _concurrent_canaries(work: Path) -> list[Figure]:
    check = "canary"
    canaries = make_canaries(16)
    places: dict[str, str] = {}
    problems: list[str] = []
    requests = spans = events = 0
    for cloud in (False, True):
        for outcome in (run_http(work, canaries, cloud), run_cli(work, canaries[:8], cloud)):
            places.update(outcome.places)
            problems += outcome.problems
            requests, spans, events = requests + outcome.requests, spans + outcome.spans, events + outcome.events
    found = find_leaks(places, canaries)
    reports = sum(text.count("its arguments are not shown") for text in places.values())
    figures = [
        at_least(check, "16 concurrent canaries: HTTP (2 workers x 4 threads) and one-shot calls", requests, 80),
        at_least(check, "16 concurrent canaries: places searched (every byte of each)", len(places), 150),
        at_least(check, "16 concurrent canaries: spans searched", spans, 64),
        at_least(check, "16 concurrent canaries: trigger events searched", events, 16),
        at_least(check, "16 concurrent canaries: unrenderable records reported by handleError", reports, 16),
        at_most(
            check,
            "16 concurrent canaries: body.log lines missing or from another call",
            len(problems),
            0,
            "; ".join(problems[:4]),
        ),  # fmt: skip
    ]
    for label, kind in _PLACE_KINDS:
        searched = [place for place in places if _place_kind(place) == kind]
        leaked = [place for place in searched if place in found]
        detail = "; ".join(f"{place}: {found[place][:2]}" for place in leaked[:3])
        figures.append(at_most(check, f"canary forms found in {len(searched)} {label}", len(leaked), 0, detail))
    return figures
