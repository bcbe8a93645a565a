"""Core's step and server hooks, as the entry points name them: free of OpenTelemetry until tracing
can be on.

Core enters every installed step hook around every step, one-shot ``run`` included. With the tracing
distribution installed (the images install the full set) but no tracing settings, importing
``telemetry`` would load the OpenTelemetry API for nothing, the largest import of a one-shot run. So
this hook first asks :mod:`_tracing_config` (environment only, no OpenTelemetry import) whether
tracing could start, and hands over to :func:`telemetry.step_hook` only when it could, or when
OpenTelemetry is already loaded (a server whose hooks set tracing up, or a plugin with its own
provider: then ``telemetry.step_hook`` decides, as before).

The server hooks work the same way for ``bin/<plugin> http``: they answer icon-runtime-http's
``needs_app(plugin, config)`` with whether tracing could start in this server, so a server that does
not trace forks its first workers before building the Flask app (and never imports OpenTelemetry),
and hand ``init_app``/``post_fork`` to :data:`telemetry.server_hooks` when it could. In cloud mode the
endpoint may arrive later with the config service's answer, so there the hooks always take part.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
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


class LazyTracingServerHooks:
    """Core's server hooks: OpenTelemetry's only when tracing could start in this server."""

    def needs_app(self, plugin: Any, config: Mapping[str, Any] | None) -> bool:
        """True when tracing may start: then the app is instrumented in the master as before."""
        if _tracing_config.sdk_disabled():
            return False
        if _tracing_config.running_in_cloud() or "opentelemetry.trace" in sys.modules:
            return True
        return _tracing_config.resolve(_tracing_config.endpoint_from(config)).enabled

    def init_app(self, app: Any, plugin: Any, config: Mapping[str, Any] | None) -> None:
        if self.needs_app(plugin, config):
            from .telemetry import server_hooks as traced_hooks

            traced_hooks.init_app(app, plugin, config)

    def post_fork(self, app: Any, plugin: Any, config: Mapping[str, Any] | None) -> None:
        if self.needs_app(plugin, config):
            from .telemetry import server_hooks as traced_hooks

            traced_hooks.post_fork(app, plugin, config)


server_hooks = LazyTracingServerHooks()
