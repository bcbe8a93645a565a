"""``_limits`` and ``_body``: the body is read within its limit and measured before it is parsed.

Every limit is probed at its boundary (at the limit passes, one past it fails) on both paths of
:func:`check_json_cost`: the raw count (brackets inside strings included) and the exact count on
the text with its strings cut out.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insightconnect_plugin_runtime.api import _limits
from insightconnect_plugin_runtime.api._body import BodyError, BodyReader
from insightconnect_plugin_runtime.api._limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_CONTAINERS,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_JSON_VALUES,
    MIB,
    LimitExceeded,
    RequestLimits,
    check_json_cost,
    json_depth,
)
from insightconnect_plugin_runtime.api._settings import request_limits


def limits(depth: int = 1000, containers: int = 1000, values: int = 1000) -> RequestLimits:
    return RequestLimits(
        max_body_bytes=MIB, max_json_depth=depth, max_json_containers=containers, max_json_values=values
    )


def refusal(text: str, given: RequestLimits) -> LimitExceeded:
    with pytest.raises(LimitExceeded) as caught:
        check_json_cost(text, given)
    return caught.value


def test_defaults() -> None:
    """The documented defaults (README, settings table)."""
    assert MIB == 1_048_576
    assert DEFAULT_MAX_BODY_BYTES == 48 * 1_048_576
    assert (DEFAULT_MAX_JSON_DEPTH, DEFAULT_MAX_JSON_CONTAINERS, DEFAULT_MAX_JSON_VALUES) == (100, 100_000, 500_000)
    assert RequestLimits() == RequestLimits(48 * 1_048_576, 100, 100_000, 500_000)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [1, 2, 5, 6, 7])
def test_depth_boundary(depth: int) -> None:
    given = limits(depth=5, containers=5 + 2)  # containers may pass the depth: the exact path runs
    if depth <= 5:
        check_json_cost(nested(depth), given)
        return
    error = refusal(nested(depth), given)
    assert error.status == 400
    assert str(error) == "The JSON nests deeper than 5 levels."


def test_wide_but_shallow_is_not_too_deep() -> None:
    text = "[" + ",".join(["[]"] * 50) + "]"  # 51 containers, depth 2
    check_json_cost(text, limits(depth=2, containers=51, values=200))
    error = refusal('{"a": ' + text + "}", limits(depth=2, containers=52, values=200))
    assert error.status == 400


def test_objects_count_as_depth_and_containers() -> None:
    deep_objects = '{"a":' * 4 + "1" + "}" * 4
    check_json_cost(deep_objects, limits(depth=4, containers=4))
    assert refusal(deep_objects, limits(depth=3, containers=4)).status == 400
    assert refusal(deep_objects, limits(depth=10, containers=3)).status == 413


@pytest.mark.parametrize("count", [9, 10, 11])
def test_container_boundary(count: int) -> None:
    text = "[" + ",".join(["{}"] * (count - 1)) + "]"
    given = limits(depth=100, containers=10, values=100)
    if count <= 10:
        check_json_cost(text, given)
        return
    error = refusal(text, given)
    assert error.status == 413
    assert str(error) == "The JSON holds more than 10 arrays and objects (11)."


@pytest.mark.parametrize("count", [9, 10, 11])
def test_value_boundary(count: int) -> None:
    text = "[" + ",".join(["7"] * (count - 1)) + "]"  # counted: (count - 2) commas + 1 container + 1 = count
    given = limits(depth=100, containers=100, values=10)
    if count <= 10:
        check_json_cost(text, given)
        return
    error = refusal(text, given)
    assert error.status == 413
    assert str(error) == f"The JSON holds more than 10 values (up to {count})."


def test_brackets_and_commas_inside_strings_do_not_count() -> None:
    text = json.dumps({"a": "[[[[{{{{,,,,,,]]]", "b": ["x,[", '\\"[[', '"{{'], "c": "]]]]}"})
    assert text.count("[") + text.count("{") > 2 and text.count(",") > 4  # the raw count alone would refuse
    check_json_cost(text, limits(depth=2, containers=2, values=7))
    assert refusal(text, limits(depth=2, containers=2, values=6)).status == 413
    assert refusal(text, limits(depth=1, containers=2, values=7)).status == 400


def test_escaped_quotes_keep_the_string_open() -> None:
    text = json.dumps(["a\\", 'x"[[[[[[', 'y\\"{{{{{'])
    check_json_cost(text, limits(depth=1, containers=1, values=4))
    assert refusal(text, limits(depth=1, containers=1, values=3)).status == 413


def test_an_unterminated_string_ends_the_count_without_failing() -> None:
    """Invalid JSON is the parser's business (a 400 later); the check must stay linear on it."""
    text = '["' + '\\"[' * 200_000
    check_json_cost(text, limits(depth=1, containers=1, values=2))
    trailing_backslash = '[["x\\'
    assert refusal(trailing_backslash + "[[[", limits(depth=1, containers=1)).status == 413
    check_json_cost('"abc\\', limits(depth=1, containers=1, values=1))


def test_fast_path_boundaries_are_exact() -> None:
    """At the limit on the raw count nothing more is done; one past it the exact count decides."""
    text = "[[1,2]]"  # 2 containers, depth 2, values 1 comma + 2 + 1 = 4
    check_json_cost(text, limits(depth=2, containers=2, values=4))
    assert refusal(text, limits(depth=1, containers=2, values=4)).status == 400
    assert refusal(text, limits(depth=2, containers=1, values=4)).status == 413
    assert refusal(text, limits(depth=2, containers=2, values=3)).status == 413


@pytest.mark.parametrize(
    ("skeleton", "depth"),
    [
        ("", 0),
        ("1", 0),
        ("[]", 1),
        ("{}", 1),
        ("[[]]", 2),
        ("[{}][]", 2),
        ("[][][]", 1),
        ("[][[]]", 2),
        ("{}{{}}", 2),
        ("{:[1,{:[]}]}", 4),
    ],
)
def test_json_depth(skeleton: str, depth: int) -> None:
    assert json_depth(skeleton) == depth


def test_a_huge_body_of_brackets_is_refused_on_the_count_alone() -> None:
    text = "[" + "[]," * 1_000_000 + "[]]"
    error = refusal(text, RequestLimits())
    assert error.status == 413 and "(1000002)" in str(error)


def test_request_limits_from_the_environment() -> None:
    assert request_limits({}) == RequestLimits()
    env = {
        "ICON_RUNTIME_MAX_BODY_BYTES": "1024",
        "ICON_RUNTIME_MAX_JSON_DEPTH": "7",
        "ICON_RUNTIME_MAX_JSON_CONTAINERS": "8",
        "ICON_RUNTIME_MAX_JSON_VALUES": "9",
    }
    assert request_limits(env) == RequestLimits(1024, 7, 8, 9)
    for bad in ("0", "-5", "lots", " "):
        assert request_limits({"ICON_RUNTIME_MAX_JSON_VALUES": bad}).max_json_values == DEFAULT_MAX_JSON_VALUES


def test_limits_cannot_be_changed_after_start() -> None:
    given = RequestLimits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        given.max_json_depth = 10**6  # type: ignore[misc]


def _must_not_run(shape: bytes) -> bytes:
    raise AssertionError("the exact scan ran although the raw count was within every limit")


def test_the_exact_scan_is_skipped_when_the_raw_count_is_within_every_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Almost every real message: parsed at once, with no copy of its text."""
    monkeypatch.setattr(_limits, "cut_strings", _must_not_run)
    text = '[{"a": [1, 2]}, "[{"]'  # raw: 5 opening brackets, 2 commas; exact: 3 containers
    check_json_cost(text, limits(depth=5, containers=5, values=2 + 5 + 1))
    with pytest.raises(AssertionError, match="exact scan ran"):
        check_json_cost(text, limits(depth=4, containers=5, values=8))
    with pytest.raises(AssertionError, match="exact scan ran"):
        check_json_cost(text, limits(depth=5, containers=4, values=8))
    with pytest.raises(AssertionError, match="exact scan ran"):
        check_json_cost(text, limits(depth=5, containers=5, values=7))


def test_the_depth_walk_is_skipped_when_containers_cannot_be_too_deep(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_walk(skeleton: str) -> int:
        raise AssertionError("walked the brackets although there are no more containers than the depth limit")

    monkeypatch.setattr(_limits, "json_depth", must_not_walk)
    text = json.dumps([[["[[[[[["]]])  # exact: 3 containers; raw: 9 brackets
    check_json_cost(text, limits(depth=3, containers=3, values=10))
    with pytest.raises(AssertionError, match="walked the brackets"):
        check_json_cost(text, limits(depth=2, containers=3, values=10))


# --- BodyReader: reading within the limit, then the checks, then the parse ---------------------------


class _Trickle:
    """A request stream that hands out at most ``step`` bytes per read, and counts the reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.reads, self.asked = data, step, 0, []

    def read(self, size: int) -> bytes:
        self.reads += 1
        self.asked.append(size)
        piece, self.data = self.data[: min(size, self.step)], self.data[min(size, self.step) :]
        return piece


def reader(max_bytes: int = 10, **json_limits: int) -> BodyReader:
    return BodyReader(RequestLimits(max_body_bytes=max_bytes, **json_limits))


def test_read_collects_short_reads_up_to_the_declared_length() -> None:
    stream = _Trickle(b"0123456789", 3)
    assert reader().read(stream, 10) == b"0123456789"
    assert stream.reads == 4 and stream.asked == [10, 7, 4, 1]


def test_read_stops_at_the_end_of_a_shorter_body() -> None:
    stream = _Trickle(b"01234", 2)
    assert reader().read(stream, None) == b"01234"
    assert stream.reads == 4  # 2 + 2 + 1, then the empty read that ends it


def test_read_of_a_chunked_body_notices_one_byte_too_many() -> None:
    assert reader().read(_Trickle(b"x" * 10, 4), None) == b"x" * 10
    with pytest.raises(BodyError) as error:
        reader().read(_Trickle(b"x" * 11, 4), None)
    assert error.value.status == 413
    assert str(error.value) == "The request body is larger than the limit of 10 bytes."
    big = _Trickle(b"x" * 100, 100)
    with pytest.raises(BodyError):
        reader().read(big, None)
    assert big.asked == [11]  # never more than the limit + 1 is asked for


def test_read_chunks_are_bounded() -> None:
    stream = _Trickle(b"y" * (3 * 1024 * 1024), 10**9)
    assert len(reader(4 * 1024 * 1024).read(stream, 3 * 1024 * 1024)) == 3 * 1024 * 1024
    assert stream.asked == [1024 * 1024] * 3


def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    stream = _Trickle(b"x" * 11, 100)
    with pytest.raises(BodyError) as error:
        reader().read(stream, 11)
    assert error.value.status == 413 and stream.reads == 0
    assert reader().read(_Trickle(b"x" * 10, 100), 10) == b"x" * 10


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (b"", 400, "empty"),
        (b" \n\t ", 400, "empty"),
        (b"\xff{}", 400, "not valid UTF-8 (byte 0)"),
        (b'{"a": \xc3\x28}', 400, "not valid UTF-8 (byte 6)"),
        (b"{", 400, "not valid JSON"),
        (b"[[[]]]", 400, "deeper than 2 levels"),
        (b"[[],[],[]]", 413, "more than 3 arrays"),
        (b"[1,2,3,4]", 413, "more than 4 values"),
    ],
)
def test_decode_refusals(data: bytes, status: int, words: str) -> None:
    with pytest.raises(BodyError) as error:
        reader(100, max_json_depth=2, max_json_containers=3, max_json_values=4).decode(data)
    assert error.value.status == status and words in str(error.value)


def test_decode_accepts_within_the_limits() -> None:
    assert reader(100, max_json_depth=2, max_json_containers=3, max_json_values=6).decode(b"[[],[1,2]]") == [[], [1, 2]]
    assert reader(100).decode(bytearray(b' {"a": 1} ')) == {"a": 1}


def test_load_reads_checks_and_parses() -> None:
    assert reader(100).load(_Trickle(b'{"a": [1]}', 4), None) == {"a": [1]}


def test_a_custom_decoder_is_used_and_its_recursion_is_a_400() -> None:
    class Upper(json.JSONDecoder):
        def decode(self, s: str, *args: object, **kwargs: object) -> object:
            return {"decoded": s.strip()}

    class Recursing(json.JSONDecoder):
        def decode(self, s: str, *args: object, **kwargs: object) -> object:
            raise RecursionError

    assert BodyReader(RequestLimits(), decoder=Upper).decode(b"[1]") == {"decoded": "[1]"}
    with pytest.raises(BodyError) as error:
        BodyReader(RequestLimits(max_json_depth=7), decoder=Recursing).decode(b"[1]")
    assert error.value.status == 400 and str(error.value) == "The JSON nests deeper than 7 levels."


def test_too_large_message_names_the_limit() -> None:
    assert reader(1234).too_large_message == "The request body is larger than the limit of 1234 bytes."
    assert BodyReader().max_bytes == DEFAULT_MAX_BODY_BYTES


def test_a_chunked_body_is_not_given_a_buffer_of_the_limit() -> None:
    """Only a declared length is allocated up front; a chunked body grows with what arrives."""
    huge = BodyReader(RequestLimits(max_body_bytes=1 << 40))
    assert huge.read(_Trickle(b"abc", 2), None) == b"abc"


def test_a_body_shorter_than_declared_is_cut_to_what_arrived() -> None:
    assert reader().read(_Trickle(b"abc", 2), 9) == b"abc"


# --- the structure is measured on the bytes, without a regular expression over the strings (issue 19) -


_ORACLE_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)


def _oracle(text: str) -> tuple[int, int, int]:
    """Containers, values and depth counted on the text with its strings cut out by the regular
    expression, as they were before the byte-level pass."""
    skeleton = _ORACLE_STRING.sub("", text)
    containers = skeleton.count("[") + skeleton.count("{")
    depth = 0
    deepest = 0
    for char in skeleton:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return containers, skeleton.count(",") + containers + 1, deepest


_tricky_text = st.text(alphabet=st.sampled_from(list('ab[]{},:"\\/é\u2028\x00\n') + ["\U0001f600"]), max_size=12)
_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), _tricky_text),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_tricky_text, inner, max_size=4)),
    max_leaves=25,
)


@given(_documents, st.booleans())
def test_property_counts_on_the_bytes_equal_counts_on_the_text(document: object, ascii_only: bool) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only)
    containers, values, depth = _oracle(text)
    shape = _limits.structure(text.encode())
    skeleton = _limits.cut_strings(shape)
    assert skeleton.count(b"[") + skeleton.count(b"{") == containers
    assert skeleton.count(b",") + containers + 1 == values
    assert json_depth(skeleton) == depth
    assert _limits.structure(text) == shape  # text or its UTF-8 bytes: the same structure
    at_the_limits = limits(depth=max(depth, 1), containers=max(containers, 1), values=values)
    check_json_cost(text.encode(), at_the_limits)
    if containers:
        assert refusal(text, dataclasses.replace(at_the_limits, max_json_containers=containers - 1)).status == 413
    assert refusal(text, dataclasses.replace(at_the_limits, max_json_values=values - 1)).status == 413
    if depth > 1:
        tighter = dataclasses.replace(at_the_limits, max_json_depth=depth - 1)
        assert refusal(text, tighter).status == 400


def test_escapes_are_cut_before_the_strings_are():
    """An escaped quote is no string end; brackets inside strings stay until the exact count."""
    shape = _limits.structure(b'["a\\\\", "b\\"[", "c\\\\\\"{"]')
    assert shape == b'["","[","{"]'
    assert _limits.cut_strings(shape) == b"[,,]"
    assert _limits.cut_strings(b'[",]"') == b"["  # an unterminated string runs to the end
    assert _limits.structure('{"k": "\\n\\t\\u005b"}') == b'{""""}'
    assert _limits.structure(bytearray(b"[1, 2]")) == b"[,]"


def test_a_large_string_never_reaches_the_exact_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the brackets, commas and quotes are split and counted, never a string's content."""
    seen: list[int] = []
    real = _limits.cut_strings

    def measured(shape: bytes) -> bytes:
        seen.append(len(shape))
        return real(shape)

    monkeypatch.setattr(_limits, "cut_strings", measured)
    text = json.dumps({"blob": "x" * 1_000_000, "items": [{"id": i} for i in range(200)]})
    check_json_cost(text.encode(), limits(depth=100, containers=1000, values=1000))
    assert seen and max(seen) < 5_000


def test_a_bytearray_body_is_translated_slice_by_slice_to_the_same_structure() -> None:
    slice_ = _limits._SLICE
    document = {"a": "x" * (slice_ - 9), "b": [{"c": "[" * 3}] * 3, "d": "y" * (2 * slice_ + 5), "e": [[], {}]}
    body = json.dumps(document).encode()
    assert len(body) > 3 * slice_
    assert (
        _limits.structure(bytearray(body)) == _limits.structure(body) == body.translate(None, _limits._NOT_STRUCTURAL)
    )
    assert _limits.structure(bytearray(b"")) == b""


@given(st.lists(st.tuples(st.integers(0, 3 * _limits._SLICE), st.sampled_from(list(b'[]{},"\\x'))), max_size=12))
def test_property_slices_without_a_structural_byte_are_skipped_to_the_same_structure(
    placed: list[tuple[int, int]],
) -> None:
    """Filler with a few structural bytes anywhere, at slice boundaries too: skipping the slices that
    hold none changes nothing."""
    body = bytearray(b"a" * (3 * _limits._SLICE + 7))
    for position, byte in placed:
        body[position] = byte
    expected = bytes(body).replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _limits._NOT_STRUCTURAL)
    assert _limits.structure(body) == _limits.structure(bytes(body)) == expected


@pytest.mark.parametrize(
    ("shape", "skeleton"),
    [
        (b'{""""}', b"{}"),  # a key and its value
        (b'{"[""]"}', b"{}"),  # the end of one string and the start of the next: still cut
        (b'["",""]', b"[,]"),
        (b'["",",",""]', b"[,,]"),
        (b'[""', b"["),
        (b'["""', b"["),  # an unterminated string after an empty one
        (b'""""""[', b"["),
    ],
)
def test_adjacent_quotes_are_dropped_without_changing_what_is_cut(shape: bytes, skeleton: bytes) -> None:
    assert _limits.cut_strings(shape) == skeleton


class _TrickleInto(_Trickle):
    """A stream with ``readinto`` (as werkzeug's is): the reader fills its buffer through it."""

    def read(self, size: int) -> bytes:
        raise AssertionError("read() was called although the stream has readinto()")

    def readinto(self, buffer: memoryview) -> int:
        piece = super().read(len(buffer))
        buffer[: len(piece)] = piece
        return len(piece)


def test_a_declared_length_is_read_in_place_through_readinto() -> None:
    stream = _TrickleInto(b"0123456789", 3)
    data = reader().read(stream, 10)
    assert data == b"0123456789" and isinstance(data, bytearray)
    assert stream.asked == [10, 7, 4, 1]
    chunked = _TrickleInto(b"01234", 2)
    chunked.read = _Trickle.read.__get__(chunked)  # type: ignore[method-assign]  # chunked: read() as before
    assert reader().read(chunked, None) == b"01234"


def test_readinto_chunks_are_bounded_and_a_short_body_is_cut() -> None:
    stream = _TrickleInto(b"y" * (3 * 1024 * 1024), 10**9)
    assert len(reader(4 * 1024 * 1024).read(stream, 3 * 1024 * 1024)) == 3 * 1024 * 1024
    assert stream.asked == [1024 * 1024] * 3
    short = _TrickleInto(b"abc", 2)
    assert reader().read(short, 9) == b"abc" and short.asked == [9, 7, 6]


def test_readinto_through_werkzeug_stops_at_the_declared_length() -> None:
    import io

    from werkzeug.wsgi import LimitedStream

    body = b'{"a": 1}' + b"NEXT REQUEST"
    assert reader(100).read(LimitedStream(io.BytesIO(body), 8), 8) == b'{"a": 1}'
    assert reader(100).read(LimitedStream(io.BytesIO(body), 100, is_max=True), 8) == b'{"a": 1}'
    unread = _TrickleInto(b"x" * 11, 100)
    with pytest.raises(BodyError) as error:
        reader(10).read(unread, 11)
    assert error.value.status == 413 and unread.reads == 0
