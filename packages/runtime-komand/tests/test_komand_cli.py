"""A KOMAND-generated-style plugin runs unchanged through its bin script: info, sample, run, test."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from komand_testkit import SECRET, start_message


def test_info_lists_the_plugin_and_every_step(run_cli):
    result = run_cli("info")
    assert result.code == 0, result.stderr
    assert "Word Count" in result.stdout and "1.0.0" in result.stdout
    for step in ("count_words", "fetch_title", "emit_count"):
        assert step in result.stdout
    assert "Actions (2):" in result.stdout and "Triggers (1):" in result.stdout


@pytest.mark.parametrize(
    ("step", "kind", "field"),
    [("count_words", "action", "text"), ("fetch_title", "action", "url"), ("emit_count", "trigger", "text")],
)
def test_sample_prints_a_start_message_built_from_the_komand_schemas(run_cli, step, kind, field):
    result = run_cli("sample", step)
    assert result.code == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["type"] == f"{kind}_start"
    assert message["body"][kind] == step
    assert set(message["body"]["connection"]) == {"api_key", "separator"}
    assert field in message["body"]["input"]


def test_run_action_uses_connection_helper_and_logger(run_cli):
    message = start_message("action", "count_words", {"text": "one two  three"})
    result = run_cli("run", stdin=json.dumps(message))
    assert result.code == 0, result.stderr
    reply = result.reply
    assert reply["type"] == "action_event" and reply["body"]["status"] == "ok"
    assert reply["body"]["output"] == {"count": 3, "words": ["one", "two", "three"]}
    assert "Counted 3 words" in reply["body"]["log"]
    assert "Connect: configuring the word counter" in reply["body"]["log"]


def test_komand_helper_clean_drops_empty_values(run_cli):
    result = run_cli("run", stdin=json.dumps(start_message("action", "count_words", {"text": "   "})))
    assert result.code == 0, result.stderr
    assert result.reply["body"]["output"] == {"count": 0}


def test_plugin_exception_from_komand_exceptions_is_a_structured_error(run_cli):
    result = run_cli("run", stdin=json.dumps(start_message("action", "count_words", {"text": "forbidden"})))
    assert result.code == 1
    body = result.reply["body"]
    assert body["status"] == "error"
    assert "The text is forbidden." in body["error"] and "Send another text." in body["error"]


def test_missing_required_input_is_rejected_by_the_komand_schema(run_cli):
    result = run_cli("run", stdin=json.dumps(start_message("action", "count_words", {})))
    assert result.code == 1
    assert result.reply["body"]["status"] == "error"
    assert "text" in result.reply["body"]["error"]


def test_connection_test_and_its_masked_secret(run_cli):
    good = run_cli("test", stdin=json.dumps(start_message("action", "count_words", {"text": "a"})))
    assert good.code == 0, good.stderr
    message = start_message("action", "count_words", {"text": "a"})
    message["body"]["connection"]["api_key"]["secretKey"] = "bad-key-9f8e7d"
    bad = run_cli("test", stdin=json.dumps(message))
    assert bad.code == 1
    assert bad.reply["body"]["status"] == "error"
    assert "bad-key-9f8e7d" not in bad.stdout and "bad-key-9f8e7d" not in bad.stderr
    assert SECRET not in good.stdout


class _Dispatcher(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", 0))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def dispatcher():
    handler = type("Handler", (_Dispatcher,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/events"
    server.shutdown()
    server.server_close()


def test_komand_trigger_posts_each_event(run_cli, dispatcher):
    handler, url = dispatcher
    message = start_message(
        "trigger", "emit_count", {"text": "a b c", "times": 3}, dispatcher={"url": url, "webhook_url": ""}
    )
    message["body"]["meta"] = {"triggerId": "komand-trigger-1"}
    result = run_cli("run", stdin=json.dumps(message))
    assert result.code == 0, result.stderr
    assert [event["body"]["output"] for event in handler.received] == [
        {"count": 3, "round": 1},
        {"count": 3, "round": 2},
        {"count": 3, "round": 3},
    ]
    assert all(event["type"] == "trigger_event" for event in handler.received)
