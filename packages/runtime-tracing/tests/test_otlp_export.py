"""End to end: steps traced through the real SDK and OTLP/HTTP exporter to a local receiver."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from insightconnect_plugin_runtime._contracts import StepCall
from insightconnect_plugin_runtime.exceptions import PluginException
from insightconnect_plugin_runtime.telemetry import create_post_fork, init_tracing, step_hook

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def flush() -> None:
    assert trace.get_tracer_provider().force_flush(5_000)


def run_steps(plugin) -> None:
    ok = StepCall(plugin, "action", "lookup_ip", {}, carrier={"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"})
    with step_hook(ok):
        ok.status = "ok"
    failed = StepCall(plugin, "task", "monitor_alerts", {})
    with step_hook(failed):
        failed.status, failed.error = "error", PluginException(preset=PluginException.Preset.RATE_LIMIT)


def test_init_tracing_exports_step_spans_in_cloud_mode(monkeypatch, plugin, otlp_receiver, otlp_decode):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    init_tracing(None, plugin, f"{otlp_receiver.url}/v1/traces")
    run_steps(plugin)
    flush()

    spans = {span["name"]: span for span in otlp_decode(otlp_receiver)}
    assert set(spans) == {"action lookup_ip", "task monitor_alerts"}
    action, task = spans["action lookup_ip"], spans["task monitor_alerts"]
    assert action["path"] == "/v1/traces"
    assert action["resource"]["service.name"] == "pif.rapid7_test_plugin"
    assert action["resource"]["service.version"] == "1.2.3"
    assert action["trace_id"] == TRACE_ID
    assert action["parent_span_id"] == "b7ad6b7169203331"
    assert action["attributes"]["insightconnect.step.status"] == "ok"
    assert task["attributes"]["insightconnect.step.type"] == "task"
    assert task["attributes"]["error.type"].endswith("PluginException")
    assert task["status_code"] == Status.STATUS_CODE_ERROR
    assert task["events"] == ["exception"]


def test_standard_otel_endpoint_enables_export_on_prem(monkeypatch, plugin, otlp_receiver, otlp_decode):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_receiver.url)  # exporter appends /v1/traces
    monkeypatch.setenv("OTEL_SERVICE_NAME", "custom-service")
    run_steps(plugin)  # no server: the first step starts tracing from the environment (CLI mode)
    flush()

    spans = otlp_decode(otlp_receiver)
    assert {span["name"] for span in spans} == {"action lookup_ip", "task monitor_alerts"}
    assert spans[0]["path"] == "/v1/traces"
    assert spans[0]["resource"]["service.name"] == "custom-service"


def test_gunicorn_post_fork_hook_starts_export(monkeypatch, plugin, otlp_receiver, otlp_decode):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    config = {"otel_tracing": f"{otlp_receiver.url}/v1/traces"}
    hook = create_post_fork(lambda: None, lambda: plugin, lambda: config)
    hook(object(), object())
    run_steps(plugin)
    flush()
    assert len(otlp_decode(otlp_receiver)) == 2


@pytest.mark.parametrize("environment", [None, "onprem"])
def test_otel_tracing_endpoint_is_ignored_outside_cloud(monkeypatch, plugin, otlp_receiver, environment):
    if environment:
        monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", environment)
    init_tracing(None, plugin, f"{otlp_receiver.url}/v1/traces")
    monkeypatch.setenv("otel_tracing", f"{otlp_receiver.url}/v1/traces")
    run_steps(plugin)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert otlp_receiver.requests == []


def test_flask_instrumented_in_master_exports_after_worker_post_fork(monkeypatch, plugin, otlp_receiver, otlp_decode):
    """init_app runs before any provider exists; the app's spans must still reach the worker's."""
    flask = pytest.importorskip("flask")
    from opentelemetry.instrumentation.flask import FlaskInstrumentor

    from insightconnect_plugin_runtime.telemetry import server_hooks

    app = flask.Flask("plugin")

    @app.post("/api/v1/actions/<name>")
    def run_action(name):
        call = StepCall(plugin, "action", name, {}, carrier=dict(flask.request.headers))
        with step_hook(call):
            call.status = "ok"
        return {}

    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    config = {"otel_tracing": f"{otlp_receiver.url}/v1/traces"}
    try:
        server_hooks.init_app(app, plugin, config)  # master, before fork
        server_hooks.post_fork(app, plugin, config)  # worker
        headers = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
        assert app.test_client().post("/api/v1/actions/echo", headers=headers).status_code == 200
        flush()
    finally:
        FlaskInstrumentor.uninstrument_app(app)

    spans = {span["name"]: span for span in otlp_decode(otlp_receiver)}
    server = next(span for name, span in spans.items() if name.startswith("POST"))
    assert server["parent_span_id"] == "b7ad6b7169203331"
    assert spans["action echo"]["parent_span_id"] == server["span_id"]
    assert server["resource"]["service.name"] == "pif.rapid7_test_plugin"
