"""Behaviours the reference runtime's own suite checks for core modules, written afresh."""

from __future__ import annotations

import decimal
import io
import json
import logging

import jsonschema
import pytest

import insightconnect_plugin_runtime as icon
from insightconnect_plugin_runtime import schema
from insightconnect_plugin_runtime._logging import configure_console
from insightconnect_plugin_runtime.exceptions import MessageError
from insightconnect_plugin_runtime.metrics import MetricsBuilder


class DecimalEncoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return str(o)
        return super().default(o)


class Price(icon.Action):
    def __init__(self):
        super().__init__("price", "price", icon.Input({"type": "object"}), None)

    def run(self, params={}):  # noqa: B006 - plugin style
        return {"price": decimal.Decimal("9.99")}


def _plugin(**kwargs) -> icon.Plugin:
    plugin = icon.Plugin(name="P", vendor="v", version="1.0.0", **kwargs)
    plugin.add_action(Price())
    return plugin


def _run_cli(plugin: icon.Plugin, message: dict) -> tuple[int, dict]:
    cli = icon.CLI(plugin, ["run"])
    cli.stdin, cli.stdout = io.StringIO(json.dumps(message)), io.StringIO()
    code = cli.main()
    return code, json.loads(cli.stdout.getvalue())


PRICE = {"type": "action_start", "version": "v1", "body": {"action": "price", "input": {}}}


def test_custom_encoder_writes_plugin_types():
    code, reply = _run_cli(_plugin(custom_encoder=DecimalEncoder), PRICE)
    assert code == 0 and reply["body"]["output"] == {"price": "9.99"}


def test_output_the_encoder_cannot_write_is_an_error_reply():
    code, reply = _run_cli(_plugin(), PRICE)
    assert code == 1 and reply["body"]["status"] == "error" and "JSON" in reply["body"]["error"]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "action_start", "version": "v1", "body": {"action": "a", "meta": None, "input": None}},
        {"type": "trigger_start", "version": "v1", "body": {"trigger": "t", "dispatcher": None}},
        {"type": "task_start", "version": "v1", "body": {"task": "t", "state": {}}},
        {"type": "connection_test", "version": "v1", "body": {}},
        {"type": "action_event", "version": "v1", "body": {"action": "a"}},
        {"type": "action_start", "version": "v2", "body": {"action": "a"}},
        {"type": "action_start", "version": "v1", "body": {}},
        {"type": "action_start", "version": "v1"},
    ],
)
def test_packaged_input_schema_agrees_with_the_parser(message):
    by_schema = jsonschema.Draft202012Validator(schema.input_message_schema).is_valid(message)
    try:
        icon.Plugin.validate_input_message(json.loads(json.dumps(message)))
        by_code = True
    except MessageError:
        by_code = False
    assert by_schema == by_code


def test_replies_match_the_packaged_output_schema():
    plugin = _plugin(custom_encoder=DecimalEncoder)
    validator = jsonschema.Draft202012Validator(schema.output_message_schema)
    ok = json.loads(json.dumps(plugin.handle_step(json.loads(json.dumps(PRICE))), cls=DecimalEncoder))
    assert validator.is_valid(ok)
    with pytest.raises(icon.plugin.LoggedException) as failure:
        plugin.handle_step({"type": "action_start", "version": "v1", "body": {"action": "nope"}})
    assert validator.is_valid(failure.value.output)


def test_executions_do_not_leak_loggers_or_handlers():
    plugin = _plugin(custom_encoder=DecimalEncoder)
    logging.getLogger("plugin")
    loggers_before = set(logging.Logger.manager.loggerDict)
    handlers_before = list(logging.getLogger("plugin").handlers)
    for _ in range(5):
        plugin.handle_step(json.loads(json.dumps(PRICE)))
    assert set(logging.Logger.manager.loggerDict) == loggers_before
    assert logging.getLogger("plugin").handlers == handlers_before


def test_cloud_console_lines_are_json_with_the_request_context(monkeypatch):
    import structlog

    class Chatty(Price):
        def run(self, params={}):  # noqa: B006
            self.logger.info("marker line", detail=1)
            return {"price": "1"}

    plugin = icon.Plugin(name="P", vendor="v", version="1.0.0")
    chatty = Chatty()
    plugin.add_action(chatty)
    stream = io.StringIO()
    configure_console(json_lines=True, stream=stream)
    structlog.contextvars.bind_contextvars(request_id="req-1", org_id="org-9")
    try:
        plugin.handle_step(json.loads(json.dumps(PRICE)))
    finally:
        structlog.contextvars.clear_contextvars()
        configure_console(json_lines=False)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    marker = [line for line in lines if line["message"] == "marker line"]
    assert len(marker) == 1
    assert marker[0]["request_id"] == "req-1" and marker[0]["org_id"] == "org-9"
    assert marker[0]["level"] == "info" and marker[0]["detail"] == 1


def test_metrics_timestamp_is_whole_seconds_as_text(monkeypatch):
    import time

    monkeypatch.setattr(time, "time", lambda: 1661545868.139564)
    assert MetricsBuilder._get_timestamp() == "1661545868"
    payload = MetricsBuilder("n", "1", "v", {"body": {"input": {"type": "x"}}}, IndexError("x")).build()
    assert payload["workflow"]["step"]["inputs"] == ["type"]
    assert payload["plugin"] == {"name": "n", "version": "1", "vendor": "v"}


def test_certifi_points_at_ssl_cert_file_when_it_exists(tmp_path, monkeypatch):
    certifi = pytest.importorskip("certifi")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert certifi.where() == str(bundle)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert certifi.where().endswith("cacert.pem")
    monkeypatch.delenv("SSL_CERT_FILE")
    assert certifi.where().endswith("cacert.pem")
