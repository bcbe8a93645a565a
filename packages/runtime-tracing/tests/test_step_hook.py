"""The step hook driven directly with ``StepCall`` objects, the way core's ``around_step`` does."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from insightconnect_plugin_runtime._contracts import StepCall
from insightconnect_plugin_runtime.exceptions import (
    APIException,
    ClientException,
    ConnectionTestException,
    PluginException,
    ServerException,
)
from insightconnect_plugin_runtime.telemetry import step_hook

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


def run_step(call: StepCall, outcome: BaseException | None = None, *, escape: bool = False) -> None:
    """Mimic core: run inside the hook, set status/error before leaving, maybe let it escape."""
    with step_hook(call):
        if outcome is None:
            call.status = "ok"
            return
        call.status, call.error = "error", outcome
        if escape:
            raise outcome


def make_call(plugin: Any, kind: str = "action", name: str = "lookup_ip", **extra: Any) -> StepCall:
    return StepCall(plugin=plugin, kind=kind, name=name, message={"body": {}}, **extra)


@pytest.mark.parametrize(
    ("kind", "name", "span_name"),
    [
        ("action", "lookup_ip", "action lookup_ip"),
        ("trigger", "new_alert", "trigger new_alert"),
        ("task", "monitor_alerts", "task monitor_alerts"),
        ("connection_test", "", "connection_test"),
    ],
)
def test_every_step_type_runs_in_a_named_span(exporter, plugin, kind, name, span_name):
    run_step(make_call(plugin, kind, name))

    (span,) = exporter.get_finished_spans()
    assert span.name == span_name
    assert span.kind is SpanKind.INTERNAL
    assert span.attributes["insightconnect.step.type"] == kind
    assert span.attributes["insightconnect.step.name"] == name
    assert span.attributes["insightconnect.step.status"] == "ok"
    assert span.attributes["insightconnect.step.test"] is False
    assert span.attributes["insightconnect.plugin.name"] == "Rapid7 Test Plugin"
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()


def test_test_runs_are_marked(exporter, plugin):
    run_step(make_call(plugin, "action", "lookup_ip", is_test=True))
    assert exporter.get_finished_spans()[0].attributes["insightconnect.step.test"] is True


@pytest.mark.parametrize(
    "error",
    [
        ClientException("bad input"),
        ServerException("upstream broke"),
        PluginException(preset=PluginException.Preset.NOT_FOUND),
        ConnectionTestException(preset=ConnectionTestException.Preset.API_KEY),
        APIException(preset=PluginException.Preset.SERVER_ERROR, status_code=503),
        ValueError("plain bug"),
        NotImplementedError(),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("escape", [False, True], ids=["caught-by-core", "escaping"])
def test_each_failure_kind_is_recorded_once(exporter, plugin, error, escape):
    call = make_call(plugin, "task", "monitor_alerts")
    if escape:
        with pytest.raises(type(error)):
            run_step(call, error, escape=True)
    else:
        run_step(call, error)

    (span,) = exporter.get_finished_spans()
    assert span.attributes["insightconnect.step.status"] == "error"
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description.startswith(type(error).__name__)
    exceptions = [event for event in span.events if event.name == "exception"]
    assert len(exceptions) == 1
    assert exceptions[0].attributes["exception.type"].endswith(type(error).__name__)
    assert span.attributes["error.type"].endswith(type(error).__qualname__)
    cause = getattr(error, "cause", None)
    if isinstance(cause, str) and cause:
        assert span.attributes["insightconnect.error.cause"] == cause


def test_base_exception_escaping_without_core_status(exporter, plugin):
    call = make_call(plugin)
    with pytest.raises(SystemExit):
        with step_hook(call):
            raise SystemExit(3)
    (span,) = exporter.get_finished_spans()
    assert span.attributes["insightconnect.step.status"] == "error"
    assert span.attributes["error.type"] == "SystemExit"


def test_error_status_without_exception(exporter, plugin):
    call = make_call(plugin)
    with step_hook(call):
        call.status = "error"
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["insightconnect.step.status"] == "error"


def test_call_attributes_are_copied_when_valid(exporter, plugin):
    call = make_call(plugin)
    with step_hook(call):
        call.attributes.update({"insightconnect.org_id": "org-1", "retries": 2, "junk": object()})
        call.status = "ok"
    attributes = exporter.get_finished_spans()[0].attributes
    assert attributes["insightconnect.org_id"] == "org-1"
    assert attributes["retries"] == 2
    assert "junk" not in attributes


@pytest.mark.parametrize("header", ["traceparent", "Traceparent", "TRACEPARENT"])
def test_incoming_traceparent_continues_the_callers_trace(exporter, plugin, header):
    run_step(make_call(plugin, carrier={header: TRACEPARENT, "tracestate": "vendor=abc"}))

    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "abc"


def test_step_nests_under_a_server_span_of_the_same_trace(exporter, plugin):
    """Over HTTP the Flask span already continued the header; the step must be its child."""
    from opentelemetry import propagate

    incoming = propagate.extract({"traceparent": TRACEPARENT})
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /api/v1/actions/lookup_ip", context=incoming) as server_span:
        run_step(make_call(plugin, carrier={"traceparent": TRACEPARENT}))

    step_span = next(s for s in exporter.get_finished_spans() if s.name == "action lookup_ip")
    assert step_span.parent.span_id == server_span.get_span_context().span_id
    assert format(step_span.context.trace_id, "032x") == TRACE_ID


def test_without_carrier_the_step_is_a_child_of_the_current_span(exporter, plugin):
    with trace.get_tracer("test").start_as_current_span("outer") as outer:
        run_step(make_call(plugin))
    step_span = next(s for s in exporter.get_finished_spans() if s.name == "action lookup_ip")
    assert step_span.parent.span_id == outer.get_span_context().span_id


def test_invalid_carrier_starts_a_new_trace(exporter, plugin):
    run_step(make_call(plugin, carrier={"traceparent": "garbage"}))
    (span,) = exporter.get_finished_spans()
    assert span.parent is None


def test_hook_is_a_null_context_when_tracing_is_off(plugin):
    assert isinstance(step_hook(make_call(plugin)), nullcontext)


def test_sdk_disabled_turns_the_hook_off_even_with_a_provider(exporter, plugin, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert isinstance(step_hook(make_call(plugin)), nullcontext)
    assert exporter.get_finished_spans() == ()


def test_hook_never_raises_on_a_malformed_call(exporter):
    class Broken:
        @property
        def kind(self) -> str:
            raise RuntimeError("boom")

    assert isinstance(step_hook(Broken()), nullcontext)
