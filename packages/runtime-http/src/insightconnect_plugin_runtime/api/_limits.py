"""What one step request may cost: body size, JSON nesting depth, container and value counts.

Python's JSON parser builds everything it reads: a 4 MiB body of nested empty arrays becomes about
100 MiB of lists, so a size limit alone does not bound what a body costs. So the text is measured
*before* it is parsed, in passes that run at C speed and allocate at most one copy of the text:

1. Everything but brackets, commas and quotes is deleted (``bytes.translate``, after escaped
   backslashes and quotes are cut out, only when the text has a backslash): what remains is small for
   almost every message, however large its strings. Its brackets and commas, those inside strings
   included, are upper bounds: a body within every limit by this count (almost every real message)
   is parsed at once.
2. Otherwise the strings are cut out of that remainder (split at its quotes, every one of which
   delimits a string; an unterminated string runs to the end) and the structural characters are
   counted exactly: containers (``[`` and ``{``), values (commas + containers + 1, an upper bound
   of the values the parser would create) and, through a running sum over the brackets alone, the
   depth.

The text is read as UTF-8 bytes: every structural character is ASCII, and no byte of a multi-byte
character is. Outside a string a backslash is not JSON, so the parser stops there whatever the count
made of what follows it.

Past a count limit the answer is 413 (the message is too large to process); past the depth limit
it is 400, as before. Each check is a pure function of the text, so tests can call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

MIB = 1024 * 1024
#: Public plugins document upload limits of at most 25 MB per file (mail attachments 15-25 MB);
#: base64 makes a 25 MiB file 35 MB of text, so 48 MiB fits one with room for the rest of the message.
DEFAULT_MAX_BODY_BYTES = 48 * MIB
DEFAULT_MAX_JSON_DEPTH = 100
#: Arrays plus objects; 100,000 empty ones cost about 7 MiB once parsed.
DEFAULT_MAX_JSON_CONTAINERS = 100_000
#: Values of any kind; 500,000 short strings cost about 35 MiB once parsed.
DEFAULT_MAX_JSON_VALUES = 500_000

#: What ``bytes.translate`` deletes: all but the bytes that shape JSON, or all but the brackets.
_NOT_STRUCTURAL = bytes(sorted(set(range(256)) - set(b'[]{},"')))
#: The bytes that shape JSON, most frequent first (each is looked for in a slice until one is found).
_STRUCTURAL_BYTES = (b'"', b",", b"{", b"}", b"[", b"]")
#: Bytes of a body looked at, and translated when they hold a structural byte, at a time.
_SLICE = 64 * 1024
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))
#: Brackets as signed bytes: +1 opens, -1 (0xff) closes.
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


@dataclass(frozen=True)
class RequestLimits:
    """The limits of one step request (read from the environment by ``_settings``)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_json_containers: int = DEFAULT_MAX_JSON_CONTAINERS
    max_json_values: int = DEFAULT_MAX_JSON_VALUES


class LimitExceeded(Exception):
    """The body is over a limit; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def too_deep(limit: int) -> LimitExceeded:
    return LimitExceeded(400, f"The JSON nests deeper than {limit} levels.")


def structure(text: str | bytes | bytearray) -> bytes:
    """The brackets, commas and string quotes of JSON ``text``, escaped quotes left out."""
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if b"\\" in data:  # cut escaped backslashes, then escaped quotes: every quote left delimits a string
        if b"\\\\" in data:
            data = data.replace(b"\\\\", b"")
        if b'\\"' in data:
            data = data.replace(b'\\"', b"")
    # A slice at a time, and only the slices that hold a structural byte: finding one is a memchr,
    # many times faster than translating, so the inside of a large string (a base64 attachment) is
    # skipped at that speed. bytes.translate is half again as fast as bytearray's: a bytearray's
    # slices are copied to bytes first (a slice, never the whole body).
    view = memoryview(data) if isinstance(data, bytearray) else data
    pieces = []
    for start in range(0, len(data), _SLICE):
        end = start + _SLICE
        if any(data.find(byte, start, end) != -1 for byte in _STRUCTURAL_BYTES):
            pieces.append(bytes(view[start:end]).translate(None, _NOT_STRUCTURAL))
    return b"".join(pieces)


def cut_strings(shape: bytes) -> bytes:
    """``shape`` (from :func:`structure`) without its strings.

    Adjacent quotes are dropped first: either an empty string or the end of one string and the start
    of the next with nothing between them (a key and its value), so the strings cut and what is left
    do not change, and in most messages no quote is left to split at. The rest is split as text:
    one-character strings are shared objects, so even 500,000 strings cost one list of pointers,
    where a regular expression over bytes made an object of every piece (90 MB).
    """
    shape = shape.replace(b'""', b"")
    if b'"' not in shape:
        return shape
    return "".join(shape.decode("ascii").split('"')[0::2]).encode("ascii")


def check_json_cost(text: str | bytes | bytearray, limits: RequestLimits) -> None:
    """Raise :class:`LimitExceeded` if parsing ``text`` (or its UTF-8 bytes) would pass a depth or
    count limit."""
    shape = structure(text)
    opens = shape.count(b"[") + shape.count(b"{")
    if (
        opens <= limits.max_json_depth
        and opens <= limits.max_json_containers
        and shape.count(b",") + opens + 1 <= limits.max_json_values
    ):
        return
    skeleton = cut_strings(shape)
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    if containers > limits.max_json_containers:
        raise LimitExceeded(
            413, f"The JSON holds more than {limits.max_json_containers} arrays and objects ({containers})."
        )
    values = skeleton.count(b",") + containers + 1
    if values > limits.max_json_values:
        raise LimitExceeded(413, f"The JSON holds more than {limits.max_json_values} values (up to {values}).")
    if containers > limits.max_json_depth and json_depth(skeleton) > limits.max_json_depth:
        raise too_deep(limits.max_json_depth)


def json_depth(skeleton: str | bytes) -> int:
    """Deepest nesting of the brackets in ``skeleton`` (JSON text with its strings cut out)."""
    data = skeleton.encode("utf-8", "surrogatepass") if isinstance(skeleton, str) else skeleton
    steps = data.translate(_DEPTH_STEP, _NOT_BRACKET)
    return max(accumulate(memoryview(steps).cast("b")), default=0)
