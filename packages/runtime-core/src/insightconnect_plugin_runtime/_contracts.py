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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import argparse

GROUP_SERVER = "insightconnect_plugin_runtime.server"
GROUP_STEP_HOOKS = "insightconnect_plugin_runtime.step_hooks"
GROUP_SERVER_HOOKS = "insightconnect_plugin_runtime.server_hooks"
GROUP_CLI_COMMANDS = "insightconnect_plugin_runtime.cli_commands"


@dataclass
class ServerOptions:
    """What ``bin/<plugin> http`` was asked for; the server maps it onto gunicorn settings."""

    port: int = 10001
    workers: int = 1
    threads: int = 4
    worker_class: str = "sync"
    worker_connections: int = 200
    graceful_timeout: int = 30
    debug: bool = False
    bind_host: str = "0.0.0.0"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> ServerOptions:
        """Map the parsed ``http`` command line (its flag names are the reference's) onto options."""
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


@dataclass
class StepCall:
    """One execution of a step, as the step hooks see it.

    ``kind`` is ``action``, ``trigger``, ``task`` or ``connection_test``. ``carrier`` holds incoming
    transport headers (``traceparent``...) when the step was started over HTTP. Hooks must not raise.
    """

    plugin: Any
    kind: str
    name: str
    message: Mapping[str, Any]
    is_test: bool = False
    carrier: Mapping[str, str] = field(default_factory=dict)
    status: str = "running"
    error: BaseException | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    #: The execution's ``SecretMasker``: hooks apply ``masker.mask_text`` / ``masker.mask`` to
    #: anything they record (error messages, stack traces, URLs), so secrets never reach a span.
    masker: Any = None


class StepHook(Protocol):
    def __call__(self, call: StepCall) -> AbstractContextManager[Any]: ...


ServeFunction = Callable[[Any, ServerOptions], int]
