"""Masking at the process edge: every log handler, logging's error report and uncaught exceptions.

Installed once per process by core (the CLI, the server and the step runner ask; repeated calls are
free). From then on:

* ``logging.Handler.format`` masks the text it returns with the process-wide authority (the secrets of
  every execution in flight, see ``_in_flight``). Every standard handler that writes text (stream,
  file, syslog, queue, the ``lastResort`` handler) formats through it, whichever logger produced the
  record (the plugin's, the helpers', ``urllib3``, ``botocore``...) and whoever added the handler, so
  message, arguments, extras, tracebacks and stack information are all masked in their final form;
* ``logging.Handler.handleError`` reports a record that failed to render (an extra whose ``__str__``
  raises, an argument mismatch) with its logger, place and masked error, never its arguments;
* ``threading.excepthook`` and ``sys.excepthook`` print uncaught exceptions masked;
* ``warnings.formatwarning`` masks the text of a warning (``warnings.warn(f"... {secret}")``), which
  Python's default ``showwarning`` writes straight to stderr and ``logging.captureWarnings`` logs;
* threads and executor tasks a step starts are attributed to it (``_thread_context``).

Not covered: handlers that ship the raw record without formatting it (``SocketHandler``,
``HTTPHandler`` or a custom ``emit`` that reads ``record.msg``), and direct writes to
``sys.stdout``/``sys.stderr``: ``print``, ``traceback.print_exc()``/``print_exception()``, a
``warnings.showwarning`` the plugin replaced with one that writes the raw message, and the report of
an uncaught exception in a thread started with ``_thread.start_new_thread`` or raised in ``__del__``
(Python reports those through ``sys.unraisablehook``, which writes to stderr as is; such a thread is
not attributed to its step either, so once the step ended its secrets are not in flight). Excepthooks
a plugin installed itself are left alone.

``ICON_RUNTIME_BENCH_NO_PROCESS_MASKING=1`` skips this installation. It exists for
``bench/http_bench.py`` only, to measure what the process-wide filter costs; never set it elsewhere.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
import warnings
from typing import Any

from ._in_flight import IN_FLIGHT

BENCH_SWITCH = "ICON_RUNTIME_BENCH_NO_PROCESS_MASKING"

_installed = False
_lock = threading.Lock()


_active = False


def install() -> bool:
    """Install the process-wide masking (idempotent, thread-safe); True when it is in place."""
    global _installed, _active
    if _installed:
        return _active
    with _lock:
        if _installed:
            return _active
        _installed = True
        from .settings import flag

        if flag(BENCH_SWITCH, False):
            return False
        _patch_handlers()
        _patch_excepthooks()
        _patch_warnings()
        from . import _thread_context

        _thread_context.install()
        _active = True
    return True


def _patch_handlers() -> None:
    original_format = logging.Handler.format

    def format(self: logging.Handler, record: logging.LogRecord) -> str:  # noqa: A001 - the method's name
        return IN_FLIGHT.mask_text(original_format(self, record))

    format.__doc__ = original_format.__doc__
    logging.Handler.format = format  # type: ignore[method-assign]
    logging.Handler.handleError = report_logging_error  # type: ignore[method-assign]


def report_logging_error(self: logging.Handler, record: logging.LogRecord) -> None:
    """One masked line on stderr about a record that could not be written: which logger, where, and
    the error; never the message arguments or extras, which are what failed to render."""
    if not logging.raiseExceptions:
        return
    error = sys.exc_info()[1]
    try:
        detail = f"{type(error).__name__}: {error}" if error is not None else "unknown error"
    except Exception:
        detail = type(error).__name__
    try:
        text = (
            f"--- Logging error in {type(self).__name__}: {detail} (record of logger {record.name!r} "
            f"at {record.pathname}:{record.lineno}; its arguments are not shown) ---\n"
        )
        if sys.stderr is not None:
            sys.stderr.write(IN_FLIGHT.mask_text(text))
    except Exception:
        pass


def _masked_traceback(exc_type: Any, exc_value: Any, exc_traceback: Any) -> str:
    return IN_FLIGHT.mask_text("".join(traceback.format_exception(exc_type, exc_value, exc_traceback)))


def print_thread_exception(args: Any) -> None:
    """``threading.excepthook``: the standard report of an uncaught thread exception, masked."""
    if args.exc_type is SystemExit or sys.stderr is None:
        return
    name = args.thread.name if args.thread is not None else "unknown"
    sys.stderr.write(
        f"Exception in thread {name}:\n{_masked_traceback(args.exc_type, args.exc_value, args.exc_traceback)}"
    )
    sys.stderr.flush()


def print_uncaught_exception(exc_type: Any, exc_value: Any, exc_traceback: Any) -> None:
    """``sys.excepthook``: the standard traceback of an uncaught exception, masked."""
    if sys.stderr is not None:
        sys.stderr.write(_masked_traceback(exc_type, exc_value, exc_traceback))


def _patch_warnings() -> None:
    original_formatwarning = warnings.formatwarning

    def formatwarning(*args: Any, **kwargs: Any) -> str:
        return IN_FLIGHT.mask_text(original_formatwarning(*args, **kwargs))

    formatwarning.__doc__ = original_formatwarning.__doc__
    warnings.formatwarning = formatwarning


def _patch_excepthooks() -> None:
    if threading.excepthook is threading.__excepthook__:
        threading.excepthook = print_thread_exception
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = print_uncaught_exception
