"""Lines a plugin logs through ``structlog.get_logger(...)`` directly go where the step logger's go.

Unconfigured, structlog prints with its development renderer to stdout: in CLI mode that corrupts the
one JSON reply stdout must carry, in the cloud it is not JSON, and it never reaches ``body.log`` nor
the masking of the step's secrets. :func:`route_structlog` (called wherever the console is set up,
by the CLI and the HTTP server) configures structlog once to hand every line to the stdlib logger
``plugin`` (as ``plugin.<name>`` for named loggers), whose handlers capture it into the execution's
``body.log`` and print it on the console, masked, plain or JSON like every other step line.

``import insightconnect_plugin_runtime`` does not import structlog, and a one-shot run does not pay
for it unless the plugin uses it: when structlog is not imported yet, a small import hook configures
it right after whoever imports it first, before any of its loggers can be used. A configuration the
plugin made itself (``structlog.configure`` before the runtime's) is left alone.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import MutableMapping, Sequence
from types import ModuleType
from typing import Any

from ._after_import import waiting, when_imported
from ._logging import _RESERVED, PLUGIN_LOGGER_NAME, plugin_stdlib_logger

_lock = threading.RLock()
#: Keys structlog hands to stdlib's ``Logger.log`` itself rather than as record extras.
_LOG_KWARGS = frozenset({"exc_info", "stack_info", "stacklevel"})


def route_structlog() -> None:
    """Configure structlog now if it is imported, else as soon as something imports it."""
    module = sys.modules.get("structlog")
    if module is not None:
        _configure(module)
    elif "structlog" not in waiting():
        when_imported("structlog", _configure)


def stdlib_logger_for(name: str | None) -> logging.Logger:
    """The stdlib logger a structlog logger of ``name`` writes to: ``plugin`` or a child of it."""
    plugin = plugin_stdlib_logger()
    if not name or name == PLUGIN_LOGGER_NAME:
        return plugin
    if name.startswith(PLUGIN_LOGGER_NAME + "."):
        return logging.getLogger(name)
    return logging.getLogger(f"{PLUGIN_LOGGER_NAME}.{name}")


class PluginLoggerFactory:
    """structlog ``logger_factory``: ``get_logger(name)`` -> :func:`stdlib_logger_for` ``(name)``."""

    def __call__(self, *args: Any) -> logging.Logger:
        name = args[0] if args and isinstance(args[0], str) else None
        return stdlib_logger_for(name)


def rename_reserved_keys(logger: Any, method_name: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Key-values named like ``LogRecord`` attributes (``name``, ``message`` ...) get a ``_`` suffix,
    as the step logger does: stdlib refuses extras that would overwrite them."""
    for key in [k for k in event_dict if k in _RESERVED and k not in _LOG_KWARGS]:
        event_dict[f"{key}_"] = event_dict.pop(key)
    return event_dict


def _configure(structlog: ModuleType) -> None:
    with _lock:
        if structlog.is_configured():  # ours already, or the plugin's own choice
            return
        stdlib = structlog.stdlib
        processors: Sequence[Any] = (
            structlog.contextvars.merge_contextvars,
            stdlib.filter_by_level,
            stdlib.PositionalArgumentsFormatter(),
            rename_reserved_keys,
            stdlib.render_to_log_kwargs,
        )
        structlog.configure(
            processors=list(processors),
            logger_factory=PluginLoggerFactory(),
            wrapper_class=stdlib.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=False,  # a later reconfiguration (a plugin's, a test's) takes effect
        )
