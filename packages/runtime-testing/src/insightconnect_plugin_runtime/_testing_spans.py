"""Spans as an output path: when icon-runtime-tracing is installed, every step the kit runs is traced
into memory, and the finished spans' names, attributes, events (exception messages and stack traces
included) and status texts are searched for canary markers like the reply and the log are.

Spans leave the process for a collector that anyone with access to the tracing backend can read, so
a secret in a span attribute is a leak as real as one in the step log.

The kit uses the OpenTelemetry SDK (icon-runtime-tracing's ``otlp`` extra): an in-memory exporter
behind a synchronous processor, added once to the global SDK provider, or to one the kit installs
when none is set (the OpenTelemetry API allows one global provider per process, so it stays). A
provider that is not the SDK's, ``OTEL_SDK_DISABLED=true`` or a missing SDK mean no spans are
searched. Spans are attributed to a run by time: those that ended while it ran.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

_LOCK = threading.Lock()
_EXPORTERS: dict[int, Any] = {}


def tracing_installed() -> bool:
    """icon-runtime-tracing and the OpenTelemetry SDK are importable."""
    try:
        return bool(
            importlib.util.find_spec("insightconnect_plugin_runtime.telemetry")
            and importlib.util.find_spec("opentelemetry.sdk.trace")
        )
    except (ImportError, ValueError):
        return False


def _exporter() -> Any:
    """The kit's in-memory exporter on the global SDK provider (installing one if none is set)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or not tracing_installed():
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    with _LOCK:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            trace.set_tracer_provider(TracerProvider())
            provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            return None
        exporter = _EXPORTERS.get(id(provider))
        if exporter is None:
            exporter = _EXPORTERS[id(provider)] = InMemorySpanExporter()
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return exporter


def span_text(span: Any) -> str:
    """Everything a span carries that a collector stores, as one JSON text."""
    status = getattr(span, "status", None)
    return json.dumps(
        {
            "name": span.name,
            "attributes": dict(span.attributes or {}),
            "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events or ()],
            "links": [dict(link.attributes or {}) for link in getattr(span, "links", ()) or ()],
            "status": getattr(status, "description", None),
            "resource": dict(getattr(getattr(span, "resource", None), "attributes", {}) or {}),
        },
        default=str,
    )


@contextlib.contextmanager
def captured_spans() -> Iterator[list[tuple[str, str]]]:
    """Yields a list filled, when the block ends, with ``(where, text)`` of every span ended meanwhile."""
    found: list[tuple[str, str]] = []
    exporter = None
    try:
        exporter = _exporter()
    except Exception:  # tracing trouble must not fail a plugin's test; spans are then not searched
        exporter = None
    if exporter is not None and len(exporter.get_finished_spans()) > 10_000:
        exporter.clear()  # a long fuzzing session: keep memory bounded
    before = len(exporter.get_finished_spans()) if exporter is not None else 0
    try:
        yield found
    finally:
        if exporter is not None:
            spans = exporter.get_finished_spans()[before:]
            found += [(f"span {n} ({span.name})", span_text(span)) for n, span in enumerate(spans, 1)]
