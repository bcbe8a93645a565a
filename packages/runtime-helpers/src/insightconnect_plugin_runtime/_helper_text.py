"""Cleaning empty values out of plugin data, converting key case and extracting values by regex.

``clean`` is used by most plugins on their outputs, which are validated against schemas afterwards:
its exact semantics (recursive, emptied containers kept) are what those schemas were written for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def _is_blank(value: Any) -> bool:
    """``None`` and the empty string are what ``clean`` removes; ``0``, ``False``, ``{}`` stay."""
    return value is None or (isinstance(value, str) and value == "")


def clean_dict(input_dict: dict[Any, Any]) -> dict[Any, Any]:
    """Shallow copy of ``input_dict`` without the keys whose value is ``None`` or ``""``."""
    return {key: value for key, value in input_dict.items() if not _is_blank(value)}


def clean_list(input_list: list[Any]) -> list[Any]:
    """Copy of ``input_list`` without ``None`` and ``""`` elements."""
    return [item for item in input_list if not _is_blank(item)]


def clean(obj: dict[Any, Any] | list[Any]) -> dict[Any, Any] | list[Any]:
    """Recursively drop ``None`` and ``""`` from dicts and lists.

    Containers that become empty are kept (``{"a": {"b": None}}`` gives ``{"a": {}}``) because plugin
    outputs are validated against schemas where the key itself may be required.
    """
    if isinstance(obj, list):
        cleaned: dict[Any, Any] | list[Any] = clean_list(obj)
        return [_clean_nested(item) for item in cleaned]
    if isinstance(obj, dict):
        return {key: _clean_nested(value) for key, value in clean_dict(obj).items()}
    raise TypeError(f"clean: expected a dict or a list, got {type(obj).__name__}")


def _clean_nested(value: Any) -> Any:
    return clean(value) if isinstance(value, dict | list) else value


def return_non_empty(input_dict: dict[Any, Any]) -> dict[Any, Any]:
    """Recursively drop empty values: stricter than :func:`clean`.

    In dicts ``None``, ``""``, ``[]`` and dicts that end up empty are dropped (``0``/``False`` stay).
    In lists, dict elements are cleaned first, then every falsy element goes (``0`` and ``False``
    included); a list left empty is dropped from its dict.
    """
    result: dict[Any, Any] = {}
    for key, value in input_dict.items():
        if isinstance(value, dict):
            value = return_non_empty(value)
            if not value:
                continue
        elif isinstance(value, list):
            value = _non_empty_list(value)
            if not value:
                continue
        elif _is_blank(value):
            continue
        result[key] = value
    return result


def _non_empty_list(values: list[Any]) -> list[Any]:
    items = [return_non_empty(item) if isinstance(item, dict) else item for item in values]
    return [item for item in items if item]


_SNAKE_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def convert_to_snake_case(input_string: str) -> str:
    """``letMeBeConverted`` -> ``let_me_be_converted``; acronyms are not split (``HTTPResponse`` ->
    ``httpresponse``), which keeps the result stable for keys plugins already emit."""
    return _SNAKE_BOUNDARY.sub("_", input_string).lower()


def convert_to_camel_case(input_string: str) -> str:
    """``let_me_be_converted`` -> ``letMeBeConverted``.

    Strings without underscores are treated as already cased: a lower-case start is kept as is,
    PascalCase gets a lower-case first letter and a leading acronym is lower-cased whole
    (``HTTPResponse`` -> ``httpresponse``). Snake case is split on ``_``; a leading underscore leaves
    the first word capitalised (``_private`` -> ``Private``), as plugins already rely on that.
    """
    if "_" not in input_string:
        if not input_string[:1].isupper():
            return input_string
        if len(input_string) > 1 and input_string[1].isupper():
            return input_string.lower()
        return input_string[0].lower() + input_string[1:]
    first, *rest = input_string.split("_")
    return first.lower() + "".join(word.capitalize() for word in rest)


def _convert_keys(obj: Any, convert: Callable[[str], str]) -> Any:
    if isinstance(obj, dict):
        return {
            (convert(key) if isinstance(key, str) else key): _convert_keys(value, convert) for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_convert_keys(item, convert) for item in obj]
    return obj


def convert_dict_to_snake_case(input_dict: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """Convert every dict key (recursively, through lists too) with :func:`convert_to_snake_case`."""
    return _convert_keys(input_dict, convert_to_snake_case)


def convert_dict_to_camel_case(input_dict: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """Convert every dict key (recursively, through lists too) with :func:`convert_to_camel_case`."""
    return _convert_keys(input_dict, convert_to_camel_case)


def extract_value(begin: str, key: str, end: str, s: str) -> str | None:
    """Group 1 of the regex ``begin + key + end`` searched in ``s``.

    Returns ``None`` when there is no match or the pattern does not have exactly one group, so a
    caller never receives a value from the wrong group.
    """
    match = re.search(begin + key + end, s)
    if match is None or len(match.groups()) != 1:
        return None
    return match.group(1)
