"""What one step request may cost: body size, JSON nesting depth, container and value counts.

Python's JSON parser builds everything it reads: a 4 MiB body of nested empty arrays became about
100 MiB of lists, and the reference took up to 64 MiB of such text. So the text is measured
*before* it is parsed, in passes that run at C speed and allocate at most one copy of the text:

1. ``str.count`` of brackets and commas in the raw text. Brackets and commas inside strings are
   counted too, so these are upper bounds: a body within every limit by this count (almost every
   real message) is parsed at once.
2. Otherwise the strings are cut out with one regular expression (every match attempt starts at a
   quote and ends at the closing quote or at the end of the text, so the pass stays linear even on
   unterminated or escape-heavy strings) and the structural characters are counted exactly:
   containers (``[`` and ``{``), values (commas + containers + 1, an upper bound of the values
   the parser would create) and, through a running sum over the brackets alone, the depth.

Past a count limit the answer is 413 (the message is too large to process); past the depth limit
it is 400, as before. Each check is a pure function of the text, so tests can call it directly.
"""

from __future__ import annotations

import re
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

#: A JSON string, or an unterminated one up to the end of the text (never a failed attempt).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


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


def check_json_cost(text: str, limits: RequestLimits) -> None:
    """Raise :class:`LimitExceeded` if parsing ``text`` would pass a depth or count limit."""
    opens = text.count("[") + text.count("{")
    if (
        opens <= limits.max_json_depth
        and opens <= limits.max_json_containers
        and text.count(",") + opens + 1 <= limits.max_json_values
    ):
        return
    skeleton = _STRING.sub("", text)
    containers = skeleton.count("[") + skeleton.count("{")
    if containers > limits.max_json_containers:
        raise LimitExceeded(
            413, f"The JSON holds more than {limits.max_json_containers} arrays and objects ({containers})."
        )
    values = skeleton.count(",") + containers + 1
    if values > limits.max_json_values:
        raise LimitExceeded(413, f"The JSON holds more than {limits.max_json_values} values (up to {values}).")
    if containers > limits.max_json_depth and json_depth(skeleton) > limits.max_json_depth:
        raise too_deep(limits.max_json_depth)


def json_depth(skeleton: str) -> int:
    """Deepest nesting of the brackets in ``skeleton`` (JSON text with its strings cut out)."""
    brackets = _NOT_BRACKET.sub("", skeleton)
    return max(accumulate(map(_DEPTH_STEP.__getitem__, brackets)), default=0)
