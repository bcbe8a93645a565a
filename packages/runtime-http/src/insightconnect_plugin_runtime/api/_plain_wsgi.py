"""The little of werkzeug's request and response that a step request needs, without importing werkzeug.

Importing werkzeug costs a worker about 20 ms, and a cold server pays it before its first answer
when the fast path (``_fastpath``) reads steps through werkzeug. Under gunicorn a step request is
simple: gunicorn has already checked its framing (``wsgi.input_terminated``) and its Content-Length
is plain digits, so the body is the input stream up to that length. :func:`step_request` reads such
a request itself, exactly as werkzeug would, and hands anything else (a chunked body, another WSGI
server, a test client, a length werkzeug would read differently) to werkzeug's own ``Request``.

Errors keep werkzeug's types and texts: the rare paths that raise them (a client that disconnects
mid-body, a read past the limit) import werkzeug then, and
:func:`is_http_error` recognises them without importing it.

:class:`StepAnswer` is a step reply (status, JSON text or no body) that is its own WSGI app, with the
status line and headers werkzeug writes for the same reply; :meth:`StepAnswer.to_response` gives the
werkzeug response Flask's step views return. A status without a written-out werkzeug line
(:data:`PLAIN_STATUSES`) is answered through werkzeug.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

JSON_TYPE = "application/json"
#: Bytes of a reply held in a buffer (a ``bytearray`` body) handed to the server at a time.
WRITE_CHUNK_BYTES = 1024 * 1024
#: What werkzeug writes for a response without a type (``default_mimetype`` of the step replies).
_NO_BODY_TYPE = "text/html; charset=utf-8"
#: The status lines werkzeug writes for the statuses a step reply can have, written out: the standard
#: library renamed some phrases (3.13: 413 "Content Too Large", 422 "Unprocessable Content") and
#: werkzeug kept the older ones. A test checks each against werkzeug on every Python.
_STATUS_LINES = {
    200: "200 OK",
    204: "204 NO CONTENT",
    400: "400 BAD REQUEST",
    401: "401 UNAUTHORIZED",
    403: "403 FORBIDDEN",
    404: "404 NOT FOUND",
    408: "408 REQUEST TIMEOUT",
    409: "409 CONFLICT",
    413: "413 REQUEST ENTITY TOO LARGE",
    422: "422 UNPROCESSABLE ENTITY",
    429: "429 TOO MANY REQUESTS",
    500: "500 INTERNAL SERVER ERROR",
    501: "501 NOT IMPLEMENTED",
    502: "502 BAD GATEWAY",
    503: "503 SERVICE UNAVAILABLE",
    504: "504 GATEWAY TIMEOUT",
}
PLAIN_STATUSES = frozenset(_STATUS_LINES)


def is_http_error(error: BaseException) -> bool:
    """Whether ``error`` is a werkzeug ``HTTPException`` (none exists while werkzeug is not loaded)."""
    exceptions = sys.modules.get("werkzeug.exceptions")
    return exceptions is not None and isinstance(error, exceptions.HTTPException)


class _EnvironHeaders:
    """``headers.get(name, default)`` over the WSGI environ, as werkzeug's ``EnvironHeaders``."""

    __slots__ = ("_environ",)

    def __init__(self, environ: dict[str, Any]) -> None:
        self._environ = environ

    def get(self, name: str, default: Any = None) -> Any:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        return self._environ.get(key, default)


class _MaxStream:
    """gunicorn's input stream behind werkzeug's ``LimitedStream(stream, max_bytes, is_max=True)``:
    a read past ``max_bytes`` is a 413 and a failing read a disconnected client (400)."""

    __slots__ = ("_stream", "_left")

    def __init__(self, stream: Any, max_bytes: int) -> None:
        self._stream = stream
        self._left = max_bytes

    def read(self, size: int) -> bytes:
        if self._left <= 0:
            from werkzeug.exceptions import RequestEntityTooLarge

            raise RequestEntityTooLarge()
        try:
            data: bytes = self._stream.read(min(size, self._left))
        except (OSError, ValueError) as error:
            from werkzeug.exceptions import ClientDisconnected

            raise ClientDisconnected() from error
        self._left -= len(data)
        return data


class StepRequest:
    """``environ``, ``stream``, ``content_length`` and ``headers`` of a plain step request."""

    __slots__ = ("environ", "content_length", "max_content_length", "headers")

    def __init__(self, environ: dict[str, Any], content_length: int | None, max_content_length: int) -> None:
        self.environ = environ
        self.content_length = content_length
        self.max_content_length = max_content_length
        self.headers = _EnvironHeaders(environ)

    @property
    def stream(self) -> _MaxStream:
        """The body, at most ``max_content_length`` bytes (a declared length over it is refused
        by ``BodyReader`` before anything is read, with the text werkzeug's 413 gets)."""
        return _MaxStream(self.environ["wsgi.input"], self.max_content_length)


def step_request(environ: dict[str, Any], max_content_length: int) -> Any:
    """A :class:`StepRequest` when gunicorn framed the body and werkzeug would read the length as
    the plain integer it is; werkzeug's ``Request`` (with the same limit) for everything else."""
    length = environ.get("CONTENT_LENGTH")
    if (
        environ.get("wsgi.input_terminated")
        and "HTTP_TRANSFER_ENCODING" not in environ
        and (length is None or (isinstance(length, str) and length.isascii() and length.isdigit()))
    ):
        return StepRequest(environ, None if length is None else int(length), max_content_length)
    from werkzeug.wrappers import Request

    request = Request(environ)
    request.max_content_length = max_content_length
    return request


class StepAnswer:
    """A step reply: ``status`` and the JSON ``body`` (``None``: no body, as a 204).

    A ``bytearray`` body is a large reply written into the request's spent buffer (``_codec``); it is
    sent a chunk at a time, as a WSGI server takes only ``bytes`` and a copy of the whole would be the
    second buffer of the reply's size that writing it there avoided.
    """

    __slots__ = ("status", "body")

    def __init__(self, status: int, body: str | bytes | bytearray | None) -> None:
        self.status = status
        self.body = body

    def to_response(self) -> Any:
        """The same reply as the werkzeug response the Flask views return."""
        from ._responses import Response

        body = self.body
        if body is None:
            return Response(status=self.status)
        if type(body) is bytearray:
            response = Response(buffer_chunks(body), status=self.status, mimetype=JSON_TYPE)
            response.headers["Content-Length"] = str(len(body))
            return response
        return Response(body, status=self.status, mimetype=JSON_TYPE)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        line = _STATUS_LINES.get(self.status)
        if line is None:
            return self.to_response()(environ, start_response)
        body = self.body
        if body is None:
            start_response(line, [("Content-Type", _NO_BODY_TYPE)])
            return []
        data = body.encode() if isinstance(body, str) else body
        start_response(line, [("Content-Type", JSON_TYPE), ("Content-Length", str(len(data)))])
        return buffer_chunks(data) if type(data) is bytearray else [data]


def buffer_chunks(buffer: bytearray) -> Iterator[bytes]:
    """``buffer`` as ``bytes`` of :data:`WRITE_CHUNK_BYTES` at most, one copy alive at a time."""
    view = memoryview(buffer)
    try:
        for start in range(0, len(buffer), WRITE_CHUNK_BYTES):
            yield bytes(view[start : start + WRITE_CHUNK_BYTES])
    finally:
        view.release()
