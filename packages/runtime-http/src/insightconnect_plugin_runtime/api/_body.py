"""Read and decode a step request body, turning every way it can be wrong into a client error.

The reference parses with ``request.get_json(force=True)``: no size limit, and nesting deep enough
to overflow the parser's recursion became a 500. Here the body is read with a bound
(``ICON_RUNTIME_MAX_BODY_BYTES``, 413 beyond it), must be UTF-8 (400 otherwise), must be JSON (400)
and may nest at most ``ICON_RUNTIME_MAX_JSON_DEPTH`` levels (400). The Content-Type header is not
required to say JSON, exactly as in the reference (``curl -d`` and older orchestrators send
``application/x-www-form-urlencoded`` or nothing): the body itself decides.
"""

from __future__ import annotations

import json
import os
from typing import Any

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 100


def max_body_bytes() -> int:
    return _positive_int("ICON_RUNTIME_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)


def max_json_depth() -> int:
    return _positive_int("ICON_RUNTIME_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)


def _positive_int(name: str, default: int) -> int:
    try:
        value = int(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


class BodyError(Exception):
    """The request body cannot be a message; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyReader:
    """Decodes request bodies with the limits read once at start-up."""

    def __init__(self, max_bytes: int | None = None, max_depth: int | None = None, decoder: Any = None) -> None:
        self.max_bytes = max_bytes or max_body_bytes()
        self.max_depth = max_depth or max_json_depth()
        self.decoder = decoder

    def check_length(self, content_length: int | None) -> None:
        if content_length is not None and content_length > self.max_bytes:
            raise BodyError(413, f"The request body is larger than the limit of {self.max_bytes} bytes.")

    def read(self, stream: Any, content_length: int | None) -> bytes:
        """Read at most the limit (+1 byte to notice a longer chunked body)."""
        self.check_length(content_length)
        limit = self.max_bytes + 1
        # Stop at the declared length when there is one; a chunked body is read up to the limit.
        wanted = min(limit, content_length) if content_length is not None else limit
        data = stream.read(wanted)
        if data and len(data) < wanted:  # a single read may stop at a chunk or buffer boundary
            parts = [data]
            size = len(data)
            while size < wanted:
                more = stream.read(wanted - size)
                if not more:
                    break
                parts.append(more)
                size += len(more)
            data = b"".join(parts)
        if len(data) > self.max_bytes:
            raise BodyError(413, f"The request body is larger than the limit of {self.max_bytes} bytes.")
        return bytes(data)

    def decode(self, data: bytes) -> Any:
        if not data or not data.strip():
            raise BodyError(400, "The request body is empty: send one JSON message.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BodyError(400, f"The request body is not valid UTF-8 (byte {error.start}).") from None
        # Counting brackets is C-speed; only a body that could be too deep is walked.
        if text.count("[") + text.count("{") > self.max_depth:
            self._check_depth_text(text)
        try:
            return json.loads(text, cls=self.decoder) if self.decoder else json.loads(text)
        except RecursionError:
            raise BodyError(400, f"The JSON nests deeper than {self.max_depth} levels.") from None
        except ValueError as error:
            raise BodyError(400, f"The request body is not valid JSON: {error}") from None

    def _check_depth_text(self, text: str) -> None:
        """Scan brackets outside strings; raise before the parser can recurse too deep."""
        depth = 0
        in_string = False
        escaped = False
        limit = self.max_depth
        for char in text:
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char in "[{":
                depth += 1
                if depth > limit:
                    raise BodyError(400, f"The JSON nests deeper than {limit} levels.")
            elif char in "]}":
                depth -= 1
