"""OpenTelemetry tracing for InsightConnect plugins (distribution ``icon-runtime-tracing``).

Public surface, the names plugins import from ``insightconnect_plugin_runtime.telemetry``:

* ``auto_instrument(func)`` - run a function in a span named after it;
* ``with_context(context, function)`` - carry the caller's context (trace and structlog
  contextvars) into thread-pool workers;
* ``monitor_task_delay(timestamp_keys, default_delay_threshold="2d")`` - log when a task falls behind;
* ``create_post_fork(app_getter, plugin_getter, config_getter)`` and ``init_tracing(app, plugin,
  endpoint)`` - start tracing in each gunicorn worker.

Core reaches this module only through entry points: ``step_hook`` (group
``insightconnect_plugin_runtime.step_hooks``) puts every step execution in a span, and
``server_hooks`` (group ``insightconnect_plugin_runtime.server_hooks``) instruments the Flask app and
starts the exporter per worker. When tracing is off the hook returns a null context.

Importing this module loads only the OpenTelemetry API (``trace`` and ``context``); the SDK, the
OTLP exporter and the instrumentations (extra ``otlp``) load when tracing is switched on. When and
where spans are exported is decided in ``_tracing_config``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from opentelemetry import trace

from . import _tracing_config, _tracing_setup, _tracing_steps
from ._tracing_delay import monitor_task_delay

__all__ = [
    "TRACER_NAME",
    "TracingServerHooks",
    "auto_instrument",
    "create_post_fork",
    "init_tracing",
    "monitor_task_delay",
    "server_hooks",
    "step_hook",
    "with_context",
]

TRACER_NAME = _tracing_steps.TRACER_NAME

log = logging.getLogger("insightconnect_plugin_runtime.telemetry")

F = TypeVar("F", bound=Callable[..., Any])


def auto_instrument(func: F) -> F:
    """Run ``func`` inside a span named ``func.__name__``.

    The tracer is looked up per call so that functions decorated at import time still report to a
    provider installed later (in the gunicorn worker); with tracing off it is the API's no-op tracer.
    """
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with trace.get_tracer(TRACER_NAME).start_as_current_span(func.__name__):
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with trace.get_tracer(TRACER_NAME).start_as_current_span(func.__name__):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def with_context(context: contextvars.Context, function: Callable[..., Any]) -> functools.partial[Any]:
    """Bind ``function`` to ``context`` so that a thread-pool worker sees the submitter's contextvars.

    Typical use: ``executor.submit(with_context(contextvars.copy_context(), fn), arg)``. The context is
    copied again on every call, so one bound function may run in several workers at once (a
    ``Context`` cannot be entered by two threads) and a worker's changes never leak back.
    """
    return functools.partial(_run_in_copy, context, function)


def _run_in_copy(context: contextvars.Context, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return context.copy().run(function, *args, **kwargs)


def step_hook(call: Any) -> AbstractContextManager[Any]:
    """Core's step hook: a span around one step when tracing is on, a null context otherwise."""
    try:
        if _tracing_config.sdk_disabled():
            return nullcontext()
        if not (_tracing_setup.has_real_provider() or _tracing_setup.start_from_environment(call.plugin)):
            return nullcontext()
        return _tracing_steps.step_span(call, _tracing_steps.plan_span(call))
    except Exception:
        log.debug("Tracing hook could not start a span", exc_info=True)
        return nullcontext()


class TracingServerHooks:
    """Core's server hooks: Flask instrumentation at app build, exporter per gunicorn worker."""

    def init_app(self, app: Any, plugin: Any, config: Mapping[str, Any] | None) -> None:
        """Instrument the app in the master so every worker inherits it; spans flow once a worker
        has a provider (the instrumentation's tracer defers to the global one)."""
        try:
            if _tracing_config.resolve(_tracing_config.endpoint_from(config)).enabled:
                _tracing_setup.instrument_flask_app(app)
        except Exception:
            log.warning("Could not instrument the Flask app for tracing", exc_info=True)

    def post_fork(self, app: Any, plugin: Any, config: Mapping[str, Any] | None) -> None:
        """Start the provider and exporter in this worker (threads do not survive ``fork``)."""
        _tracing_setup.start(plugin, _tracing_config.endpoint_from(config), app)


server_hooks = TracingServerHooks()


def init_tracing(app: Any, plugin: Any, endpoint: str | None) -> None:
    """Start tracing for ``plugin`` (and its Flask ``app``, if any) when the settings allow it.

    Kept because plugins and server hooks call it directly. ``endpoint`` is the ``otel_tracing`` value; it is honoured
    in cloud mode, while the standard ``OTEL_EXPORTER_OTLP_*`` variables enable tracing anywhere.
    """
    _tracing_setup.start(plugin, endpoint or _tracing_config.endpoint_from(None), app)


def create_post_fork(
    app_getter: Callable[[], Any], plugin_getter: Callable[[], Any], config_getter: Callable[[], Any]
) -> Callable[[Any, Any], None]:
    """A gunicorn ``post_fork(server, worker)`` hook that starts tracing in every worker.

    The getters are called in the worker, after fork, so they see the app and config the master
    built. Errors are logged, never raised: an exception in ``post_fork`` kills the worker, and
    gunicorn would respawn it in a loop.
    """

    def post_fork(server: Any, worker: Any) -> None:
        try:
            server_hooks.post_fork(app_getter(), plugin_getter(), config_getter() or {})
        except Exception:
            log.warning("Tracing post_fork hook failed; worker continues without tracing", exc_info=True)

    return post_fork
