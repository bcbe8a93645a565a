"""A request body must arrive within a deadline, or its worker thread is given back.

gunicorn's threaded workers block in ``recv`` while a step request's body is read, with no timeout:
a client that sends the headers and then stalls (or declares a longer ``Content-Length`` than it
sends) holds one of the worker's few threads for as long as it keeps the connection open, and a
handful of such clients stop the server answering anyone. A per-``recv`` socket timeout would not
bound the whole read (gunicorn loops over many ``recv`` calls inside one ``read``, so a client
dripping a byte at a time resets it forever), so one watchdog thread per worker process keeps the
deadlines of the bodies being read and, when one passes, shuts the read side of that socket: the
blocked ``recv`` returns at once, the reader sees the body end early, and the request is answered
with a JSON 408 (the write side stays open for that answer).

The thread starts on the first guarded read, so in the worker after the fork, never in the master.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import monotonic
from typing import Any

#: Seconds a whole step request body may take to arrive (``ICON_RUNTIME_BODY_READ_SECONDS``).
DEFAULT_BODY_READ_SECONDS = 30.0


@dataclass
class _Deadline:
    at: float
    sock: Any
    active: bool = True
    fired: bool = False


class ReadWatchdog:
    """Shuts the read side of sockets whose body read outlives its deadline."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []  # (at, sequence, deadline): a min-heap
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, sock: Any, seconds: float) -> Iterator[_Deadline]:
        """Within the block, ``sock`` is cut for reading once ``seconds`` have passed; the yielded
        deadline's ``fired`` says afterwards whether that happened. Without a socket (a test client,
        another server), nothing is watched."""
        deadline = _Deadline(monotonic() + seconds, sock)
        if sock is None:
            yield deadline
            return
        with self._condition:
            heapq.heappush(self._heap, (deadline.at, next(self._sequence), deadline))
            self._start()
            self._condition.notify()
        try:
            yield deadline
        finally:
            with self._condition:
                deadline.active = False

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._watch, name="icon-body-deadline", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        with self._condition:
            while True:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)  # finished in time
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0][0] - monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                _, _, expired = heapq.heappop(self._heap)
                expired.fired = True
                try:
                    expired.sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass  # already closed by the client: the read ends on its own


#: One watchdog per worker process.
WATCHDOG = ReadWatchdog()
