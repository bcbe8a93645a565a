"""Step logging on structlog: captured into ``body.log`` in every mode, readable or JSON on stderr.

Steps and connections log through one structlog logger wrapping the stdlib logger ``plugin``. Which
execution a line belongs to is decided per line from a context variable, so concurrent executions never
see each other's lines, and a cached connection created by an earlier request still logs into the
current request's ``body.log``; threads the step starts carry its execution (``_thread_context``).
Every captured line is masked with the execution's
:class:`~insightconnect_plugin_runtime._masking.SecretMasker`; every printed line, whatever its
logger or thread, also with the secrets of every execution in flight (``_process_masking``).

The console is stderr: plain ``LEVEL message key=value`` lines for people (CLI, on-prem server), one
JSON object per line in the cloud with the request context (request id, org id, integration id, path)
bound through ``structlog.contextvars``.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ._masking import NO_MASKER, SecretMasker

PLUGIN_LOGGER_NAME = "plugin"
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_REQUEST_CONTEXT = frozenset({"request_id", "org_id", "int_id", "request_path"})
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class Execution:
    """Log capture of one step execution (a plain class: ``dataclasses`` imports ``inspect``, which
    costs a one-shot run more than its step)."""

    def __init__(
        self,
        level: int = logging.INFO,
        masker: SecretMasker = NO_MASKER,
        buffer: io.StringIO | None = None,
        lock: threading.Lock | None = None,
    ) -> None:
        self.level = level
        self.masker = masker
        self.buffer = buffer if buffer is not None else io.StringIO()
        self.lock = lock if lock is not None else threading.Lock()

    def write(self, text: str) -> None:
        with self.lock:
            self.buffer.write(text)

    def text(self) -> str:
        with self.lock:
            return self.buffer.getvalue()

    def take(self) -> str:
        """The log since the last ``take`` (trigger events carry only their own lines)."""
        with self.lock:
            text = self.buffer.getvalue()
            self.buffer = io.StringIO()
        return _UNPRINTABLE.sub("", text)


_current: contextvars.ContextVar[Execution | None] = contextvars.ContextVar("icon_execution", default=None)
_active_by_id: dict[int, Execution] = {}
_active_lock = threading.Lock()


def current_execution() -> Execution | None:
    """The execution of this context; a lone active execution adopts lines from plugin threads."""
    execution = _current.get()
    if execution is not None:
        return execution
    with _active_lock:
        if len(_active_by_id) == 1:
            return next(iter(_active_by_id.values()))
    return None


@contextmanager
def capture(execution: Execution) -> Iterator[Execution]:
    token = _current.set(execution)
    with _active_lock:
        _active_by_id[id(execution)] = execution
    try:
        yield execution
    finally:
        with _active_lock:
            _active_by_id.pop(id(execution), None)
        _current.reset(token)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """Key-value fields of a record, computed once per record however many handlers format it."""
    cached = record.__dict__.get("_icon_extras")
    if cached is None:
        cached = {k: v for k, v in record.__dict__.items() if k not in _RECORD_FIELDS and not k.startswith("_")}
        record.__dict__["_icon_extras"] = cached
    return cached


def _plain_line(
    record: logging.LogRecord, formatter: logging.Formatter, with_level: bool, with_traceback: bool = True
) -> str:
    message = record.getMessage()
    extras = {k: v for k, v in _extras(record).items() if k not in _REQUEST_CONTEXT}
    if extras:
        message += " " + " ".join(f"{k}={v}" for k, v in extras.items())
    if with_level:
        message = f"{record.levelname:<8} {message}"
    if record.exc_info and with_traceback:
        message += "\n" + formatter.formatException(record.exc_info)
    return message


class _CaptureHandler(logging.Handler):
    """Writes each ``plugin`` line into the owning execution's log, masked."""

    def emit(self, record: logging.LogRecord) -> None:
        execution = current_execution()
        if execution is None or record.levelno < execution.level:
            return
        try:
            # Tracebacks go to the console only: replies carry the error, not the runtime's internals.
            line = _plain_line(record, self.formatter or logging.Formatter(), with_level=False, with_traceback=False)
            execution.write(execution.masker.mask_text(line) + "\n")
        except Exception:
            self.handleError(record)


class PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return _mask(_plain_line(record, self, with_level=True))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, message, logger, context and extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return _mask(json.dumps(payload, default=str))


_edge_masking = False


def _mask(text: str) -> str:
    if _edge_masking:
        return text  # logging.Handler.format masks every handler's output (see _process_masking)
    execution = current_execution()
    return execution.masker.mask_text(text) if execution is not None else text


_console_handler: logging.Handler | None = None
_configured = threading.Lock()


def plugin_stdlib_logger() -> logging.Logger:
    global _edge_masking
    from ._process_masking import install

    # Every handler of the process masks its output from now on (once; then free), with the secrets
    # of every execution in flight: the formatters below need not mask a second time.
    _edge_masking = install()
    logger = logging.getLogger(PLUGIN_LOGGER_NAME)
    with _configured:
        if not any(isinstance(h, _CaptureHandler) for h in logger.handlers):
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(_CaptureHandler())
    return logger


def configure_console(json_lines: bool, debug: bool = False, stream: Any = None) -> logging.Handler:
    """Install (or replace) the single stderr console handler of the ``plugin`` logger.

    Also routes direct ``structlog`` use to the same logger (see ``_structlog_routing``).
    """
    global _console_handler
    from ._structlog_routing import route_structlog

    route_structlog()
    logger = plugin_stdlib_logger()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if json_lines else PlainFormatter())
    handler.setLevel(logging.DEBUG if debug else logging.INFO)
    with _configured:
        if _console_handler is not None:
            logger.removeHandler(_console_handler)
        logger.addHandler(handler)
        _console_handler = handler
    return handler


_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_METHOD_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "msg": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class StepLogger:
    """The logger handed to steps and connections: structlog's ``BoundLogger`` interface.

    The calls plugins make (``info("x %s", y, key=value)``, ``exception(...)``, ``bind``) are rendered
    here exactly as the structlog chain would (positional arguments formatted, key-values and
    ``structlog.contextvars`` as extras), so a one-shot run does not pay for importing structlog
    (about a fifth of its time); any other attribute is served by a real structlog ``BoundLogger``
    over the same stdlib logger, imported on first use.
    """

    __slots__ = ("_stdlib", "_context")

    def __init__(self, stdlib: logging.Logger, context: dict[str, Any] | None = None) -> None:
        self._stdlib = stdlib
        self._context = context or {}

    def _log(self, level: int, event: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self._stdlib.isEnabledFor(level):
            return
        exc_info = kwargs.pop("exc_info", None)
        stack_info = bool(kwargs.pop("stack_info", False))
        if args:
            mapping = args[0] if len(args) == 1 and isinstance(args[0], dict) else args
            try:
                event = str(event) % mapping
            except (TypeError, ValueError):
                event = " ".join([str(event), *map(str, args)])
        extra: dict[str, Any] = {}
        contextvars_module = sys.modules.get("structlog.contextvars")
        if contextvars_module is not None:
            extra.update(contextvars_module.get_contextvars())
        extra.update(self._context)
        extra.update(kwargs)
        safe = {(f"{key}_" if key in _RESERVED else key): value for key, value in extra.items()}
        self._stdlib.log(level, "%s", event, exc_info=exc_info, stack_info=stack_info, extra=safe, stacklevel=3)

    def debug(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(logging.DEBUG, event, args, kwargs)

    def info(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(logging.INFO, event, args, kwargs)

    msg = info

    def warning(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(logging.WARNING, event, args, kwargs)

    warn = warning

    def error(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(logging.ERROR, event, args, kwargs)

    def exception(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("exc_info", True)
        self._log(logging.ERROR, event, args, kwargs)

    def critical(self, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(logging.CRITICAL, event, args, kwargs)

    fatal = critical

    def log(self, level: int, event: Any = None, *args: Any, **kwargs: Any) -> None:
        self._log(level, event, args, kwargs)

    def bind(self, **values: Any) -> StepLogger:
        return StepLogger(self._stdlib, {**self._context, **values})

    def new(self, **values: Any) -> StepLogger:
        return StepLogger(self._stdlib, dict(values))

    def unbind(self, *keys: str) -> StepLogger:
        missing = [key for key in keys if key not in self._context]
        if missing:
            raise KeyError(missing[0])
        return self.try_unbind(*keys)

    def try_unbind(self, *keys: str) -> StepLogger:
        return StepLogger(self._stdlib, {k: v for k, v in self._context.items() if k not in keys})

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - stdlib spelling, as structlog offers it
        return self._stdlib.isEnabledFor(level)

    def __getattr__(self, name: str) -> Any:
        return getattr(_structlog_bound_logger().bind(**self._context), name)


_structlog_logger: Any = None
_step_logger: StepLogger | None = None


def step_logger() -> StepLogger:
    """The logger handed to steps and connections (see :class:`StepLogger`)."""
    global _step_logger
    if _step_logger is None:
        _step_logger = StepLogger(plugin_stdlib_logger())
    return _step_logger


def _structlog_bound_logger() -> Any:
    """A real structlog logger over the ``plugin`` stdlib logger, for the less common calls."""
    global _structlog_logger
    if _structlog_logger is None:
        import structlog

        _structlog_logger = structlog.wrap_logger(
            plugin_stdlib_logger(),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.stdlib.render_to_log_kwargs,
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
            context_class=dict,
            cache_logger_on_first_use=True,
        )
    return _structlog_logger
