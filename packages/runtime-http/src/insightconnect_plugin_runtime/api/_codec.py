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
from typing import Any

from insightconnect_plugin_runtime import settings

#: Exactly these scalar types are written the same by msgspec and ``json.dumps`` (floats: finite).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})

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
    """Whether ``value`` holds only what msgspec and ``json.dumps`` write alike (see the docstring)."""
    pending = [value]
    push, pop = pending.append, pending.pop
    scalars = _PLAIN_SCALARS
    # A container met twice (shared, or the reply holding itself) is left to json.dumps, which writes
    # a shared one and refuses a cycle with its ValueError; the walk alone would loop for ever.
    seen: set[int] = set()
    while pending:
        item = pop()
        kind = type(item)
        if kind is dict or kind is list or kind is tuple:
            if id(item) in seen:
                return False
            seen.add(id(item))
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            children = item.values()
        elif kind is list or kind is tuple:
            children = item
        else:
            children = (item,)
        for child in children:
            kind = type(child)
            if kind in scalars:
                continue
            if kind is float:
                if child - child != 0.0:  # NaN or an infinity
                    return False
            elif kind is dict or kind is list or kind is tuple:
                push(child)
            else:
                return False
    return True


def dumps(value: Any) -> bytes:
    """``value`` as UTF-8 JSON: msgspec for plain data, else ``json.dumps``.

    Raises ``TypeError``/``ValueError`` exactly when ``json.dumps`` does.
    """
    fast = _msgspec_json()
    if fast is not None and is_plain(value):
        try:
            return fast.encode(value)  # type: ignore[no-any-return]
        except (TypeError, ValueError):  # a lone surrogate cannot be UTF-8: json.dumps escapes it
            pass
    return json.dumps(value).encode("ascii")
