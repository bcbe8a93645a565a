"""Cloud mode: request context in every log line, the config service (up, down, slow, garbage), metrics."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from icon_http_testkit import SECRET, free_port, message

CONFIG = {
    "plugins": {
        "example": {
            "*": {"page_size": 2, "monitor_events": {"lookback": "7d"}},
            "org-1": {"page_size": 1, "monitor_events": {"start_cursor": 4}},
        },
        "other": {"*": {"page_size": 99}},
    }
}
HEADERS = {"X-REQUEST-ID": "req-42", "X-IPIMS-ORGID": "org-1", "X-INTEGRATION-ID": "int-7"}


class ConfigService:
    """A tiny local config service whose behaviour each test chooses."""

    def __init__(self, body: bytes, status: int = 200, delay: float = 0.0) -> None:
        self.body, self.status, self.delay = body, status, delay
        self.hits = 0
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                service.hits += 1
                time.sleep(service.delay)
                self.send_response(service.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(service.body)))
                self.end_headers()
                self.wfile.write(service.body)

            def log_message(self, *args: object) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/config"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def config_service() -> Iterator[ConfigService]:
    service = ConfigService(json.dumps(CONFIG).encode())
    yield service
    service.close()


def cloud_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {"PLUGIN_RUNTIME_ENVIRONMENT": "cloud", "CPS_ENDPOINT": endpoint}
    env.update(extra)
    return env


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def test_cloud_request_context_custom_config_and_metrics(fresh_server, config_service: ConfigService) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(cloud_env(config_service.url))
    assert config_service.hits == 1
    # Org-level config (page_size 1) with the org's task config (start_cursor 4).
    task = server.post("/api/v1/tasks/monitor_events", message("monitor_events"), headers=HEADERS)
    assert task.status == 200
    assert [event["id"] for event in task.json()["body"]["output"]] == [5]
    # No org header: the global level only.
    task = server.post("/tasks/monitor_events", message("monitor_events"))
    assert [event["id"] for event in task.json()["body"]["output"]] == [1, 2]
    hello = server.post("/api/v1/actions/say_hello", message("say_hello"), headers=HEADERS)
    assert hello.status == 200
    failed = server.post(
        "/api/v1/actions/raise_error",
        {**message("raise_error"), "body": {**message("raise_error")["body"], "meta": {"shortOrgId": "org-1"}}},
        headers=HEADERS,
    )
    assert failed.status == 400
    metrics = failed.json()["body"]["metrics"]
    assert metrics["plugin"]["name"] == "Example" and metrics["organization_id"] == "org-1"
    time.sleep(0.2)
    lines = json_lines(server.log())
    greeting = [line for line in lines if line.get("message") == "Greeting World"]
    assert greeting, server.log()
    for line in greeting:
        assert line["request_id"] == "req-42" and line["org_id"] == "org-1" and line["int_id"] == "int-7"
        assert line["request_path"] == "/api/v1/actions/say_hello"
        assert line["level"] == "info"
    config_line = [line for line in lines if "Custom config" in line.get("message", "")]
    assert config_line and config_line[0]["request_path"] == "/api/v1/tasks/monitor_events"
    # Cloud consoles print only JSON (gunicorn's own lines included).
    non_json = [line for line in server.log().splitlines() if line.strip() and not line.startswith("{")]
    assert non_json == []
    # The admin shutdown endpoint does not exist in the cloud; the work tracker is off by default.
    assert server.post("/api/v1/admin/shutdown").status == 404
    assert server.get("/api/v1/admin/status").status == 404


def _startup_seconds(fresh_server, env: dict[str, str]):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    server = fresh_server(env)
    return server, time.monotonic() - started


BOUNDED = {"ICON_RUNTIME_CPS_ATTEMPTS": "3", "ICON_RUNTIME_CPS_TIMEOUT": "0.5", "ICON_RUNTIME_CPS_BACKOFF": "0.1"}


def test_config_service_down_is_logged_as_info_and_bounded(fresh_server) -> None:  # type: ignore[no-untyped-def]
    endpoint = f"http://127.0.0.1:{free_port()}/config"  # nothing listens there
    server, seconds = _startup_seconds(fresh_server, cloud_env(endpoint, **BOUNDED))
    assert seconds < 8
    lines = json_lines(server.log())
    refused = [line for line in lines if "refused the connection" in line.get("message", "")]
    assert len(refused) == 3 and all(line["level"] == "info" for line in refused)
    final = [line for line in lines if line.get("message", "").startswith("No task configuration")]
    assert final and final[0]["level"] == "error"
    # Tasks still run, with the message's own custom_config.
    msg = message("monitor_events")
    msg["body"]["custom_config"] = {"page_size": 2}
    reply = server.post("/api/v1/tasks/monitor_events", msg)
    assert reply.status == 200 and len(reply.json()["body"]["output"]) == 2


def test_config_service_slow_is_bounded(fresh_server) -> None:  # type: ignore[no-untyped-def]
    service = ConfigService(json.dumps(CONFIG).encode(), delay=3.0)
    try:
        env = cloud_env(service.url, **BOUNDED, ICON_RUNTIME_CPS_DEADLINE="1.5")
        server, seconds = _startup_seconds(fresh_server, env)
        assert seconds < 7
        errors = [line for line in json_lines(server.log()) if line.get("level") == "error"]
        assert any("timed out" in line["message"] for line in errors), server.log()
        assert server.post("/api/v1/actions/say_hello", message("say_hello")).status == 200
    finally:
        service.close()


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (b"<html>not json</html>", 200, "not JSON"),
        (b"[1, 2, 3]", 200, "not an object"),
        (b'{"plugins": "everything"}', 200, "'plugins'"),
        (b'{"error": "boom"}', 500, "500"),
    ],
)
def test_config_service_garbage_gives_a_clear_error(fresh_server, body: bytes, status: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    service = ConfigService(body, status=status)
    try:
        server, seconds = _startup_seconds(fresh_server, cloud_env(service.url, **BOUNDED))
        assert seconds < 8
        errors = [line["message"] for line in json_lines(server.log()) if line.get("level") == "error"]
        assert any(expected in message for message in errors), errors
        assert server.post("/api/v1/tasks/monitor_events", message("monitor_events")).status == 200
    finally:
        service.close()


def test_no_secret_in_cloud_replies_or_logs(fresh_server, config_service: ConfigService) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(cloud_env(config_service.url))
    msg = message("raise_error")
    msg["body"]["input"]["kind"] = "leak_secret"
    reply = server.post("/api/v1/actions/raise_error", msg, headers=HEADERS)
    assert reply.status == 400 and SECRET.encode() not in reply.body
    time.sleep(0.2)
    assert SECRET not in server.log()
