"""Every step of the example plugin through the CLI, as a subprocess."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "example"
SECRET = "example-secret-key-123"


def load_message(name: str) -> dict:
    return json.loads((SAMPLE / "messages" / f"{name}.json").read_text())


def test_info_lists_every_step(run_cli):
    result = run_cli("info")
    assert result.code == 0
    for name in ("say_hello", "say_goodbye", "raise_error", "emit_greeting", "monitor_events"):
        assert name in result.stdout
    assert "Actions (" in result.stdout and "Triggers (1):" in result.stdout and "Tasks (1):" in result.stdout


@pytest.mark.parametrize(
    ("step", "kind"),
    [("say_hello", "action"), ("emit_greeting", "trigger"), ("monitor_events", "task")],
)
def test_sample_prints_a_runnable_start_message(run_cli, step, kind):
    result = run_cli("sample", step)
    assert result.code == 0
    message = json.loads(result.stdout)
    assert message["type"] == f"{kind}_start" and message["version"] == "v1"
    assert message["body"][kind] == step
    assert "connection" in message["body"] and "input" in message["body"]
    if kind == "trigger":
        assert message["body"]["dispatcher"]["url"]
    if kind == "task":
        assert message["body"]["state"] == {"cursor": 0}


def test_sample_of_unknown_step_is_a_usage_error(run_cli):
    result = run_cli("sample", "nope")
    assert result.code == 2
    assert "nope" in result.stderr and result.stdout == ""


def test_run_action_replies_with_output_and_captured_log(run_cli):
    result = run_cli("run", stdin=json.dumps(load_message("say_hello")))
    assert result.code == 0, result.stderr
    reply = result.reply
    assert reply["type"] == "action_event"
    assert reply["body"]["status"] == "ok"
    assert reply["body"]["output"] == {"message": "Hello, World!"}
    assert "Greeting World" in reply["body"]["log"]
    assert "Greeting World" in result.stderr  # readable on stderr too
    assert result.stdout.count("\n") == 1  # one JSON reply, nothing else on stdout


def test_run_action_with_inline_message(run_cli):
    result = run_cli("run", "--", json.dumps(load_message("say_goodbye")))
    assert result.code == 0, result.stderr
    assert result.reply["body"]["output"] == {"messages": ["Goodbye, World!"] * 2, "count": 2}
    assert "times=2" in result.reply["body"]["log"]


def test_test_mode_runs_the_connection_test(run_cli):
    result = run_cli("test", stdin=json.dumps(load_message("say_hello")))
    assert result.code == 0
    assert result.reply["body"]["output"] == {"success": True}


def test_connection_test_message(run_cli):
    result = run_cli("test", stdin=json.dumps(load_message("connection_test")))
    assert result.code == 0
    assert result.reply["type"] == "connection_test"
    assert result.reply["body"]["output"] == {"success": True}


def test_connection_test_failure_is_structured(run_cli):
    message = load_message("connection_test")
    message["body"]["connection"]["api_key"]["secretKey"] = "bad-key"
    result = run_cli("test", stdin=json.dumps(message))
    assert result.code == 1
    assert result.reply["body"]["status"] == "error"
    assert result.reply["body"]["exception"]["cause"]


def test_task_returns_page_state_and_flags(run_cli):
    result = run_cli("run", stdin=json.dumps(load_message("monitor_events")))
    assert result.code == 0, result.stderr
    body = result.reply["body"]
    assert result.reply["type"] == "task_event"
    assert [event["id"] for event in body["output"]] == [1, 2, 3]
    assert body["state"] == {"cursor": 3}
    assert body["has_more_pages"] is True and body["status_code"] == 200


def test_task_uses_state_and_custom_config(run_cli):
    message = load_message("monitor_events")
    message["body"]["state"] = {"cursor": 5}
    message["body"]["custom_config"] = {"page_size": 10}
    result = run_cli("run", stdin=json.dumps(message))
    body = result.reply["body"]
    assert [event["id"] for event in body["output"]] == [6, 7]
    assert body["has_more_pages"] is False


def test_task_error_object_is_reported(run_cli):
    message = load_message("monitor_events")
    message["body"]["state"] = {"cursor": -1}
    result = run_cli("run", stdin=json.dumps(message))
    body = result.reply["body"]
    assert body["status_code"] == 400
    assert body["exception"]["data"] == "negative cursor"


class _Dispatcher(BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def dispatcher():
    handler = type("Handler", (_Dispatcher,), {"received": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/events"
    server.shutdown()


def _trigger_message(url: str, count: int = 3) -> dict:
    message = load_message("emit_greeting")
    message["body"]["dispatcher"]["url"] = url
    message["body"]["input"]["count"] = count
    message["body"]["input"]["interval"] = 0
    return message


def test_trigger_posts_each_event_and_checkpoints(run_cli, dispatcher, cli_env):
    handler, url = dispatcher
    result = run_cli("run", stdin=json.dumps(_trigger_message(url)))
    assert result.code == 0, result.stderr
    assert [event["body"]["output"]["number"] for event in handler.received] == [1, 2, 3]
    assert all(event["type"] == "trigger_event" for event in handler.received)
    assert "Emitting greeting 1" in handler.received[0]["body"]["log"]
    assert "Emitting greeting 1" not in handler.received[1]["body"]["log"]  # each event carries its own lines
    state_file = cli_env["ICON_RUNTIME_CACHE_DIR"] + "example-trigger-1.json"
    assert json.loads(open(state_file).read()) == {"last_number": 3}
    # A restart resumes from the checkpoint.
    again = run_cli("run", stdin=json.dumps(_trigger_message(url, count=5)))
    assert again.code == 0
    assert [event["body"]["output"]["number"] for event in handler.received] == [1, 2, 3, 4, 5]


def test_trigger_sees_a_refused_post_and_keeps_its_checkpoint(run_cli, dispatcher, cli_env):
    handler, url = dispatcher
    handler.status = 500
    env = dict(cli_env, ICON_RUNTIME_OUTBOX_RETRIES="1", ICON_RUNTIME_OUTBOX_BACKOFF="0.01")
    result = run_cli("run", stdin=json.dumps(_trigger_message(url)), env=env)
    assert result.code == 1
    assert result.reply["type"] == "trigger_event"
    assert "HTTP 500" in result.reply["body"]["error"]
    state_file = cli_env["ICON_RUNTIME_CACHE_DIR"] + "example-trigger-1.json"
    assert json.loads(open(state_file).read()) == {}  # never advanced past the undelivered event


def test_trigger_debug_mode_writes_events_to_stdout(run_cli):
    result = run_cli("--debug", "run", stdin=json.dumps(_trigger_message("http://127.0.0.1:9/x", count=2)))
    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["body"]["output"]["number"] for line in lines[:2]] == [1, 2]
    assert lines[-1]["body"]["status"] == "ok"


def test_secrets_never_reach_stdout_or_stderr(run_cli):
    message = load_message("raise_error")
    message["body"]["input"]["kind"] = "leak_secret"
    result = run_cli("run", stdin=json.dumps(message))
    assert result.code == 1
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "********" in result.reply["body"]["error"]
    import base64

    assert base64.b64encode(f"token:{SECRET}".encode()).decode()[8:] not in result.stdout


def test_http_without_the_http_distribution_names_it(run_cli, cli_env):
    env = dict(cli_env, ICON_RUNTIME_DISABLED_EXTENSIONS="*")
    result = run_cli("http", "--port", "0", env=env)
    assert result.code == 2
    assert "icon-runtime-http" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
