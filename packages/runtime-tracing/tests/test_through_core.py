"""A tiny plugin run through core's ``Plugin.handle_step``: core finds the hook by entry point.

Skipped while core's pipeline is not there yet (it is written alongside this package).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

pytest.importorskip("insightconnect_plugin_runtime.plugin", reason="core's Plugin is not available yet")
import insightconnect_plugin_runtime as icpr  # noqa: E402
from insightconnect_plugin_runtime import _extensions  # noqa: E402
from insightconnect_plugin_runtime.exceptions import LoggedException, PluginException  # noqa: E402
from insightconnect_plugin_runtime.telemetry import monitor_task_delay  # noqa: E402

if not hasattr(icpr.Plugin, "handle_step"):
    pytest.skip("core's Plugin.handle_step is not available yet", allow_module_level=True)

TRACE_ID = "a3ce929d0e0e47364bf92f3577b34da6"
OBJECT = {"type": "object"}


class Connection(icpr.Connection):
    def __init__(self) -> None:
        super().__init__(input=None)

    def connect(self, params: Any = None) -> None:
        self.fail = bool((params or {}).get("fail"))

    def test(self) -> dict[str, Any]:
        if self.fail:
            raise icpr.exceptions.ConnectionTestException(preset="api_key")
        return {"success": True}


class Echo(icpr.Action):
    def __init__(self) -> None:
        schema = {"type": "object", "properties": {"text": {"type": "string"}}}
        super().__init__("echo", "Echo", icpr.Input(schema), icpr.Output(OBJECT))

    def run(self, params: Any = None) -> dict[str, Any]:
        return {"echo": params["text"]}


class Explode(icpr.Action):
    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name, "Fails", icpr.Input(OBJECT), icpr.Output(OBJECT))
        self.error = error

    def run(self, params: Any = None) -> dict[str, Any]:
        raise self.error


class Poll(icpr.Task):
    def __init__(self) -> None:
        super().__init__("poll", "Polls", icpr.Input(OBJECT), icpr.Output({"type": "array"}), icpr.State(OBJECT))

    @monitor_task_delay(timestamp_keys="last_seen", default_delay_threshold="2d")
    def run(self, params: Any = None, state: Any = None, custom_config: Any = None) -> Any:
        return [], {"last_seen": (datetime.now(UTC) - timedelta(hours=5)).isoformat()}, False, 200, None


class Tick(icpr.Trigger):
    def __init__(self) -> None:
        super().__init__("tick", "Ticks", icpr.Input(OBJECT), icpr.Output(OBJECT))

    def run(self, params: Any = None) -> None:
        return None


class TinyPlugin(icpr.Plugin):
    def __init__(self) -> None:
        super().__init__(name="Tiny Plugin", vendor="rapid7", version="0.0.1", description="t", connection=Connection())
        self.add_action(Echo())
        self.add_action(Explode("plugin_error", PluginException(preset=PluginException.Preset.NOT_FOUND)))
        self.add_action(Explode("bug", ValueError("oops")))
        self.add_task(Poll())
        self.add_trigger(Tick())


@pytest.fixture
def tiny(exporter) -> TinyPlugin:
    _extensions.reset_cache()
    yield TinyPlugin()
    _extensions.reset_cache()


def message(kind: str, name: str | None = None, **body: Any) -> dict[str, Any]:
    body.setdefault("connection", {})
    body.setdefault("meta", {})
    if name is not None:
        body[kind.split("_")[0]] = name
    return {"type": kind, "version": "v1", "body": body}


def run(plugin: TinyPlugin, msg: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    try:
        return plugin.handle_step(msg, **kwargs)
    except LoggedException as failed:
        return failed.output


def only_span(exporter):
    (span,) = exporter.get_finished_spans()
    return span


def test_action_success_continues_the_callers_trace(tiny, exporter):
    carrier = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    reply = run(tiny, message("action_start", "echo", input={"text": "hi"}), carrier=carrier)
    assert reply["body"]["output"] == {"echo": "hi"}
    span = only_span(exporter)
    assert span.name == "action echo"
    assert span.attributes["insightconnect.step.status"] == "ok"
    assert format(span.context.trace_id, "032x") == TRACE_ID


@pytest.mark.parametrize(
    ("msg", "error_type"),
    [
        (message("action_start", "plugin_error"), "PluginException"),
        (message("action_start", "bug"), "ValueError"),
        (message("action_start", "echo", input={"text": 5}), "ClientException"),
        (message("action_start", "missing"), "Error"),  # unknown step: a ClientException subclass
        (message("connection_test", connection={"fail": True}), "ConnectionTestException"),
    ],
    ids=["plugin-exception", "bug", "invalid-input", "unknown-step", "connection-test"],
)
def test_failures(tiny, exporter, msg, error_type):
    reply = run(tiny, msg)
    assert reply["body"]["status"] == "error"
    span = only_span(exporter)
    assert span.attributes["insightconnect.step.status"] == "error"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"].endswith(error_type)
    assert [event.name for event in span.events] == ["exception"]


def test_task_runs_and_the_positional_custom_config_threshold_is_honoured(tiny, exporter):
    msg = message("task_start", "poll", state={}, custom_config={"task_delay_threshold": "1h"})
    reply = run(tiny, msg)
    assert reply["body"]["status"] == "ok"
    assert "falling behind" in reply["body"]["log"]
    span = only_span(exporter)
    assert span.name == "task poll"
    assert span.attributes["insightconnect.step.type"] == "task"


def test_task_without_override_does_not_log(tiny, exporter):
    reply = run(tiny, message("task_start", "poll", state={}))
    assert "falling behind" not in reply["body"]["log"]


def test_trigger_test_and_connection_test(tiny, exporter):
    run(tiny, message("trigger_start", "tick", dispatcher={"url": "", "webhook_url": ""}), is_test=True)
    run(tiny, message("connection_test"))
    names = [span.name for span in exporter.get_finished_spans()]
    assert names[0] == "trigger tick"
    assert names[1].startswith("connection_test")
    trigger_span = exporter.get_finished_spans()[0]
    assert trigger_span.attributes["insightconnect.step.test"] is True


def test_disabled_extension_means_no_spans(tiny, exporter, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_DISABLED_EXTENSIONS", "tracing")
    _extensions.reset_cache()
    run(tiny, message("action_start", "echo", input={"text": "hi"}))
    assert exporter.get_finished_spans() == ()


class Leak(icpr.Action):
    def __init__(self) -> None:
        super().__init__("leak", "Leaks", icpr.Input(OBJECT), icpr.Output(OBJECT))

    def run(self, params: Any = None) -> dict[str, Any]:
        secret = params["key"]
        raise PluginException(cause=f"key {secret} refused", assistance="a", data={"echo": secret})


def test_spans_never_carry_connection_secrets(tiny, exporter):
    secret = "canary-secret-9f3e1"
    tiny.add_action(Leak())
    msg = message("action_start", "leak", input={"key": secret}, connection={"token": secret})
    reply = run(tiny, msg)
    assert reply["body"]["status"] == "error"
    span = only_span(exporter)
    recorded = [span.status.description, *map(str, span.attributes.values())]
    for event in span.events:
        recorded += [str(value) for value in event.attributes.values()]
    assert all(secret not in text for text in recorded)
    assert any("********" in text for text in recorded)


def test_server_spans_lose_their_query_strings(exporter):
    import flask
    from opentelemetry import trace as otel_trace

    from insightconnect_plugin_runtime._tracing_setup import instrument_flask_app

    app = flask.Flask("query-test")
    app.add_url_rule("/api/v1/actions/<name>", "action", lambda name: {"ok": True}, methods=["POST"])
    instrument_flask_app(app, otel_trace.get_tracer_provider())
    assert app.test_client().post("/api/v1/actions/x?token=canary%2Fsecret", json={}).status_code == 200
    (server,) = [span for span in exporter.get_finished_spans() if span.kind == otel_trace.SpanKind.SERVER]
    assert all("canary" not in str(value) for value in server.attributes.values())
    assert server.attributes["http.target"] == "/api/v1/actions/x"
