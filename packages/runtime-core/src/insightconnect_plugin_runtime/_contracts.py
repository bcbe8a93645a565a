"""The contracts between core and the distributions that plug into it through entry points.

Entry-point groups (all prefixed with the import package name):

``insightconnect_plugin_runtime.server``
    One entry named ``http``: a callable ``serve(plugin, options: ServerOptions) -> int`` that runs
    the plugin as an HTTP server until it stops and returns the process exit code. ``bin/<plugin>
    http`` calls it; core parses the options so that the server's dependencies load only when used.

``insightconnect_plugin_runtime.step_hooks``
    Any number of entries, each a callable ``hook(call: StepCall) -> ContextManager``. Core enters
    every hook's context manager around each step execution (action, trigger, task, connection test)
    and fills in ``call.status`` / ``call.error`` before leaving it. Tracing uses this.

``insightconnect_plugin_runtime.server_hooks``
    Any number of entries, each an object with optional methods ``init_app(app, plugin, config)``
    (called once when the Flask app is built) and ``post_fork(app, plugin, config)`` (called in every
    gunicorn worker after fork). Tracing uses this to instrument Flask and set up exporters per worker.

``insightconnect_plugin_runtime.cli_commands``
    Any number of entries; the entry's name is a sub-command of ``bin/<plugin>`` (a name core already
    uses is ignored). The object has ``help`` (one line), optional ``add_arguments(parser)`` and
    ``run(plugin, args) -> int`` (the exit code). They are loaded only when the command line does not
    name a built-in command, so ``run`` and ``http`` never import them. icon-runtime-testing adds
    ``check`` this way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import argparse

GROUP_SERVER = "insightconnect_plugin_runtime.server"
GROUP_STEP_HOOKS = "insightconnect_plugin_runtime.step_hooks"
GROUP_SERVER_HOOKS = "insightconnect_plugin_runtime.server_hooks"
GROUP_CLI_COMMANDS = "insightconnect_plugin_runtime.cli_commands"


_REQUIRED: Any = object()


class _Record:
    """Fields with defaults, a positional-or-keyword constructor, equality and ``repr``: what
    ``@dataclass`` gave these classes, without importing ``dataclasses`` (and with it ``inspect``),
    which cost a one-shot run more than its step. A ``dict`` default is a new dict per instance."""

    _fields: ClassVar[tuple[tuple[str, Any], ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = [name for name, _ in self._fields]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments")
        unknown = set(kwargs) - set(names)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {sorted(unknown)}")
        for (name, default), index in zip(self._fields, range(len(names)), strict=True):
            if index < len(args):
                if name in kwargs:
                    raise TypeError(f"{type(self).__name__} got two values for {name!r}")
                value = args[index]
            elif name in kwargs:
                value = kwargs[name]
            elif default is _REQUIRED:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
            else:
                value = {} if type(default) is dict else default
            setattr(self, name, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name, _ in self._fields)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name, _ in self._fields)
        return f"{type(self).__name__}({shown})"


class ServerOptions(_Record):
    """What ``bin/<plugin> http`` was asked for; the server maps it onto gunicorn settings."""

    port: int
    workers: int
    threads: int
    worker_class: str
    worker_connections: int
    graceful_timeout: int
    debug: bool
    bind_host: str
    extra: dict[str, Any]
    _fields = (
        ("port", 10001),
        ("workers", 1),
        ("threads", 4),
        ("worker_class", "sync"),
        ("worker_connections", 200),
        ("graceful_timeout", 30),
        ("debug", False),
        ("bind_host", "0.0.0.0"),
        ("extra", {}),
    )

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> ServerOptions:
        """Map the parsed ``http`` command line onto options (its flag names are the contract's: images pass them)."""
        options = {field: getattr(args, flag) for field, flag in _FLAG_FOR_OPTION.items()}
        return cls(**options, debug=bool(args.debug or getattr(args, "http_debug", False)))


#: ServerOptions field -> argparse destination of the ``http`` sub-command.
_FLAG_FOR_OPTION = {
    "port": "port",
    "workers": "process_workers",
    "threads": "threads_per_worker",
    "worker_class": "worker_class",
    "worker_connections": "worker_connections",
    "graceful_timeout": "graceful_timeout",
    "bind_host": "bind",
}


class StepCall(_Record):
    """One execution of a step, as the step hooks see it.

    ``kind`` is ``action``, ``trigger``, ``task`` or ``connection_test``. ``carrier`` holds incoming
    transport headers (``traceparent``...) when the step was started over HTTP. Hooks must not raise.
    ``masker`` is the execution's ``SecretMasker``: hooks apply ``masker.mask_text`` /
    ``masker.mask`` to anything they record (error messages, stack traces, URLs), so secrets never
    reach a span.
    """

    plugin: Any
    kind: str
    name: str
    message: Mapping[str, Any]
    is_test: bool
    carrier: Mapping[str, str]
    status: str
    error: BaseException | None
    attributes: dict[str, Any]
    masker: Any
    _fields = (
        ("plugin", _REQUIRED),
        ("kind", _REQUIRED),
        ("name", _REQUIRED),
        ("message", _REQUIRED),
        ("is_test", False),
        ("carrier", {}),
        ("status", "running"),
        ("error", None),
        ("attributes", {}),
        ("masker", None),
    )


class StepHook(Protocol):
    def __call__(self, call: StepCall) -> AbstractContextManager[Any]: ...


ServeFunction = Callable[[Any, ServerOptions], int]
