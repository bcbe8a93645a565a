"""Connection secrets never appear in a reply or a log line, including --debug request logging."""

from __future__ import annotations

import base64
import time

import pytest
from icon_http_testkit import SECRET, message

FORMS = (SECRET, base64.b64encode(f"token:{SECRET}".encode()).decode())


def leak(kind: str = "leak_secret") -> dict:
    msg = message("raise_error")
    msg["body"]["input"]["kind"] = kind
    return msg


@pytest.mark.parametrize("debug", [False, True])
def test_secret_absent_from_every_reply_and_log_line(fresh_server, debug: bool) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(args=("--debug",) if debug else ())
    replies = [
        server.post("/api/v1/actions/raise_error", leak()),
        server.post("/actions/raise_error", leak("none")),
        server.post("/api/v1/actions/raise_error", leak("value")),
        server.post("/api/v1/actions/raise_error/test", leak()),
        server.post("/api/v1/actions/say_goodbye", leak()),  # route mismatch: a server-built reply
        server.post("/api/v1/tasks/monitor_events", message("monitor_events")),
        server.post("/api/v1/connection/test", message("connection_test")),
    ]
    assert [reply.status for reply in replies] == [400, 200, 500, 200, 400, 200, 200]
    for reply in replies:
        for form in FORMS:
            assert form.encode() not in reply.body
    assert b"********" in replies[0].body
    time.sleep(0.3)
    log = server.log()
    if debug:
        assert "Request input" in log and "Request output" in log
    for form in FORMS:
        assert form not in log, f"{form} leaked into the log"


def test_a_connection_with_thousands_of_secrets_is_refused_with_a_400(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """Issue 16: 20k secret-looking values (under the JSON container limit) are not turned into a
    masking pattern; the request is refused before the step runs, with a JSON 400 that names the bound
    and echoes none of them."""
    server = fresh_server()
    msg = message("say_hello")
    msg["body"]["connection"]["extra"] = {f"k{i}": {"token": f"hostile-value-{i:06d}"} for i in range(20_000)}
    reply = server.post("/api/v1/actions/say_hello", msg)
    assert reply.status == 400
    body = reply.json()["body"]
    assert body["status"] == "error" and "more secret values than the runtime masks" in body["error"]
    assert b"hostile-value-" not in reply.body
    assert server.post("/api/v1/actions/say_hello", message("say_hello")).status == 200  # the worker is fine
