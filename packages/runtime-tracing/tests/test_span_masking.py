"""Spans are masked with core's process-wide authority before export; URL query strings are dropped."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from insightconnect_plugin_runtime._tracing_masking import MaskingSpanProcessor, masked_attributes, without_query
from insightconnect_plugin_runtime.util import mask_secrets_in_flight

SECRET = "span-s3cret/+token"
MASK = "********"


def _provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(MaskingSpanProcessor(SimpleSpanProcessor(memory)))
    return provider, memory


def _hold(secret: str):
    from insightconnect_plugin_runtime._in_flight import IN_FLIGHT  # the registry core's runner fills
    from insightconnect_plugin_runtime._masking import SecretMasker

    masker = SecretMasker([secret])
    IN_FLIGHT.acquire(masker)
    return lambda: IN_FLIGHT.release(masker)


def test_client_span_strings_are_masked_and_queries_dropped():
    provider, memory = _provider()
    release = _hold(SECRET)
    try:
        tracer = provider.get_tracer("t")
        link_context = trace.SpanContext(1, 2, False)
        with tracer.start_as_current_span(
            f"GET {SECRET}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "http.url": f"https://api.example.com/v1/items?apikey={SECRET}#frag",
                "url.full": "https://api.example.com/x?q=1",
                "url.query": "apikey=whatever",
                "http.target": "/v1/items?x=1",
                "note": f"with {SECRET}",
                "list": [f"a {SECRET}", "b"],
                "raw": SECRET.encode(),
                "count": 3,
            },
            links=[trace.Link(link_context, {"why": SECRET})],
        ) as span:
            span.add_event("exception", {"exception.message": f"refused {SECRET}", "exception.stacktrace": SECRET})
            span.set_status(Status(StatusCode.ERROR, f"failed for {SECRET}"))
    finally:
        release()
    (finished,) = memory.get_finished_spans()
    assert finished.name == f"GET {MASK}"
    attributes = dict(finished.attributes)
    assert attributes["http.url"] == "https://api.example.com/v1/items"
    assert attributes["url.full"] == "https://api.example.com/x"
    assert attributes["http.target"] == "/v1/items"
    assert "url.query" not in attributes
    assert attributes["note"] == f"with {MASK}" and attributes["list"] == (f"a {MASK}", "b")
    assert attributes["raw"] == MASK.encode() and attributes["count"] == 3
    (event,) = finished.events
    assert dict(event.attributes) == {"exception.message": f"refused {MASK}", "exception.stacktrace": MASK}
    assert dict(finished.links[0].attributes) == {"why": MASK}
    assert finished.status.status_code is StatusCode.ERROR and finished.status.description == f"failed for {MASK}"
    assert finished.context.span_id == span.get_span_context().span_id


def test_spans_without_secrets_in_flight_pass_unchanged():
    provider, memory = _provider()
    with provider.get_tracer("t").start_as_current_span("plain", attributes={"k": "v"}):
        pass
    (finished,) = memory.get_finished_spans()
    assert finished.name == "plain" and dict(finished.attributes) == {"k": "v"}
    assert finished.status.status_code is StatusCode.UNSET


def test_helpers():
    assert without_query("http://h/p?q#f") == "http://h/p" and without_query("http://h/p#f?x") == "http://h/p"
    assert masked_attributes(None) == {}
    assert mask_secrets_in_flight("nothing held") == "nothing held"


def test_a_span_that_cannot_be_masked_is_not_exported():
    processor_inputs = []

    class Inner:
        def on_end(self, span):
            processor_inputs.append(span)

    class Broken:
        status = None
        name = "x"

        @property
        def events(self):
            raise RuntimeError("no events")

    MaskingSpanProcessor(Inner()).on_end(Broken())  # type: ignore[arg-type]
    assert processor_inputs == []


def test_the_tracing_setup_puts_masking_in_front_of_the_exporter(monkeypatch):
    from insightconnect_plugin_runtime import _tracing_setup

    class Plugin:
        name = "Masked"
        version = "1.0.0"

    provider = _tracing_setup._ensure_provider(Plugin(), "http://127.0.0.1:9/v1/traces")
    processors = provider._active_span_processor._span_processors  # the SDK's own list
    assert len(processors) == 1 and isinstance(processors[0], MaskingSpanProcessor)


def test_numbers_equal_to_a_numeric_credential_are_masked():
    provider, memory = _provider()
    release = _hold("48213")  # a PIN
    try:
        with provider.get_tracer("t").start_as_current_span(
            "pin",
            attributes={
                "pin": 48213,
                "pin.float": 48213.0,
                "pins": [7, 48213, 9],
                "pins.float": [48213.0, 1.5],
                "other": 48214,
                "others": [1, 2],
                "ratio": 48213.5,
                "flag": True,
            },
        ) as span:
            span.add_event("retry", {"attempt.pin": 48213, "attempt": 2})
    finally:
        release()
    (finished,) = memory.get_finished_spans()
    attributes = dict(finished.attributes)
    assert attributes["pin"] == MASK and attributes["pin.float"] == MASK
    # sequences stay homogeneous: a masked number turns the sequence into text
    assert attributes["pins"] == ("7", MASK, "9") and attributes["pins.float"] == (MASK, "1.5")
    assert attributes["other"] == 48214 and attributes["others"] == (1, 2) and attributes["flag"] is True
    assert attributes["ratio"] == MASK  # its text holds the PIN: over-masked rather than leaked
    assert dict(finished.events[0].attributes) == {"attempt.pin": MASK, "attempt": 2}
