"""Read and decode a step request body, turning every way it can be wrong into a client error.

An unbounded read lets one request take any amount of memory, and nesting deep enough to overflow the
parser's recursion would be a 500 for what is the client's error. So the body is read with a bound
(``ICON_RUNTIME_MAX_BODY_BYTES``, 413 beyond it), must be UTF-8 (400 otherwise), must be JSON (400) and
is measured before it is parsed (``_limits``: nesting depth 400, container and value counts 413). The
Content-Type header is not required to say JSON (``curl -d`` and older orchestrators send
``application/x-www-form-urlencoded`` or nothing): the body itself decides.
"""

from __future__ import annotations

import json
from typing import Any

from ._codec import fast_codec, loads_plain
from ._limits import LimitExceeded, RequestLimits, check_json_cost, too_deep

#: Size of one read from the request stream.
READ_CHUNK_BYTES = 1024 * 1024
#: Bodies at least this large lend their buffer to the reply (``load_spare``); a smaller one is not
#: worth sending its reply a chunk at a time.
SPARE_MIN_BYTES = 1024 * 1024


class BodyError(Exception):
    """The request body cannot be a message; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyReader:
    """Decodes request bodies with the limits read once at start-up."""

    def __init__(self, limits: RequestLimits | None = None, decoder: Any = None) -> None:
        self.limits = limits or RequestLimits()
        self.max_bytes = self.limits.max_body_bytes
        self.decoder = decoder

    def load(self, stream: Any, content_length: int | None) -> Any:
        """Read, check and parse one message; the raw bytes are let go after the parse."""
        return self.decode(self.read(stream, content_length))

    def load_spare(self, stream: Any, content_length: int | None) -> tuple[Any, bytearray | None]:
        """Like :meth:`load`, with the body's buffer when it is large and msgspec parsed it (nothing
        refers to it any more): room for the reply to be written into instead of a new buffer."""
        spare: list[bytearray] = []
        message = self.decode(self.read(stream, content_length), spare)  # read's buffer passed on, not held
        return message, (spare[0] if spare else None)

    @property
    def too_large_message(self) -> str:
        return f"The request body is larger than the limit of {self.max_bytes} bytes."

    def check_length(self, content_length: int | None) -> None:
        if content_length is not None and content_length > self.max_bytes:
            raise BodyError(413, self.too_large_message)

    def read(self, stream: Any, content_length: int | None) -> bytearray:
        """Read at most the limit (+1 byte to notice a longer chunked body).

        The body is read in chunks into one ``bytearray``, allocated once when the length is declared:
        a single large ``read`` makes the server's stream buffer the whole body and then copy it, and
        a growing buffer is copied as it grows, both about twice the memory at the peak. A stream with
        ``readinto`` (werkzeug's) fills that buffer in place: its ``read`` would allocate each chunk
        twice and copy it twice more on its way in.
        """
        self.check_length(content_length)
        limit = self.max_bytes + 1
        if content_length is not None and hasattr(stream, "readinto"):
            return self._read_into(stream, content_length)  # within the limit: check_length passed
        # Stop at the declared length when there is one; a chunked body is read up to the limit.
        wanted = min(limit, content_length) if content_length is not None else limit
        data = bytearray(wanted if content_length is not None else 0)
        size = 0
        while size < wanted:
            chunk = stream.read(min(READ_CHUNK_BYTES, wanted - size))
            if not chunk:
                break
            data[size : size + len(chunk)] = chunk
            size += len(chunk)
        del data[size:]  # a body shorter than it declared
        if size > self.max_bytes:
            raise BodyError(413, self.too_large_message)
        return data

    @staticmethod
    def _read_into(stream: Any, wanted: int) -> bytearray:
        """A body of declared length, read in place."""
        data = bytearray(wanted)
        size = 0
        view = memoryview(data)
        try:
            while size < wanted:
                count = stream.readinto(view[size : size + min(READ_CHUNK_BYTES, wanted - size)])
                if not count:
                    break
                size += count
        finally:
            view.release()
        if size < wanted:  # a body shorter than it declared (a copy: a stream may still hold a slice)
            data = data[:size]
        return data

    def text(self, data: bytes | bytearray) -> str:
        """The body as text, checked against the depth and count limits before anything is parsed."""
        self._refuse_empty(data)
        text = self._utf8(data)
        self._measure(data)
        return text

    @staticmethod
    def _refuse_empty(data: bytes | bytearray) -> None:
        if not data or data.isspace():  # isspace, not strip: no copy of a large body
            raise BodyError(400, "The request body is empty: send one JSON message.")

    @staticmethod
    def _utf8(data: bytes | bytearray) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BodyError(400, f"The request body is not valid UTF-8 (byte {error.start}).") from None

    def _measure(self, data: bytes | bytearray) -> None:
        try:
            check_json_cost(data, self.limits)  # the bytes: structural characters are ASCII
        except LimitExceeded as error:
            raise BodyError(error.status, str(error)) from None

    def parse(self, text: str) -> Any:
        try:
            return json.loads(text, cls=self.decoder) if self.decoder else json.loads(text)
        except RecursionError:  # a custom decoder may recurse more per level than the stdlib one
            raise BodyError(400, str(too_deep(self.limits.max_json_depth))) from None
        except ValueError as error:
            raise BodyError(400, f"The request body is not valid JSON: {error}") from None

    def decode(self, data: bytes | bytearray, spare: list[bytearray] | None = None) -> Any:
        """Check and parse bytes: the same checks in the same order either way, then msgspec parses
        plain JSON straight from the bytes (no text copy), and ``json`` everything else (``_codec``).
        A large ``bytearray`` msgspec parsed is appended to ``spare`` (:meth:`load_spare`)."""
        if self.decoder is not None or not fast_codec():
            text = self.text(data)
        else:
            self._refuse_empty(data)
            if not data.isascii():
                self._utf8(data)  # only to refuse invalid UTF-8 first, as the text path does
            self._measure(data)
            parsed, value = loads_plain(data)
            if parsed:
                if spare is not None and type(data) is bytearray and len(data) >= SPARE_MIN_BYTES:
                    spare.append(data)
                return value
            text = self._utf8(data)
        del data  # the bytes are let go before the standard library parses the text
        return self.parse(text)
