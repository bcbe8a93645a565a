"""JSON Schemas of the v1 messages, shipped as package data and loaded on first use."""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any


def load_schema(file_name: str) -> dict[str, Any]:
    """Parse ``data/<file_name>`` from this package."""
    return json.loads(files(__package__).joinpath("data", file_name).read_text(encoding="utf-8"))


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {
        "input_message_schema": load_schema("input_message_schema.json"),
        "output_message_schema": load_schema("output_message_schema.json"),
    }


def __getattr__(name: str) -> Any:
    if name in ("input_message_schema", "output_message_schema"):
        return _schemas()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
