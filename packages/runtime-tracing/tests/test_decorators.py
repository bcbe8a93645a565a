"""``auto_instrument`` and ``with_context``."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry import trace

from insightconnect_plugin_runtime.telemetry import auto_instrument, with_context

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


@auto_instrument
def enrich(value: int, *, factor: int = 2) -> int:
    """Doubles."""
    return value * factor


@auto_instrument
def explode() -> None:
    raise ValueError("nope")


@auto_instrument
async def fetch_async() -> str:
    return trace.get_current_span().get_span_context().span_id


def test_auto_instrument_works_without_tracing():
    assert enrich(2, factor=3) == 6
    assert enrich.__name__ == "enrich" and enrich.__doc__ == "Doubles."
    assert not trace.get_current_span().get_span_context().is_valid


def test_auto_instrument_names_the_span_after_the_function(exporter):
    with trace.get_tracer("test").start_as_current_span("outer") as outer:
        assert enrich(5) == 10
    inner = next(span for span in exporter.get_finished_spans() if span.name == "enrich")
    assert inner.parent.span_id == outer.get_span_context().span_id


def test_auto_instrument_records_exceptions(exporter):
    with pytest.raises(ValueError):
        explode()
    (span,) = exporter.get_finished_spans()
    assert span.name == "explode"
    assert span.status.status_code is trace.StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]


def test_auto_instrument_async(exporter):
    span_id = asyncio.run(fetch_async())
    (span,) = exporter.get_finished_spans()
    assert span.name == "fetch_async" and span.context.span_id == span_id


def test_with_context_carries_contextvars_into_workers():
    token = request_id.set("req-7")
    try:
        bound = with_context(contextvars.copy_context(), lambda suffix: request_id.get() + suffix)
    finally:
        request_id.reset(token)
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(bound, ["-a", "-b", "-c"])) == ["req-7-a", "req-7-b", "req-7-c"]
        assert pool.submit(request_id.get).result() == "none"


def test_with_context_copies_per_call_so_concurrent_use_is_safe():
    """One bound function entered by several threads at once would fail on a shared Context."""
    barrier = threading.Barrier(3)

    def work(n: int) -> int:
        request_id.set(f"worker-{n}")
        barrier.wait(timeout=5)
        return int(request_id.get().split("-")[1])

    bound = with_context(contextvars.copy_context(), work)
    with ThreadPoolExecutor(max_workers=3) as pool:
        assert sorted(pool.map(bound, [1, 2, 3])) == [1, 2, 3]
    assert request_id.get() == "none"  # the worker's changes stay in its copy


def test_with_context_passes_keywords_and_is_a_partial():
    import functools

    bound = with_context(contextvars.copy_context(), lambda a, b=0: a + b)
    assert isinstance(bound, functools.partial)
    assert bound(1, b=2) == 3
