"""The span around one step execution (action, trigger, task, connection test).

Naming follows the OpenTelemetry guidance for span names: ``{operation} {target}`` with low
cardinality, so ``action lookup_ip``, ``task monitor_alerts``, ``connection_test``. The span is
INTERNAL: over HTTP the Flask instrumentation already owns the SERVER span and the step nests under it.

Parent selection: the caller's ``traceparent`` (``StepCall.carrier``) is continued, except that when
the current span already belongs to that trace (the Flask server span extracted the same header) the
step nests under the current span instead of becoming its sibling.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

log = logging.getLogger("insightconnect_plugin_runtime.telemetry")

TRACER_NAME = "insightconnect_plugin_runtime.telemetry"

ATTR_STEP_NAME = "insightconnect.step.name"
ATTR_STEP_TYPE = "insightconnect.step.type"
ATTR_STEP_TEST = "insightconnect.step.test"
ATTR_STEP_STATUS = "insightconnect.step.status"
ATTR_PLUGIN_NAME = "insightconnect.plugin.name"
ATTR_ERROR_CAUSE = "insightconnect.error.cause"
ATTR_ERROR_TYPE = "error.type"  # stable semantic convention

_ATTRIBUTE_TYPES = (str, bool, int, float)


def span_name(kind: str, name: str) -> str:
    return f"{kind} {name}" if name else kind


@dataclass(frozen=True)
class SpanPlan:
    """Everything about the span that can fail to compute, worked out before the step starts."""

    name: str
    parent: otel_context.Context | None
    attributes: dict[str, Any]


def plan_span(call: Any) -> SpanPlan:
    attributes: dict[str, Any] = {
        ATTR_STEP_NAME: str(call.name or ""),
        ATTR_STEP_TYPE: str(call.kind),
        ATTR_STEP_TEST: bool(call.is_test),
    }
    plugin_name = getattr(call.plugin, "name", None)
    if isinstance(plugin_name, str) and plugin_name:
        attributes[ATTR_PLUGIN_NAME] = plugin_name
    return SpanPlan(span_name(str(call.kind), str(call.name or "")), parent_context(call.carrier), attributes)


@contextmanager
def step_span(call: Any, plan: SpanPlan) -> Iterator[Any]:
    """Open the span, hand control to the step, then record how it ended (never raising itself)."""
    with trace.get_tracer(TRACER_NAME).start_as_current_span(
        plan.name,
        context=plan.parent,
        kind=trace.SpanKind.INTERNAL,
        attributes=plan.attributes,
        record_exception=False,  # recorded below, once, whether it escaped or core caught it
        set_status_on_exception=False,
    ) as span:
        _mask_server_span(call)
        try:
            yield span
        except BaseException as exc:
            _finish(span, call, exc)
            raise
        else:
            _finish(span, call, None)


def parent_context(carrier: Mapping[str, str] | None) -> otel_context.Context | None:
    """The context to start from: ``None`` means "the current one"."""
    if not carrier:
        return None
    from opentelemetry import propagate  # loads the configured propagators on first use only

    headers = {str(key).lower(): value for key, value in carrier.items()}  # HTTP headers: any case
    extracted = propagate.extract(headers)
    remote = trace.get_current_span(extracted).get_span_context()
    if not remote.is_valid:
        return None
    current = trace.get_current_span().get_span_context()
    if current.is_valid and current.trace_id == remote.trace_id:
        return None
    return extracted


def _finish(span: Any, call: Any, escaped: BaseException | None) -> None:
    try:
        error = call.error if call.error is not None else escaped
        status = call.status
        if error is not None or escaped is not None:
            status = "error"
        elif status not in ("ok", "error"):
            status = "ok"  # core did not report; the step returned normally
        span.set_attribute(ATTR_STEP_STATUS, status)
        for key, value in (getattr(call, "attributes", None) or {}).items():
            if isinstance(value, _ATTRIBUTE_TYPES):
                span.set_attribute(str(key), value)
        if status == "error":
            _record_error(span, error, _text_masker(call))
    except Exception:  # a hook must never turn a step's outcome into a tracing failure
        log.debug("Could not record the step outcome on its span", exc_info=True)


def _text_masker(call: Any) -> Any:
    """The execution's secret masking for text (identity when core did not provide one)."""
    masker = getattr(call, "masker", None)
    return masker.mask_text if masker is not None else (lambda text: text)


def _mask_server_span(call: Any) -> None:
    """Mask the connection's secrets in the enclosing server span's attributes (URL, query, target).

    The Flask instrumentation records the request URL before the runtime has read the body that
    names the connection; the step hook is the first place that knows the secrets.
    """
    masker = getattr(call, "masker", None)
    if not masker:
        return
    try:
        parent = trace.get_current_span()
        attributes = getattr(parent, "attributes", None) or {}
        for key, value in list(attributes.items()):
            if isinstance(value, str):
                masked = masker.mask_text(value)
                if masked != value:
                    parent.set_attribute(key, masked)
    except Exception:
        log.debug("Could not mask the server span", exc_info=True)


def _record_error(span: Any, error: BaseException | None, mask: Any = None) -> None:
    mask = mask or (lambda text: text)
    if error is None:
        span.set_status(trace.Status(trace.StatusCode.ERROR))
        return
    import traceback

    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    span.add_event(
        "exception",
        {
            "exception.type": _qualified_name(type(error)),
            "exception.message": mask(str(error)),
            "exception.stacktrace": mask(stack),
            "exception.escaped": False,
        },
    )
    span.set_attribute(ATTR_ERROR_TYPE, _qualified_name(type(error)))
    cause = getattr(error, "cause", None)
    if isinstance(cause, str) and cause:
        span.set_attribute(ATTR_ERROR_CAUSE, mask(cause))
    message = mask(str(error))
    description = f"{type(error).__name__}: {message}" if message else type(error).__name__
    span.set_status(trace.Status(trace.StatusCode.ERROR, description))


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"
