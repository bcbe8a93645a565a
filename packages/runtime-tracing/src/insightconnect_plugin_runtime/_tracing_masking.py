"""Spans leave the process masked: every string the exporter would send goes through core's
process-wide masking authority first, and URL query strings are dropped.

A span processor placed in front of the batch processor: when a span ends (in the thread that ran
the step or made the outgoing request, while the step's secrets are still registered) it builds a
masked copy of the finished span (name, attributes, event attributes such as exception messages and
stack traces, link attributes and status description) and hands that copy on. Numbers (and
sequences of numbers) whose text holds a secret, such as a PIN, are replaced by the mask string. This covers every
instrumentation (requests, urllib3, Flask, the plugin's own spans) without knowing their attributes.
URL attributes keep scheme, host and path only, on client spans as on server spans: an API key in a
query string is often not a connection secret (a token obtained at run time) and nothing needs it.

Only the provider this package builds is wrapped; a provider the operator installed keeps its own
processors (the step hook still masks the step and server spans).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import Link, Status

from insightconnect_plugin_runtime.util import mask_secrets_in_flight

log = logging.getLogger("insightconnect_plugin_runtime.telemetry")

#: URL attributes (old and new semantic conventions) that may carry a query string.
URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
QUERY_ATTRIBUTES = ("url.query",)


def without_query(url: str) -> str:
    return url.split("?", 1)[0].split("#", 1)[0]


MASK = "********"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _masked_number(value: int | float) -> int | float | str:
    """The mask when the number's text (or, for an integral float, its integer's text) holds an
    in-flight secret: a numeric credential (a PIN) set as an attribute would otherwise be exported."""
    texts = [str(value)]
    if isinstance(value, float) and value.is_integer():
        texts.append(str(int(value)))
    return MASK if any(mask_secrets_in_flight(text) != text for text in texts) else value


def _masked_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_secrets_in_flight(value)
    if isinstance(value, bytes):
        return mask_secrets_in_flight(value.decode("utf-8", "replace")).encode()
    if _is_number(value):
        return _masked_number(value)
    if isinstance(value, (list, tuple)):
        items = tuple(_masked_value(item) for item in value)
        if any(_is_number(item) for item in value) and MASK in items:
            # attribute sequences must be homogeneous: a masked number turns them all into text
            return tuple(item if isinstance(item, str) else str(item) for item in items)
        return items
    return value


def masked_attributes(attributes: Any) -> dict[str, Any]:
    masked = {}
    for key, value in (attributes or {}).items():
        if key in QUERY_ATTRIBUTES:
            continue
        if key in URL_ATTRIBUTES and isinstance(value, str):
            value = without_query(value)
        masked[mask_secrets_in_flight(key)] = _masked_value(value)
    return masked


def masked_span(span: ReadableSpan) -> ReadableSpan:
    """A copy of a finished span with every string masked and query strings dropped."""
    status = span.status
    if status is not None and status.description:
        status = Status(status.status_code, mask_secrets_in_flight(status.description))
    events = [
        Event(mask_secrets_in_flight(event.name), masked_attributes(event.attributes), event.timestamp)
        for event in span.events
    ]
    links = [Link(link.context, masked_attributes(link.attributes)) for link in span.links]
    return ReadableSpan(
        name=mask_secrets_in_flight(span.name),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=masked_attributes(span.attributes),
        events=events,
        links=links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class MaskingSpanProcessor(SpanProcessor):
    """Masks each finished span, then passes it to ``inner`` (the batch processor)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            copy = masked_span(span)
        except Exception:  # never export what could not be masked
            log.debug("A span could not be masked and was not exported", exc_info=True)
            return
        self.inner.on_end(copy)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
