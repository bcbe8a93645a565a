"""What a step prints: the console set up as ``bin/<plugin> run`` sets it up, and ``sys.stdout`` and
``sys.stderr`` (and file descriptors 1 and 2 below them) captured while the step runs, so that text a
plugin prints is searched for secrets.

A container's stdout and stderr end up in the orchestrator's logs, so a secret a plugin writes with
``print``, ``traceback.print_exc()``, a structlog ``PrintLogger`` or any other direct write is a leak
as real as one in the reply. Core masks log handlers' output but not direct writes (see core's
``console`` and its process-wide masking): the kit's oracle must see those writes as they are.

:func:`one_shot_console` installs core's console handler (``insightconnect_plugin_runtime.console``)
as a one-shot run does: plain lines (JSON in the cloud) for the ``plugin`` logger, direct ``structlog``
use routed to it, process-wide masking. Its stream is whatever ``sys.stderr`` is when a line is
written, so the console lines of a step land in the step's captured stderr.

:func:`captured_stdio` swaps ``sys.stdout``/``sys.stderr`` for switch objects while the block runs.
Concurrent captures are allowed (steps run from several threads; the fuzzer abandons a step that
outlives its budget, closing its capture with :func:`abandon`, and starts the next). A write from a
thread that entered a capture goes to that capture; a write from any other thread (threads the step
started) goes to every open capture that uses the switch written to. A switch is put back when the
last capture using it ends, and only if nobody replaced it meanwhile; an object that kept a reference
to a switch (a logger created during the step) writes to the original stream afterwards.

Below Python, fds 1 and 2 are captured too (:mod:`._testing_fd_capture`): ``os.write(1, ...)``, C
extensions and subprocesses the step starts write there, not to ``sys.stdout``. What they received
during the block is added after the ``sys`` text of the same stream (the order between the two is
not kept), so the canary search and ``StepResult.stdout``/``stderr`` see both.

Not captured: writes to a stream object taken before the step that does not end in fd 1 or 2
(under pytest, ``sys.stdout`` is pytest's own file: a ``structlog.PrintLogger()`` with no file,
configured before the step, holds it; so may a ``logging.StreamHandler`` added at import time).
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import Any

from . import _testing_fd_capture

_lock = threading.RLock()
_open: list[_Capture] = []
_mine: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar("icon_testing_stdio", default=None)
_STREAMS = ("stdout", "stderr")


class _Capture:
    """The text one captured block received on each stream."""

    def __init__(self) -> None:
        self.streams = {name: io.StringIO() for name in _STREAMS}
        self.lock = threading.Lock()
        self.switches: list[_Switch] = []
        self.thread = threading.current_thread()
        self.fds = _testing_fd_capture.FdCapture()

    def write(self, name: str, text: str) -> None:
        with self.lock:
            self.streams[name].write(text)

    def text(self, name: str) -> str:
        """What ``sys.<name>`` received, then what fd 1 or 2 received (known once the block ended)."""
        with self.lock:
            return self.streams[name].getvalue() + self.fds.text(name)


class _Switch(io.TextIOBase):
    """Stands in for ``sys.stdout`` or ``sys.stderr``: into the open captures, else the original.

    ``users`` counts the open captures that entered while it was in place; the last one to leave
    puts the original back (if the switch is still in place: pytest, for one, swaps the streams
    between tests, whatever a step abandoned by the fuzzer still holds open)."""

    def __init__(self, name: str, original: Any) -> None:
        super().__init__()
        self.name = name
        self.original = original
        self.users = 0
        self._decoder: Any = None

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        """fd 1 or 2 while they are captured (a ``subprocess`` given ``sys.stdout`` writes there and is
        captured), else the original's descriptor."""
        captured = _testing_fd_capture.fileno(self.name)
        return self.original.fileno() if captured is None else captured

    @property
    def buffer(self) -> _BinarySwitch:
        """``sys.stdout.buffer.write(b"...")``: decoded and captured like text."""
        return _BinarySwitch(self)

    def write_bytes(self, data: bytes) -> None:
        """Decode with one incremental decoder per stream: a character split across two writes (a
        ``TextIOWrapper`` over ``buffer`` flushes at any byte) is found whole, as a canary must be."""
        with _lock:
            if self._decoder is None:
                import codecs

                self._decoder = codecs.getincrementaldecoder(self.encoding)("replace")
            text = self._decoder.decode(data)
        if text:
            self.write(text)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        own = _mine.get()
        with _lock:
            using = [capture for capture in _open if self in capture.switches]
            targets = [own] if own in using else using
        if not targets:
            return self.original.write(text)
        for capture in targets:
            capture.write(self.name, text)
        return len(text)

    def flush(self) -> None:
        # Also called when an abandoned switch is collected (``IOBase.__del__`` closes it): by then
        # the original may be closed (pytest's capture file of an earlier test).
        original = self.original
        if not self.users and original is not None and not getattr(original, "closed", False):
            original.flush()


class _BinarySwitch(io.RawIOBase):
    """The ``buffer`` of a :class:`_Switch`."""

    def __init__(self, text: _Switch) -> None:
        super().__init__()
        self.text = text

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.text.write_bytes(bytes(data))
        return len(data)

    def flush(self) -> None:
        self.text.flush()


@contextlib.contextmanager
def captured_stdio() -> Iterator[_Capture]:
    """Capture what is written to ``sys.stdout`` and ``sys.stderr``, and to fds 1 and 2, during the
    block (see the module); everything is put back when it ends, also on an exception."""
    capture = _Capture()
    capture.fds.start()  # first: text Python still buffers for the descriptors goes out before
    with _lock:
        for name in _STREAMS:
            current = getattr(sys, name)
            switch = current if isinstance(current, _Switch) else _Switch(name, current)
            setattr(sys, name, switch)
            switch.users += 1
            capture.switches.append(switch)
        _open.append(capture)
    token = _mine.set(capture)
    try:
        yield capture
    finally:
        _mine.reset(token)
        _close(capture)


def _close(capture: _Capture) -> None:
    with _lock:
        if capture not in _open:  # abandoned before
            return
        _open.remove(capture)
        try:
            capture.fds.stop()
        finally:
            for switch in capture.switches:
                switch.users -= 1
                if switch.users == 0 and getattr(sys, switch.name) is switch:
                    setattr(sys, switch.name, switch.original)


def abandon(thread: threading.Thread) -> None:
    """Close the captures ``thread`` entered and has not left: the kit gave up waiting for its step
    (it outlived its budget and a thread cannot be stopped). Without this, a step polling for ever
    would keep the switches in place, and what ``bin/<plugin> check`` prints afterwards would go into
    its capture. What the step writes from now on is not captured for it."""
    with _lock:
        for capture in [capture for capture in _open if capture.thread is thread]:
            _close(capture)


class _CurrentStderr:
    """A stream that is whatever ``sys.stderr`` is at each write (the console handler's stream)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_console: logging.Handler | None = None
_console_json: bool | None = None


def one_shot_console(debug: bool = False) -> None:
    """Core's console logging as ``bin/<plugin> run`` sets it up: once, and again when another set-up
    replaced it (a test's own ``bin/<plugin> run``) or the cloud setting changed."""
    global _console, _console_json
    from insightconnect_plugin_runtime.console import PLUGIN_LOGGER_NAME, configure_console
    from insightconnect_plugin_runtime.util import is_running_in_cloud

    json_lines = is_running_in_cloud()
    with _lock:
        ours = _console is not None and _console in logging.getLogger(PLUGIN_LOGGER_NAME).handlers
        if not ours or json_lines != _console_json:
            _console = configure_console(json_lines=json_lines, debug=debug, stream=_CurrentStderr())
            _console_json = json_lines
        _console.setLevel(logging.DEBUG if debug else logging.INFO)
