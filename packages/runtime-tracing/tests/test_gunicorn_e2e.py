"""The full path: ``bin/<plugin> http`` under gunicorn, cloud mode, endpoint from CPS, OTLP export.

Needs icon-runtime-http (``insightconnect_plugin_runtime.server``); skipped until it is installed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

try:
    import insightconnect_plugin_runtime.server  # noqa: F401

    HTTP_AVAILABLE = True
except ImportError:
    HTTP_AVAILABLE = False

TRACE_ID = "c0ffee0000000000000000000000beef"
CALLER_SPAN = "00000000000000aa"

PLUGIN_SCRIPT = textwrap.dedent(
    """
    import sys
    import insightconnect_plugin_runtime as icpr

    class Connection(icpr.Connection):
        def __init__(self):
            super().__init__(input=None)

        def connect(self, params=None):
            pass

    class Echo(icpr.Action):
        def __init__(self):
            super().__init__("echo", "Echo", icpr.Input({"type": "object"}), icpr.Output({"type": "object"}))

        def run(self, params=None):
            return {"echo": params.get("text")}

    class Tiny(icpr.Plugin):
        def __init__(self):
            super().__init__(name="Tiny Plugin", vendor="rapid7", version="0.0.1", description="t",
                             connection=Connection())
            self.add_action(Echo())

    icpr.CLI(Tiny()).run()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not HTTP_AVAILABLE, reason="icon-runtime-http (insightconnect_plugin_runtime.server) missing")
def test_gunicorn_http_end_to_end_exports_server_and_step_spans(tmp_path, otlp_receiver, otlp_decode, make_recorder):
    """CPS hands out the endpoint; the worker's post_fork starts export; spans nest per request."""
    import requests

    endpoint = f"{otlp_receiver.url}/v1/traces"
    cps_answer = json.dumps({"plugins": {}, "otel_tracing": endpoint}).encode()
    cps = make_recorder(respond=lambda body: (200, "application/json", cps_answer))
    script = tmp_path / "tiny_plugin"
    script.write_text(PLUGIN_SCRIPT)
    port = free_port()
    env = {
        **os.environ,
        "PLUGIN_RUNTIME_ENVIRONMENT": "cloud",
        "CPS_ENDPOINT": f"{cps.url}/config",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    env.pop("otel_tracing", None)
    args = [sys.executable, str(script), "http", "--port", str(port), "--process_workers", "1"]
    server = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert server.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        message = {"type": "action_start", "version": "v1", "body": {"action": "echo", "input": {"text": "x"}}}
        headers = {"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"}
        response = requests.post(f"http://127.0.0.1:{port}/api/v1/actions/echo", json=message, headers=headers)
        assert response.status_code == 200

        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            spans = [span for span in otlp_decode(otlp_receiver) if span["trace_id"] == TRACE_ID]
            if any(span["name"] == "action echo" for span in spans) and len(spans) >= 2:
                break
            time.sleep(0.2)
        step = next(span for span in spans if span["name"] == "action echo")
        request_span = next(span for span in spans if span["parent_span_id"] == CALLER_SPAN)
        assert step["parent_span_id"] == request_span["span_id"]
        assert step["resource"]["service.name"] == "pif.tiny_plugin"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=40)
        except subprocess.TimeoutExpired:
            server.kill()
