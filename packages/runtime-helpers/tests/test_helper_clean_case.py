"""clean family, return_non_empty and case conversion: examples from the contract plus properties."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from insightconnect_plugin_runtime import helper

scalars = st.one_of(
    st.none(),
    st.just(""),
    st.booleans(),
    st.integers(-3, 3),
    st.text(max_size=4),
    st.floats(allow_nan=False),
)
keys = st.text(string.ascii_letters + "_", max_size=6)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=20,
)
containers = st.one_of(st.lists(json_like, max_size=4), st.dictionaries(keys, json_like, max_size=4))


def walk(value: Any):
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def blank(value: Any) -> bool:
    return value is None or value == "" and isinstance(value, str)


# -- examples ------------------------------------------------------------------------------------


def test_clean_dict_and_list() -> None:
    source = {"a": None, "b": "", "c": 0, "d": False, "e": {}, "f": [], "g": "x"}
    assert helper.clean_dict(source) == {"c": 0, "d": False, "e": {}, "f": [], "g": "x"}
    assert source["a"] is None  # input untouched
    assert helper.clean_list([None, "", 0, "", False, "x", None]) == [0, False, "x"]


def test_clean_examples() -> None:
    assert helper.clean(["one", {"two": "", "three": None}, {"four": 4}, None]) == ["one", {}, {"four": 4}]
    assert helper.clean({"one": [1, None, "", {"two": None}, {"three": 3}], "four": 4}) == {
        "one": [1, {}, {"three": 3}],
        "four": 4,
    }


def test_clean_rejects_scalars() -> None:
    with pytest.raises(TypeError):
        helper.clean("text")  # type: ignore[arg-type]


def test_return_non_empty_example() -> None:
    source = {
        "keep_zero": 0,
        "keep_false": False,
        "none": None,
        "empty": "",
        "list": [0, False, "", None, {}, {"x": None}, {"y": 1}, "z"],
        "empty_list": [],
        "nested": {"inner": {"deeper": None}},
        "text": "t",
    }
    assert helper.return_non_empty(source) == {
        "keep_zero": 0,
        "keep_false": False,
        "list": [{"y": 1}, "z"],
        "text": "t",
    }


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("let_me_be_converted", "letMeBeConverted"),
        ("letMeBeConverted", "letMeBeConverted"),
        ("PascalCase", "pascalCase"),
        ("HTTPResponse", "httpresponse"),
        ("_private", "Private"),
        ("snake_HTTP_case", "snakeHttpCase"),
        ("user_id2", "userId2"),
        ("", ""),
    ],
)
def test_convert_to_camel_case(source: str, expected: str) -> None:
    assert helper.convert_to_camel_case(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("letMeBeConverted", "let_me_be_converted"),
        ("HTTPResponse", "httpresponse"),
        ("userId2", "user_id2"),
        ("id2Name", "id2_name"),
        ("already_snake", "already_snake"),
    ],
)
def test_convert_to_snake_case(source: str, expected: str) -> None:
    assert helper.convert_to_snake_case(source) == expected


def test_convert_dicts_recursively() -> None:
    source = {"outerKey": [{"innerKey": 1}, "plainString"], "otherKey": {"deepKey": None}, 5: "x"}
    assert helper.convert_dict_to_snake_case(source) == {
        "outer_key": [{"inner_key": 1}, "plainString"],
        "other_key": {"deep_key": None},
        5: "x",
    }
    assert helper.convert_dict_to_camel_case({"a_b": [{"c_d": 1}], "e": "f_g"}) == {"aB": [{"cD": 1}], "e": "f_g"}
    assert helper.convert_dict_to_camel_case("scalar") == "scalar"  # type: ignore[arg-type]


def test_extract_value() -> None:
    text = "user=alice; role=admin"
    assert helper.extract_value(r"role=", r"(\w+)", r"", text) == "admin"
    assert helper.extract_value(r"group=", r"(\w+)", r"", text) is None
    assert helper.extract_value(r"(user)=", r"(\w+)", r"", text) is None  # two groups: ambiguous


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=200)
@given(containers)
def test_clean_is_idempotent_and_leaves_no_blanks(value: Any) -> None:
    cleaned = helper.clean(value)
    assert helper.clean(cleaned) == cleaned
    assert not any(blank(item) for item in walk(cleaned))


@settings(max_examples=200)
@given(st.dictionaries(keys, json_like, max_size=4))
def test_clean_dict_is_idempotent(value: dict) -> None:
    once = helper.clean_dict(value)
    assert helper.clean_dict(once) == once
    assert not any(blank(item) for item in once.values())


# return_non_empty only cleans dicts found in lists (a list inside a list is kept as is), so
# generate documents without directly nested lists to state its guarantee.
doc_leaf = scalars
documents = st.recursive(
    st.dictionaries(keys, doc_leaf, max_size=4),
    lambda children: st.dictionaries(
        keys, st.one_of(doc_leaf, children, st.lists(st.one_of(doc_leaf, children), max_size=4)), max_size=4
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(documents)
def test_return_non_empty_is_idempotent_and_leaves_nothing_empty(value: dict) -> None:
    result = helper.return_non_empty(value)
    assert helper.return_non_empty(result) == result
    for item in walk(result):
        assert not blank(item)
        if isinstance(item, dict | list) and item is not result:
            assert item  # no empty containers inside


identifiers = st.text(string.ascii_letters + string.digits + "_", max_size=12)


@given(identifiers)
def test_snake_case_is_idempotent_and_lower(value: str) -> None:
    once = helper.convert_to_snake_case(value)
    assert helper.convert_to_snake_case(once) == once
    assert once == once.lower()


@given(identifiers)
def test_camel_case_has_no_underscores_and_settles(value: str) -> None:
    once = helper.convert_to_camel_case(value)
    twice = helper.convert_to_camel_case(once)
    assert "_" not in once
    assert helper.convert_to_camel_case(twice) == twice
    if not value.startswith("_"):
        # only a leading underscore yields a capitalised first word, which the next pass lowers
        assert twice == once


@given(st.dictionaries(identifiers, st.integers(), max_size=5))
def test_dict_converters_are_idempotent(value: dict) -> None:
    snake = helper.convert_dict_to_snake_case(value)
    assert helper.convert_dict_to_snake_case(snake) == snake
