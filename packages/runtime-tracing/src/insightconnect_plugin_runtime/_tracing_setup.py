"""Builds and installs the tracer provider, exporter and instrumentations, once per process.

Everything heavy (SDK, OTLP exporter, Flask and requests instrumentations) is imported inside the
functions here, so a disabled or absent setup never pays for it. The ``otlp`` extra supplies those
packages; without it, enabling logs one warning and tracing stays off instead of failing the worker.

Gunicorn forks workers from a master that never starts tracing, so each worker builds its own
provider (and its own batch-export thread) in ``post_fork``. Within a process the setup is
idempotent: the server hooks, ``create_post_fork`` and the lazy start from the first step may all ask.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from . import _tracing_config

log = logging.getLogger("insightconnect_plugin_runtime.telemetry")

SERVICE_PREFIX = "pif."


@dataclass
class _State:
    provider: Any = None  # the SDK provider this module installed, if any
    lazy_checked: bool = False  # the environment was consulted once from a step
    missing_extra_reported: bool = False


_state = _State()
_lock = threading.RLock()


def service_name(plugin: Any) -> str:
    """``pif.<plugin name lower-cased, spaces to underscores>``, the name the cloud expects."""
    name = str(getattr(plugin, "name", "") or "unknown")
    return SERVICE_PREFIX + name.lower().replace(" ", "_")


def has_real_provider() -> bool:
    """True when a recording provider is installed globally (ours, or one the operator set up)."""
    provider = trace.get_tracer_provider()
    return not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def start(plugin: Any, endpoint: str | None, app: Any = None) -> bool:
    """Turn tracing on if the settings say so; instrument ``app`` (Flask) when given.

    Returns whether tracing is on afterwards. Never raises: tracing must not stop a plugin.
    """
    settings = _tracing_config.resolve(endpoint)
    if not settings.enabled:
        log.debug("Tracing stays off: %s", settings.reason)
        return False
    try:
        with _lock:
            provider = _ensure_provider(plugin, settings.endpoint)
            if provider is None:
                return False
            _instrument_requests(provider)
            if app is not None:
                instrument_flask_app(app, provider)
        return True
    except Exception:
        log.warning("Tracing could not be started; continuing without it", exc_info=True)
        return False


def start_from_environment(plugin: Any) -> bool:
    """The first step of a process that has no server hooks (one-shot CLI runs) may start tracing.

    Consulted once per process: later steps only check whether a provider is installed.
    """
    with _lock:
        if _state.lazy_checked:
            return has_real_provider()
        _state.lazy_checked = True
    endpoint = _tracing_config.endpoint_from(None)
    return start(plugin, endpoint)


def instrument_flask_app(app: Any, provider: Any = None) -> None:
    """Server spans for every request; safe to call twice (the instrumentor marks the app)."""
    if getattr(app, "_is_instrumented_by_opentelemetry", False):
        return
    try:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
    except ImportError:
        _report_missing_extra()
        return
    FlaskInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        request_hook=drop_query_strings,
        # The instrumentation writes the request attributes again when the response starts.
        response_hook=lambda span, status, headers: drop_query_strings(span, None),
    )


#: URL attributes (old and new semantic conventions) that may carry a query string.
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")


def drop_query_strings(span: Any, environ: Any) -> None:
    """Keep query strings out of server spans: the runtime's API never needs them, callers may put
    credentials there, and the span is recorded before anyone knows which values are secret."""
    try:
        attributes = getattr(span, "attributes", None) or {}
        for key in _URL_ATTRIBUTES:
            value = attributes.get(key)
            if isinstance(value, str) and "?" in value:
                span.set_attribute(key, value.split("?", 1)[0])
        if attributes.get("url.query"):
            span.set_attribute("url.query", "")
    except Exception:
        log.debug("Could not drop the query string from a server span", exc_info=True)


def _ensure_provider(plugin: Any, endpoint: str | None) -> Any:
    if _state.provider is not None:
        return _state.provider
    if has_real_provider():
        # Someone (opentelemetry-instrument, a test, the plugin) already configured tracing: use it
        # rather than fight over the global, which OpenTelemetry lets be set only once.
        log.info("Tracing: using the tracer provider already installed")
        return trace.get_tracer_provider()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        _report_missing_extra()
        return None

    attributes = {"service.name": service_name(plugin), "service.version": _plugin_version(plugin)}
    if os.environ.get("OTEL_SERVICE_NAME"):
        del attributes["service.name"]  # the standard variable wins; Resource.create reads it
    provider = TracerProvider(resource=Resource.create(attributes))
    exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    from ._tracing_masking import MaskingSpanProcessor

    provider.add_span_processor(MaskingSpanProcessor(BatchSpanProcessor(exporter)))
    trace.set_tracer_provider(provider)
    _state.provider = provider
    log.info("Tracing enabled for %s, exporting to %s", service_name(plugin), endpoint or "OTEL_* settings")
    return provider


def _instrument_requests(provider: Any) -> None:
    try:
        from opentelemetry.instrumentation.requests import RequestsInstrumentor
    except ImportError:
        _report_missing_extra()
        return
    instrumentor = RequestsInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider, response_hook=_response_status)


def _response_status(span: Any, request: Any, response: Any) -> None:
    """Outgoing calls: OK below 400, ERROR from 400 on, so failing upstreams stand out."""
    from opentelemetry.trace import Status, StatusCode

    code = getattr(response, "status_code", None)
    if isinstance(code, int) and span.is_recording():
        span.set_status(Status(StatusCode.OK if code < 400 else StatusCode.ERROR))


def _plugin_version(plugin: Any) -> str:
    return str(getattr(plugin, "version", "") or "")


def _report_missing_extra() -> None:
    if not _state.missing_extra_reported:
        _state.missing_extra_reported = True
        log.warning("Tracing is configured but icon-runtime-tracing[otlp] is not installed; no spans are exported")


def reset_for_tests() -> None:
    """Shut down what ``start`` built and forget it (tests only; not part of the public surface)."""
    with _lock:
        provider, _state.provider = _state.provider, None
        _state.lazy_checked = False
        _state.missing_extra_reported = False
        if provider is not None:
            provider.shutdown()
        try:
            from opentelemetry.instrumentation.requests import RequestsInstrumentor
        except ImportError:
            return
        instrumentor = RequestsInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
