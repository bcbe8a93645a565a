"""``_codec``: msgspec (when installed) parses requests and writes replies with the standard library's
results; the standard library serves everything msgspec would treat differently, and all of it when
msgspec is absent or switched off."""

from __future__ import annotations

import datetime
import enum
import json
import math
import threading
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insightconnect_plugin_runtime.api import _codec
from insightconnect_plugin_runtime.api._body import BodyError, BodyReader
from insightconnect_plugin_runtime.api._limits import RequestLimits

msgspec = pytest.importorskip("msgspec", reason="the fast-json extra is not installed")


@pytest.fixture
def stdlib_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_codec, "_fast", None)
    monkeypatch.setattr(_codec, "_loaded", True)


def _same_json(fast: bytes, standard: str) -> bool:
    """The two texts hold the same values (NaN compared as NaN)."""
    return json.dumps(json.loads(fast), sort_keys=True) == json.dumps(json.loads(standard), sort_keys=True)


_json_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
_plain = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), _json_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(_json_text, inner, max_size=4), st.tuples(inner, inner)
    ),
    max_leaves=25,
)


@given(_plain)
def test_property_plain_data_is_written_by_msgspec_with_the_same_values(value: Any) -> None:
    assert _codec.is_plain(value)
    written = _codec.dumps(value)
    assert written == msgspec.json.encode(value)
    assert _same_json(written, json.dumps(value))
    assert json.loads(written) == json.loads(json.dumps(value))  # key order too
    assert list(json.loads(written)) == list(json.loads(json.dumps(value))) if isinstance(value, dict) else True


@given(_plain)
def test_property_plain_text_is_parsed_by_msgspec_as_json_parses_it(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False), json.dumps(value, indent=2)):
        parsed, result = _codec.loads_plain(text.encode())
        assert parsed and result == json.loads(text)


class Colour(enum.Enum):
    RED = 1


class Text(str):
    pass


class Count(int):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"x": float("nan")},
        [float("inf")],
        [1, [2, {"deep": -math.inf}]],
        {"when": datetime.datetime(2026, 12, 6)},
        [uuid.UUID(int=7)],
        [Colour.RED],
        [Decimal("1.5")],
        [b"bytes"],
        [{1, 2}],
        {1: "an int key"},
        {Text("key"): 1},
        [Text("value")],
        [Count(3)],
        [True, {"a": (1, object())}],
    ],
)
def test_anything_msgspec_would_write_otherwise_goes_to_json(value: Any) -> None:
    """NaN becomes null and a datetime a string with msgspec; json writes NaN and refuses a datetime."""
    assert not _codec.is_plain(value)
    try:
        expected: bytes | type[Exception] = json.dumps(value).encode()
    except (TypeError, ValueError) as error:
        expected = type(error)
    if isinstance(expected, bytes):
        assert _codec.dumps(value) == expected
    else:
        with pytest.raises(expected):
            _codec.dumps(value)


def test_a_lone_surrogate_is_escaped_by_json() -> None:
    value = {"text": "\ud800 alone"}
    assert _codec.is_plain(value)
    assert _codec.dumps(value) == json.dumps(value).encode()


def test_nan_and_infinity_are_written_as_json_writes_them() -> None:
    assert _codec.dumps([float("nan"), float("inf"), -float("inf"), 1.5]) == b"[NaN, Infinity, -Infinity, 1.5]"


def test_scalars_and_empty_containers() -> None:
    for value in ("x", 1, 2.5, True, None, [], {}, ()):
        assert _codec.is_plain(value) and json.loads(_codec.dumps(value)) == json.loads(json.dumps(value))
    assert not _codec.is_plain(float("nan")) and not _codec.is_plain(object())


@pytest.mark.parametrize(
    "text",
    [b"[NaN]", b"[1e400]", b'["\\ud800"]', b"\xef\xbb\xbf[1]", b'{"a": 1,}', b"[01]", b"", b'"unterminated'],
)
def test_what_msgspec_refuses_is_left_to_json(text: bytes) -> None:
    assert _codec.loads_plain(text) == (False, None)


def test_duplicate_keys_keep_the_last_as_json_does() -> None:
    assert _codec.loads_plain(b'{"a": 1, "a": 2}') == (True, {"a": 2}) and json.loads('{"a": 1, "a": 2}') == {"a": 2}


def test_without_msgspec_everything_is_json(stdlib_only: None) -> None:
    assert not _codec.fast_codec()
    assert _codec.loads_plain(b"[1]") == (False, None)
    assert _codec.dumps({"a": [1, "é"]}) == b'{"a": [1, "\\u00e9"]}'


def test_the_switch_keeps_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_codec, "_loaded", False)
    monkeypatch.setenv("ICON_RUNTIME_STDLIB_JSON", "1")
    assert not _codec.fast_codec()
    monkeypatch.setattr(_codec, "_loaded", False)
    monkeypatch.setenv("ICON_RUNTIME_STDLIB_JSON", "0")
    assert _codec.fast_codec() and _codec.dumps({"a": 1}) == b'{"a":1}'


# --- the body reader: the same checks, in the same order, on either path ---------------------------


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b" \n ", 400, "empty"),
        (b"\xff[[[[[[[[[[[[[", 400, "not valid UTF-8 (byte 0)"),  # UTF-8 before the limits
        (b'["\xc3\xa9", [[[[]]]]]', 400, "deeper than 3 levels"),
        (b"[1,2,3,4,5,6,7,8,9]", 413, "values"),
        (b"[NaN, {]", 400, "not valid JSON"),
        (b"\xef\xbb\xbf[1]", 400, "not valid JSON"),
    ],
)
def test_refusals_are_the_same_with_and_without_msgspec(
    monkeypatch: pytest.MonkeyPatch, fast: bool, data: bytes, status: int, words: str
) -> None:
    if not fast:
        monkeypatch.setattr(_codec, "_fast", None)
        monkeypatch.setattr(_codec, "_loaded", True)
    reader = BodyReader(RequestLimits(max_body_bytes=100, max_json_depth=3, max_json_containers=10, max_json_values=8))
    with pytest.raises(BodyError) as error:
        reader.decode(bytearray(data))
    assert error.value.status == status and words in str(error.value)


def test_the_reader_parses_plain_json_with_msgspec_and_the_rest_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(_codec.json, "loads", lambda *a, **k: calls.append("json") or real_loads(*a, **k))
    reader = BodyReader()
    assert reader.decode(bytearray('{"name": "Zoë", "n": [1, 2.5]}'.encode())) == {"name": "Zoë", "n": [1, 2.5]}
    assert calls == []
    assert math.isnan(reader.decode(bytearray(b'{"x": NaN}'))["x"])
    assert calls == ["json"]


def test_a_custom_decoder_always_gets_json() -> None:
    class Marking(json.JSONDecoder):
        def decode(self, s: str, *args: object, **kwargs: object) -> object:
            return {"decoded by": "plugin", "text": s}

    assert BodyReader(decoder=Marking).decode(bytearray(b"[1]")) == {"decoded by": "plugin", "text": "[1]"}


def _plain_oracle(value: Any) -> bool:
    """The definition of plain, value by value (recursive; every container met at most once)."""
    seen: set[int] = set()

    def walk(item: Any) -> bool:
        kind = type(item)
        if kind in (str, int, bool, type(None)):
            return True
        if kind is float:
            return math.isfinite(item)
        if kind not in (dict, list, tuple) or id(item) in seen:
            return False
        seen.add(id(item))
        if kind is dict:
            return all(type(key) is str for key in item) and all(walk(child) for child in item.values())
        return all(walk(child) for child in item)

    return walk(value)


_odd_leaves = st.sampled_from(
    [math.nan, math.inf, -math.inf, 1e308, -0.0, Text("t"), Count(2), Colour.RED, b"b", Decimal("1"), uuid.UUID(int=1)]
)
_any_key = st.one_of(_json_text, st.just(Text("k")), st.integers(-2, 2), st.none(), st.just(1.5))
_mixed = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _json_text, _odd_leaves),
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(_any_key, inner, max_size=4), st.tuples(inner, inner)
    ),
    max_leaves=30,
)


def _containers(value: Any) -> list[Any]:
    found, pending = [], [value]
    while pending:
        item = pending.pop()
        if type(item) in (dict, list):
            found.append(item)
        if type(item) in (dict, list, tuple):
            pending.extend(item.values() if type(item) is dict else item)
    return found


@given(_mixed, st.data())
def test_property_is_plain_is_the_value_by_value_definition(value: Any, data: st.DataObject) -> None:
    """Level by level with C passes, or value by value: the same answer, shared containers and cycles
    included (a container linked in a second time, possibly into itself or a descendant)."""
    assert _codec.is_plain(value) == _plain_oracle(value)
    containers = _containers(value)
    if containers:
        target = data.draw(st.sampled_from(containers))
        linked = data.draw(st.sampled_from(containers))
        if type(target) is dict:
            target[data.draw(_json_text)] = linked
        else:
            target.append(linked)
        assert _within_seconds(_codec.is_plain, value) == _plain_oracle(value)


def _within_seconds(function: Any, value: Any) -> Any:
    """``function(value)``, failing instead of hanging when a cycle makes it loop for ever."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(function(value)), daemon=True)
    worker.start()
    worker.join(5)
    assert out, f"{function.__name__} did not end"
    return out[0]


@pytest.mark.parametrize(
    "value",
    [
        [{"a": 1}] * 2,  # a record shared by two list items
        {"a": {"b": [1]}, "c": ({"d": 2.5},)},
        [[1.5, float("nan")], [{"a": "b"}]],
        [{"x": 1}, [1, 2], (3, 4), "s", 1.0, None],
        [Text("not at the top")],
        {"k": [{"a": 1}, {Text("a"): 1}]},
    ],
)
def test_is_plain_on_mixed_levels(value: Any) -> None:
    assert _codec.is_plain(value) == _plain_oracle(value)
