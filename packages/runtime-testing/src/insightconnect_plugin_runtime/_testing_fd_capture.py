"""What a step writes to file descriptors 1 and 2 below Python: ``os.write(1, ...)``, C extensions,
and subprocesses that inherit the descriptors.

In a container those descriptors are the orchestrator's logs, so a secret written there is a leak
even though ``sys.stdout`` never saw it. Swapping ``sys.stdout`` (:mod:`._testing_output`) cannot see
such writes; pointing the descriptors themselves at a temporary file can, as pytest's ``capfd`` does:
``dup`` keeps the descriptor that was there, ``dup2`` puts the file in its place, and the kept one is
put back when the capture ends, also when the step raised.

One redirection per descriptor is shared by every open capture (steps run from several threads, and
a descriptor is process-wide): the first capture to open it redirects, the last one to end puts the
descriptor back, and only if it still points at the file (pytest, for one, points fds 1 and 2 at its
own files between tests, whatever a step abandoned by the fuzzer still holds open). Each capture
reads what the file received between its own start and end, so a write below Python made while two
steps run is found in both: over-attributing is accepted, missing a leak is not.

Python's own buffered streams on those descriptors (``sys.__stdout__``, ``sys.__stderr__``) are
flushed when the redirection starts and before each capture reads, so text written before the step is
not blamed on it and text the step left in a buffer is found. The kept descriptor and the file's get
numbers above 2, so that a closed fd 1 or 2 is not taken by them. Off where ``os.pread`` is missing
(Windows), and for a descriptor that is not open (nothing can be written there either).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading

_lock = threading.Lock()


def _flush_python_streams() -> None:
    for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)}.values():
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError, AttributeError):  # closed or odd streams: nothing to flush
            pass


def _same_file(fd: int, file_fd: int) -> bool:
    try:
        here, ours = os.fstat(fd), os.fstat(file_fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (ours.st_dev, ours.st_ino)


def _high_dup(fd: int) -> int:
    """A copy of ``fd`` numbered 3 or more, closed on exec: when fd 1 or 2 is closed, a plain ``dup``
    or a new file would take its number and then be redirected over by the other capture."""
    import fcntl

    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)


class _Tap:
    """Descriptor ``fd`` pointed at one temporary file while any capture uses it."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.users = 0
        self.saved = -1  # the descriptor that was at ``fd``, kept while redirected
        self.file = -1  # our own descriptor of the temporary file

    def open(self) -> int | None:
        """Join the redirection (starting it if needed); the file offset to read from, or ``None``."""
        with _lock:
            if self.users == 0 and not self._start():
                return None
            self.users += 1
            return os.fstat(self.file).st_size

    def _start(self) -> bool:
        if not hasattr(os, "pread"):
            return False
        _flush_python_streams()
        try:
            saved = _high_dup(self.fd)
        except OSError:  # the descriptor is not open: nothing can be written there
            return False
        with tempfile.TemporaryFile() as made:
            file = _high_dup(made.fileno())
        os.dup2(file, self.fd)
        self.saved, self.file = saved, file
        return True

    def read_from(self, start: int) -> bytes:
        """What the descriptor received since ``start`` (Python's buffers on it flushed first)."""
        _flush_python_streams()
        with _lock:
            end = os.fstat(self.file).st_size
            return os.pread(self.file, end - start, start)

    def close(self) -> None:
        """Leave the redirection; the last capture to leave puts the descriptor back."""
        with _lock:
            self.users -= 1
            if self.users > 0:
                return
            saved, file = self.saved, self.file
            self.saved = self.file = -1
            try:
                if _same_file(self.fd, file):  # nobody pointed it elsewhere meanwhile
                    os.dup2(saved, self.fd)
            finally:
                os.close(saved)
                os.close(file)

    @property
    def active(self) -> bool:
        return self.users > 0


TAPS = {"stdout": _Tap(1), "stderr": _Tap(2)}


class FdCapture:
    """One capture's view of fds 1 and 2: its start offsets in the shared files, and the text read at
    :meth:`stop` (decoded as UTF-8, undecodable bytes replaced)."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}
        self.texts: dict[str, str] = {}

    def start(self) -> None:
        try:
            for name, tap in TAPS.items():
                offset = tap.open()
                if offset is not None:
                    self.starts[name] = offset
        except BaseException:  # no descriptor may stay redirected for a capture that never started
            self.stop()
            raise

    def stop(self) -> None:
        """Read what each descriptor received, then leave the redirections (once; safe to repeat)."""
        starts, self.starts = self.starts, {}
        failed: list[Exception] = []
        for name, start in starts.items():  # every descriptor is left, whatever happened to another
            tap = TAPS[name]
            try:
                try:
                    self.texts[name] = tap.read_from(start).decode("utf-8", "replace")
                finally:
                    tap.close()
            except Exception as error:
                failed.append(error)
        if failed:
            raise failed[0]

    def text(self, name: str) -> str:
        return self.texts.get(name, "")


def fileno(name: str) -> int | None:
    """The descriptor number of ``name`` while it is redirected (what a ``subprocess`` given
    ``sys.stdout`` should write to, so that it is captured), else ``None``."""
    tap = TAPS[name]
    return tap.fd if tap.active else None
