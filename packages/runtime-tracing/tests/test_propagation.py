"""A trace enters with ``traceparent``, crosses a thread pool and leaves on an outgoing request."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import requests
import structlog
from opentelemetry import trace

from insightconnect_plugin_runtime._contracts import StepCall
from insightconnect_plugin_runtime.telemetry import init_tracing, step_hook, with_context

TRACE_ID = "5b8efff798038103d269b633813fc60c"
CALLER_SPAN = "eee19b7ec3c1b174"


def test_trace_crosses_thread_pool_and_outgoing_request(monkeypatch, plugin, otlp_receiver, otlp_decode, http_recorder):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    init_tracing(None, plugin, f"{otlp_receiver.url}/v1/traces")

    def fetch(path: str) -> tuple[int, str, dict]:
        response = requests.get(f"{http_recorder.url}{path}", timeout=5)
        return (
            response.status_code,
            trace.get_current_span().get_span_context().trace_id,
            (structlog.contextvars.get_contextvars()),
        )

    call = StepCall(plugin, "action", "enrich", {}, carrier={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"})
    structlog.contextvars.clear_contextvars()  # other tests' in-process requests leave their context
    with step_hook(call):
        structlog.contextvars.bind_contextvars(request_id="req-42")
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                bound = with_context(contextvars.copy_context(), fetch)
                results = list(pool.map(bound, ["/a", "/b"]))
                plain = pool.submit(fetch, "/plain").result()  # no context: a fresh trace
        finally:
            structlog.contextvars.clear_contextvars()
        call.status = "ok"
    assert trace.get_tracer_provider().force_flush(5_000)

    for status, worker_trace_id, log_context in results:
        assert status == 200
        assert format(worker_trace_id, "032x") == TRACE_ID
        assert log_context == {"request_id": "req-42"}
    assert plain[2] == {}

    seen = {request["path"]: request["headers"] for request in http_recorder.requests}
    for path in ("/a", "/b"):
        version, trace_id, parent_id, flags = seen[path]["traceparent"].split("-")
        assert trace_id == TRACE_ID
    assert seen["/plain"]["traceparent"].split("-")[1] != TRACE_ID

    spans = otlp_decode(otlp_receiver)
    step = next(span for span in spans if span["name"] == "action enrich")
    clients = [span for span in spans if span["name"] == "GET" and span["trace_id"] == TRACE_ID]
    assert step["parent_span_id"] == CALLER_SPAN
    assert len(clients) == 2
    assert {span["parent_span_id"] for span in clients} == {step["span_id"]}
    assert {seen[path]["traceparent"].split("-")[2] for path in ("/a", "/b")} == {span["span_id"] for span in clients}
    assert all(span["status_code"] == 1 for span in clients)  # STATUS_CODE_OK below 400
