"""Step logging on structlog: captured into ``body.log`` in every mode, readable or JSON on stderr.

Steps and connections log through one structlog logger wrapping the stdlib logger ``plugin``. Which
execution a line belongs to is decided per line from a context variable, so concurrent executions never
see each other's lines, and a cached connection created by an earlier request still logs into the
current request's ``body.log``. Every captured and printed line is masked with the execution's
:class:`~insightconnect_plugin_runtime._masking.SecretMasker`.

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
from dataclasses import dataclass, field
from typing import Any

from ._masking import NO_MASKER, SecretMasker

PLUGIN_LOGGER_NAME = "plugin"
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_RECORD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


@dataclass
class Execution:
    """Log capture of one step execution."""

    level: int = logging.INFO
    masker: SecretMasker = NO_MASKER
    buffer: io.StringIO = field(default_factory=io.StringIO)
    lock: threading.Lock = field(default_factory=threading.Lock)

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
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_FIELDS and not k.startswith("_")}


def _plain_line(
    record: logging.LogRecord, formatter: logging.Formatter, with_level: bool, with_traceback: bool = True
) -> str:
    message = record.getMessage()
    extras = _extras(record)
    for name in ("request_id", "org_id", "int_id", "request_path"):
        extras.pop(name, None)
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


def _mask(text: str) -> str:
    execution = current_execution()
    return execution.masker.mask_text(text) if execution is not None else text


_console_handler: logging.Handler | None = None
_configured = threading.Lock()


def plugin_stdlib_logger() -> logging.Logger:
    logger = logging.getLogger(PLUGIN_LOGGER_NAME)
    with _configured:
        if not any(isinstance(h, _CaptureHandler) for h in logger.handlers):
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            logger.addHandler(_CaptureHandler())
    return logger


def configure_console(json_lines: bool, debug: bool = False, stream: Any = None) -> logging.Handler:
    """Install (or replace) the single stderr console handler of the ``plugin`` logger."""
    global _console_handler
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


_structlog_logger: Any = None


def step_logger() -> Any:
    """The structlog logger handed to steps and connections (kwargs, %-args, ``exception()``)."""
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
