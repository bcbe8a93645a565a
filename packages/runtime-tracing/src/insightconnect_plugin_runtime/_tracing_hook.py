"""Core's step hook, as the entry point names it: free of OpenTelemetry until tracing can be on.

Core enters every installed step hook around every step, one-shot ``run`` included. With the tracing
distribution installed (the images install the full set) but no tracing settings, importing
``telemetry`` would load the OpenTelemetry API for nothing, the largest import of a one-shot run. So
this hook first asks :mod:`_tracing_config` (environment only, no OpenTelemetry import) whether
tracing could start, and hands over to :func:`telemetry.step_hook` only when it could, or when
OpenTelemetry is already loaded (a server whose hooks set tracing up, or a plugin with its own
provider: then ``telemetry.step_hook`` decides, as before).
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from . import _tracing_config


def step_hook(call: Any) -> AbstractContextManager[Any]:
    """A span around one step when tracing is, or may be, on; a null context otherwise."""
    if "opentelemetry.trace" not in sys.modules:
        if not _tracing_config.resolve(_tracing_config.endpoint_from(None)).enabled:
            return nullcontext()
    from .telemetry import step_hook as traced_step_hook

    return traced_step_hook(call)
