"""JSON of step requests and replies: msgspec when it is installed, the standard library otherwise.

With a 5 MiB message the standard library's ``json`` is most of a request's time (7 ms to parse it,
20 ms to write the reply); msgspec does both in under 5 ms. It is optional (``pip install
icon-runtime-http[fast-json]``, 0.7 MB): the slim image stays within its size budget without it, and
every result is the standard library's own wherever the two could differ:

* **parse**: only plain JSON is left to msgspec. What it refuses (``NaN`` and ``Infinity``, numbers
  out of a float's range, lone surrogate escapes, a byte-order mark, malformed text) goes to
  ``json.loads``, which accepts it or gives its usual error. Both keep the last of duplicate keys.
* **write**: msgspec writes a reply only when a walk over it finds nothing but dicts with ``str``
  keys, lists, tuples, ``str``, ``int``, finite ``float``, ``bool`` and ``None``, exactly those
  types, not subclasses. Anything else (``NaN``, which the standard library writes as ``NaN`` and
  msgspec as ``null``; a ``datetime`` or ``UUID``, which msgspec would write and the standard library
  refuses) is written by ``json.dumps``. A plugin's ``custom_encoder`` always gets ``json.dumps``.

The text differs only in spacing and escapes: msgspec writes compact separators (as Flask's own
JSON replies have) and non-ASCII characters as UTF-8 rather than ``\\uXXXX``; a JSON parser reads the
same values from both. ``ICON_RUNTIME_STDLIB_JSON=on`` (or ``1``) keeps the standard library even when msgspec is
installed (a way back, and the bench's comparison).
"""

from __future__ import annotations

import json
from itertools import chain, compress, repeat
from math import isfinite
from operator import is_
from typing import Any

from insightconnect_plugin_runtime import settings

#: Exactly these scalar types are written the same by msgspec and ``json.dumps`` (floats: finite).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list, tuple})
_SEQUENCES = frozenset({list, tuple})
_PLAIN_TYPES = _PLAIN_SCALARS | _CONTAINERS | {float}
_STR_ONLY = frozenset({str})

_fast: Any = None
_loaded = False


def _msgspec_json() -> Any:
    """``msgspec.json``, or None when it is not installed or switched off (looked up once)."""
    global _fast, _loaded
    if not _loaded:
        fast = None
        if not settings.flag("ICON_RUNTIME_STDLIB_JSON", False):
            try:
                import msgspec.json as fast
            except ImportError:
                pass
        _fast = fast
        _loaded = True
    return _fast


def fast_codec() -> bool:
    """Whether msgspec serves plain messages in this process."""
    return _msgspec_json() is not None


def loads_plain(data: bytes | bytearray) -> tuple[bool, Any]:
    """``(True, value)`` when msgspec parsed ``data`` (UTF-8 JSON text), ``(False, None)`` when the
    standard library must decide (msgspec absent, or the text is not plain JSON to it)."""
    fast = _msgspec_json()
    if fast is None:
        return False, None
    try:
        return True, fast.decode(data)
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return False, None


def is_plain(value: Any) -> bool:
    """Whether ``value`` holds only what msgspec and ``json.dumps`` write alike (see the docstring).

    The walk goes one nesting level at a time, and looks at each level with C-level passes
    (``map``, ``set``, ``compress``) instead of a Python step per value: a reply of 10,000 small
    objects is three levels of a few passes each, where a value-by-value walk cost more than msgspec
    takes to write the reply.
    """
    children = [value]
    found = {type(value)}
    # A container met twice (shared, or the reply holding itself) is left to json.dumps, which writes
    # a shared one and refuses a cycle with its ValueError; the walk alone would loop for ever. Every
    # container stays alive while the walk runs, so no two of them share an id.
    seen: set[int] = set()
    while True:  # children: one level of the reply; found: the set of their types
        if not _PLAIN_TYPES.issuperset(found):
            return False
        containers = found & _CONTAINERS
        if not containers and float not in found:
            return True
        kinds = list(map(type, children)) if len(found) > 1 or float in found else None
        if kinds is None:  # one container type: the whole level is containers (a list of records)
            dicts, sequences = (children, []) if dict in found else ([], children)
        else:
            if float in found and not all(map(isfinite, compress(children, map(is_, kinds, repeat(float))))):
                return False  # NaN or an infinity
            dicts = list(compress(children, map(is_, kinds, repeat(dict)))) if dict in containers else []
            sequences = list(compress(children, map(_SEQUENCES.__contains__, kinds))) if containers - {dict} else []
        count = len(seen)
        seen.update(map(id, dicts))
        seen.update(map(id, sequences))
        if len(seen) - count != len(dicts) + len(sequences):
            return False
        if dicts and not _STR_ONLY.issuperset(map(type, chain.from_iterable(dicts))):
            return False
        children = list(chain.from_iterable(map(dict.values, dicts)))
        if sequences:
            children += chain.from_iterable(sequences)
        found = set(map(type, children))


def dumps(value: Any, into: bytearray | None = None) -> bytes | bytearray:
    """``value`` as UTF-8 JSON: msgspec for plain data, else ``json.dumps``.

    With ``into``, a buffer nothing else uses (a spent request body), msgspec writes over it, growing
    it only if the reply is larger, and returns it: a reply the size of its request then takes no
    second buffer of that size. Raises ``TypeError``/``ValueError`` exactly when ``json.dumps`` does.
    """
    fast = _msgspec_json()
    if fast is not None and is_plain(value):
        try:
            if into is None:
                return fast.encode(value)  # type: ignore[no-any-return]
            fast.Encoder().encode_into(value, into)  # the same text as encode (same defaults)
            return into
        except (TypeError, ValueError):  # a lone surrogate cannot be UTF-8: json.dumps escapes it
            pass
    return json.dumps(value).encode("ascii")
