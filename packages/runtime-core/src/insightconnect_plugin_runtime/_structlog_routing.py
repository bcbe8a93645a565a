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

from ._logging import _RESERVED, PLUGIN_LOGGER_NAME, plugin_stdlib_logger

_lock = threading.RLock()
#: Keys structlog hands to stdlib's ``Logger.log`` itself rather than as record extras.
_LOG_KWARGS = frozenset({"exc_info", "stack_info", "stacklevel"})


def route_structlog() -> None:
    """Configure structlog now if it is imported, else as soon as something imports it."""
    module = sys.modules.get("structlog")
    if module is not None:
        _configure(module)
        return
    with _lock:
        if not any(isinstance(finder, _ConfigureOnImport) for finder in sys.meta_path):
            sys.meta_path.insert(0, _ConfigureOnImport())


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


def _remove_import_hook() -> None:
    with _lock:
        sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _ConfigureOnImport)]


class _ConfigureOnImport:
    """A ``sys.meta_path`` finder: finds ``structlog`` through the other finders and configures it
    once its module has run. (Duck-typed, as the import system allows: ``importlib.abc`` costs an
    import on the one-shot path.)"""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "structlog":
            return None
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _ConfiguringLoader(spec.loader)
                return spec
        return None


class _ConfiguringLoader:
    """Delegates to structlog's own loader, then configures the freshly executed module."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _configure(module)
        _remove_import_hook()  # only now: a mere find_spec("structlog") must not use it up

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
