"""A step that logs through ``structlog.get_logger(...)`` directly, under a real gunicorn.

The sample's ``raise_error`` with ``kind=structlog`` imports structlog inside the step and logs three
lines carrying the connection secret (plain, in a URL, base64-encoded in a Basic header). Its lines
must land where the step logger's lines land: ``body.log`` and the console, masked, JSON in the cloud.
"""

from __future__ import annotations

import base64
import json
import time

import pytest
from icon_http_testkit import SECRET, message

FORMS = (SECRET, base64.b64encode(f"token:{SECRET}".encode()).decode())
STRUCTLOG_LINES = ("Direct structlog line", "Direct structlog formatted line", "Unnamed structlog line")
HEADERS = {"X-REQUEST-ID": "req-structlog", "X-IPIMS-ORGID": "org-1", "X-INTEGRATION-ID": "int-7"}


def structlog_step() -> dict:
    msg = message("raise_error")
    msg["body"]["input"]["kind"] = "structlog"
    return msg


def wait_for(server, text: str, timeout: float = 10) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never reached the server log:\n{server.log()}")


@pytest.mark.parametrize("path", ["/api/v1/actions/raise_error", "/actions/raise_error"])
def test_on_prem_structlog_lines_in_body_log_and_console_masked(fresh_server, path: str) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    for _ in range(2):  # the second request runs on an already configured structlog
        reply = server.post(path, structlog_step())
        assert reply.status == 200
        body = reply.json()["body"]
        assert body["output"] == {"result": "logged through structlog"}
        for line in STRUCTLOG_LINES:
            assert line in body["log"]
        assert "url=https://api.example.com/?key=********" in body["log"]
        assert "key=********" in body["log"] and "name_=clash" in body["log"]
        for form in FORMS:
            assert form not in reply.body.decode()
    log = wait_for(server, "Unnamed structlog line")
    console = [line for line in log.splitlines() if "structlog" in line]
    assert any(line.startswith("INFO") and "Direct structlog line" in line for line in console)
    assert any(line.startswith("WARNING") and "Direct structlog formatted line" in line for line in console)
    assert any(line.startswith("ERROR") and "Unnamed structlog line" in line for line in console)
    assert not any("[info     ]" in line for line in log.splitlines())  # structlog's own renderer
    for form in FORMS:
        assert form not in log


def test_cloud_structlog_lines_are_json_with_request_context_and_masked(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud", "CPS_ENDPOINT": ""})
    reply = server.post("/api/v1/actions/raise_error", structlog_step(), headers=HEADERS)
    assert reply.status == 200
    body = reply.json()["body"]
    for line in STRUCTLOG_LINES:
        assert line in body["log"]
    assert "req-structlog" not in body["log"]  # request context is for the console, not body.log
    log = wait_for(server, "Unnamed structlog line")
    records = []
    for line in log.splitlines():
        if line.strip():
            records.append(json.loads(line))  # every console line is JSON in the cloud
    direct = {r["message"]: r for r in records if r.get("message", "").startswith(("Direct structlog", "Unnamed"))}
    assert set(direct) == {
        "Direct structlog line",
        "Direct structlog formatted line, Authorization: Basic dG9rZW46********w==",
        "Unnamed structlog line",
    }
    first = direct["Direct structlog line"]
    assert first["level"] == "info" and first["logger"] == "plugin.example helpers"
    assert first["url"] == "https://api.example.com/?key=********"
    assert (first["request_id"], first["org_id"], first["int_id"]) == ("req-structlog", "org-1", "int-7")
    assert direct["Unnamed structlog line"]["key"] == "********"
    for form in FORMS:
        assert form not in log
