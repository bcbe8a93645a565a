"""Decides whether tracing is on, and where spans go, from settings and the environment.

Kept free of OpenTelemetry imports so that asking "is tracing on?" costs nothing when it is off.

Rules, in order:

1. ``OTEL_SDK_DISABLED=true`` switches tracing off whatever else is set (the SDK's own switch).
2. The runtime's ``otel_tracing`` endpoint (environment variable of that exact name, which wins over the
   server's config, which comes from CPS) turns tracing on **in cloud mode only**
   (``PLUGIN_RUNTIME_ENVIRONMENT=cloud``). On-prem deployments never traced with this setting, and
   an endpoint inherited from a cloud image must not start exporting on a customer's host.
3. The standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables turn
   tracing on in any mode: an operator who sets them asked for traces explicitly. The exporter then
   reads them itself (and the other ``OTEL_EXPORTER_OTLP_*`` variables), so the usual
   ``/v1/traces`` suffixing rules apply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The setting's name, both as a key of the server config and as an environment variable.
OTEL_ENDPOINT = "otel_tracing"

_STANDARD_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


@dataclass(frozen=True)
class TracingSettings:
    """The outcome of resolution. ``endpoint`` is ``None`` when the exporter should read ``OTEL_*``."""

    enabled: bool
    endpoint: str | None = None
    reason: str = ""


def sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def running_in_cloud() -> bool:
    """Core's own test (read on every call), so tracing and the runtime never disagree on the mode."""
    from insightconnect_plugin_runtime.util import is_running_in_cloud

    return is_running_in_cloud()


def endpoint_from(config: Mapping[str, Any] | None) -> str | None:
    """The ``otel_tracing`` endpoint: the environment variable first, then the server config."""
    value = os.environ.get(OTEL_ENDPOINT)
    if not value and config:
        try:
            value = config.get(OTEL_ENDPOINT)
        except AttributeError:  # a non-mapping config is ignored rather than fatal
            value = None
    if not value:
        return None
    return str(value).strip() or None


def resolve(endpoint: str | None) -> TracingSettings:
    """Apply the module rules to an already chosen ``otel_tracing`` endpoint (or ``None``)."""
    if sdk_disabled():
        return TracingSettings(False, reason="OTEL_SDK_DISABLED is true")
    if endpoint and running_in_cloud():
        return TracingSettings(True, endpoint=endpoint, reason="otel_tracing endpoint in cloud mode")
    for name in _STANDARD_ENDPOINT_VARS:
        if os.environ.get(name, "").strip():
            return TracingSettings(True, endpoint=None, reason=f"{name} is set")
    if endpoint:
        return TracingSettings(False, reason="otel_tracing is only honoured in cloud mode")
    return TracingSettings(False, reason="no tracing endpoint configured")
