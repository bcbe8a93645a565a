"""``ActionHelper``: translate between plugin data (snake_case, JSON) and boto3 data (UpperCamelCase,
Python types such as bytes, datetimes, Decimals and streaming bodies)."""

from __future__ import annotations

import base64
import datetime
import decimal
import re
from collections.abc import Mapping
from typing import Any

from ._aws_base import public


class ActionHelper:
    """Translate between plugin data (snake_case, JSON) and boto3 data (UpperCamelCase, Python types)."""

    first_cap_re = re.compile(r"(.)([A-Z][a-z]+)")
    all_cap_re = re.compile(r"([a-z0-9])([A-Z])")

    @staticmethod
    def to_upper_camel_case(snake_str: str) -> str:
        """``"instance_ids"`` -> ``"InstanceIds"`` (each ``_``-separated piece title-cased)."""
        return "".join(piece.title() for piece in snake_str.split("_"))

    @classmethod
    def to_snake_case(cls, camel_str: str) -> str:
        """``"InstanceId"`` -> ``"instance_id"``, ``"ETag"`` -> ``"e_tag"``; snake_case is kept."""
        partial = cls.first_cap_re.sub(r"\1_\2", camel_str)
        return cls.all_cap_re.sub(r"\1_\2", partial).lower()

    @classmethod
    def convert_all_to_upper_camel_case(cls, obj: Any) -> Any:
        """Rename every dict key, at any depth, to UpperCamelCase (values are left as they are)."""
        if isinstance(obj, dict):
            return {
                (cls.to_upper_camel_case(k) if isinstance(k, str) else k): cls.convert_all_to_upper_camel_case(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [cls.convert_all_to_upper_camel_case(item) for item in obj]
        return obj

    @classmethod
    def convert_all_to_snake_case(cls, obj: Any) -> Any:
        """Rename every dict key, at any depth, to snake_case (values are left as they are)."""
        if isinstance(obj, dict):
            return {
                (cls.to_snake_case(k) if isinstance(k, str) else k): cls.convert_all_to_snake_case(v)
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [cls.convert_all_to_snake_case(item) for item in obj]
        return obj

    @classmethod
    def format_input(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Step input -> boto3 keyword arguments.

        Top-level inputs left empty (``None``, ``""``, ``[]``, ``{}``) are dropped because boto3
        rejects them, ``$`` is removed from key names (spec files prefix some inputs with it) and
        keys at every depth become UpperCamelCase.
        """
        kept: dict[str, Any] = {}
        for key, value in params.items():
            if value is None or (isinstance(value, str | list | dict) and not value):
                continue
            kept[key.replace("$", "")] = value
        return cls.convert_all_to_upper_camel_case(kept)

    @staticmethod
    def get_empty_output(output_schema: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults for the schema's list and object properties, so absent ones still validate.

        ``$ref`` properties are resolved through their reference path (``#/definitions/name``),
        falling back to a definition named like the property. ``response_metadata`` is always set.
        """
        definitions = output_schema.get("definitions") or {}
        empty: dict[str, Any] = {}
        for name, prop in (output_schema.get("properties") or {}).items():
            kind = _resolve_property(prop, definitions, name).get("type")
            if kind == "array":
                empty[name] = []
            elif kind == "object":
                empty[name] = {}
        empty["response_metadata"] = {"request_id": "", "http_status_code": 0}
        return empty

    @classmethod
    def fix_output_types(cls, output: Any) -> Any:
        """Make a boto3 value JSON-safe, recursively.

        Bytes and streaming bodies become base64 text, datetimes ISO 8601 text, floats and Decimals
        their ``str``; strings, ints, bools and ``None`` stay as they are; anything else becomes
        ``str(value)``.
        """
        if isinstance(output, dict):
            return {key: cls.fix_output_types(value) for key, value in output.items()}
        if isinstance(output, list | tuple | set | frozenset):
            return [cls.fix_output_types(value) for value in output]
        if output is None or isinstance(output, str | bool | int):
            return output
        if isinstance(output, public().StreamingBody):
            return base64.b64encode(output.read()).decode("ascii")
        if isinstance(output, bytes | bytearray | memoryview):
            return base64.b64encode(bytes(output)).decode("ascii")
        if isinstance(output, float | decimal.Decimal):
            return str(output)
        if isinstance(output, datetime.date | datetime.time):
            return output.isoformat()
        return str(output)

    @classmethod
    def format_output(cls, output_schema: Mapping[str, Any] | None, output: Any) -> dict[str, Any]:
        """boto3 response -> step output: JSON-safe values, snake_case keys, schema defaults added."""
        formatted = cls.convert_all_to_snake_case(cls.fix_output_types(output))
        if output_schema:
            for key, value in cls.get_empty_output(output_schema).items():
                formatted.setdefault(key, value)
        return formatted


def _resolve_property(prop: Mapping[str, Any], definitions: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if not isinstance(ref, str):
        return prop
    target = definitions.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/definitions/") else None
    if target is None:
        target = definitions.get(name)
    return target if isinstance(target, Mapping) else {}
