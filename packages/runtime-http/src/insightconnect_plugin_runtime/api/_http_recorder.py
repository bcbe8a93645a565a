"""Keep the outgoing HTTP responses of the step running in the current context, for a failure bundle.

A failing step in production is hard to reproduce because the service answered something nobody has
a copy of. While a recording is active (:func:`recording`), every response read through
``http.client`` (which requests, urllib3 and ``urllib.request`` all end in) in the same context is
kept: method, URL, status, headers and up to ``body_limit`` bytes of the body as read off the socket.
Nothing is kept outside a recording, and the patch is a pass-through then: it is installed once, the
first time a recording starts, and only when failure bundles are switched on.

Threads the step starts are recorded too: core runs a thread or ``ThreadPoolExecutor`` task started
during a step in a copy of the step's context, this variable included, as ``asyncio.to_thread`` and
``contextvars.copy_context().run`` do. So one recording is filled from several threads at once (a lock
keeps its count right), and it is closed when the step ends: a thread that outlives its step adds
nothing while, or after, the bundle is built from it. Threads that do not start from the step's context
(a pool created before the step, ``_thread.start_new_thread``) are not recorded.

Bodies are captured raw (chunked framing and ``Content-Encoding`` included, as they were on the wire)
because urllib3 reads chunked bodies past ``HTTPResponse.read``; :func:`decoded_body` undoes both when
the bundle is written. Secrets are not handled here: the bundle writer masks everything it writes.
"""

from __future__ import annotations

import contextlib
import contextvars
import http.client
import io
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_CURRENT: contextvars.ContextVar[Recording | None] = contextvars.ContextVar("icon_http_recording", default=None)
_INSTALL_LOCK = threading.Lock()
_installed = False


@dataclass
class Exchange:
    """One response as received: ``body`` holds at most the recording's ``body_limit`` bytes."""

    method: str
    url: str
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False


class Recording:
    """The last ``max_exchanges`` responses of one step (a trigger polls for days: only the end matters)."""

    def __init__(self, max_exchanges: int = 50, body_limit: int = 64 * 1024) -> None:
        self.exchanges: deque[Exchange] = deque(maxlen=max_exchanges)
        self.body_limit = body_limit
        self.dropped = 0
        self.closed = False
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> None:
        """Keep ``exchange`` unless the step has ended; called from any thread the step started."""
        with self._lock:
            if self.closed:
                return
            if len(self.exchanges) == self.exchanges.maxlen:
                self.dropped += 1
            self.exchanges.append(exchange)

    def close(self) -> None:
        """The step has ended: what its threads read from now on is not kept."""
        with self._lock:
            self.closed = True


class _Tee:
    """Wraps a response's socket file: everything read through it is also copied (up to a limit)."""

    def __init__(self, raw: Any, exchange: Exchange, limit: int) -> None:
        self._raw = raw
        self._exchange = exchange
        self._limit = limit

    def _keep(self, data: Any) -> Any:
        if data:
            room = self._limit - len(self._exchange.body)
            if room < len(data):
                self._exchange.truncated = True
            if room > 0:
                self._exchange.body += bytes(data[:room])
        return data

    def read(self, *args: Any) -> bytes:
        return self._keep(self._raw.read(*args))

    def read1(self, *args: Any) -> bytes:
        return self._keep(self._raw.read1(*args))

    def readline(self, *args: Any) -> bytes:
        return self._keep(self._raw.readline(*args))

    def readinto(self, buffer: Any) -> int:
        count = self._raw.readinto(buffer)
        if count:
            self._keep(memoryview(buffer)[:count])
        return count

    def __getattr__(self, name: str) -> Any:  # peek, close, fileno, closed...
        return getattr(self._raw, name)


class _Buffered(io.BytesIO):
    """An error body read ahead of the plugin; closing it closes the socket file it came from."""

    def __init__(self, data: bytes, raw: Any) -> None:
        super().__init__(data)
        self._raw = raw

    def close(self) -> None:
        super().close()
        self._raw.close()


def _read_error_body(response: Any, exchange: Exchange, limit: int) -> bool:
    """Read a small error body at once: clients often raise on the status without reading it (urllib's
    ``HTTPError``), and it is what the bundle needs most. Bodies of unknown or large size are left alone."""
    if response.status < 400 or response.chunked or response.length is None or response.length > limit:
        return False
    raw = response.fp
    data = raw.read(response.length)
    exchange.body += data
    response.fp = _Buffered(data, raw)
    return True


def _url(connection: Any, target: str) -> str:
    if target.startswith(("http://", "https://")):
        return target
    scheme = "https" if isinstance(connection, http.client.HTTPSConnection) else "http"
    default = 443 if scheme == "https" else 80
    port = getattr(connection, "port", default)
    host = getattr(connection, "host", "")
    return f"{scheme}://{host}{'' if port == default else f':{port}'}{target}"


def install() -> None:
    """Patch ``http.client`` once (idempotent); outside a recording the patch only passes through."""
    global _installed
    with _INSTALL_LOCK:
        if _installed:
            return
        original_putrequest = http.client.HTTPConnection.putrequest
        original_getresponse = http.client.HTTPConnection.getresponse

        def putrequest(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if _CURRENT.get() is not None:
                self._icon_recorded_request = (method, url)
            return original_putrequest(self, method, url, *args, **kwargs)

        def getresponse(self: Any) -> Any:
            response = original_getresponse(self)
            recording = _CURRENT.get()
            if recording is not None and not recording.closed:  # a closed one: a thread outliving its step
                try:
                    method, target = getattr(self, "_icon_recorded_request", ("GET", "/"))
                    exchange = Exchange(
                        method, _url(self, target), response.status, response.reason, list(response.getheaders())
                    )
                    recording.add(exchange)
                    if response.fp is not None:
                        if not _read_error_body(response, exchange, recording.body_limit):
                            response.fp = _Tee(response.fp, exchange, recording.body_limit)
                except Exception:  # recording must never break the plugin's request
                    pass
            return response

        http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]
        http.client.HTTPConnection.getresponse = getresponse  # type: ignore[method-assign]
        _installed = True


@contextlib.contextmanager
def recording(max_exchanges: int = 50, body_limit: int = 64 * 1024) -> Iterator[Recording]:
    """Keep the responses read in this context (the step's thread and the threads it starts) while the
    block runs; the recording is closed when the block ends."""
    install()
    current = Recording(max_exchanges, body_limit)
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)
        current.close()


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """The payload of a chunked body; ``(payload, complete)``."""
    out = bytearray()
    position = 0
    while position < len(data):
        end = data.find(b"\r\n", position)
        if end < 0:
            return bytes(out), False
        try:
            size = int(data[position:end].split(b";", 1)[0], 16)
        except ValueError:
            return bytes(out), False
        if size == 0:
            return bytes(out), True
        out += data[end + 2 : end + 2 + size]
        if end + 2 + size > len(data):
            return bytes(out), False
        position = end + 2 + size + 2
    return bytes(out), False


def decoded_body(exchange: Exchange, limit: int) -> tuple[bytes, bool]:
    """The body as the plugin saw it (de-chunked, decompressed), at most ``limit`` bytes; and whether
    it is complete."""
    headers = {name.lower(): value.lower() for name, value in exchange.headers}
    data, complete = bytes(exchange.body), not exchange.truncated
    if "chunked" in headers.get("transfer-encoding", ""):
        data, whole = _dechunk(data)
        complete = complete and whole
    encoding = headers.get("content-encoding", "").strip()
    if encoding in ("gzip", "deflate", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
        try:
            inflater = zlib.decompressobj(wbits)
            data = inflater.decompress(data, limit + 1)
            complete = complete and inflater.eof and not inflater.unconsumed_tail
        except zlib.error:
            return b"", False
    if len(data) > limit:
        return data[:limit], False
    return data, complete
