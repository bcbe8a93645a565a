"""Shared by the tests: where the KOMAND-style test plugin lives and how to build its messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLUGIN = Path(__file__).resolve().parent / "komand_plugin"
BIN = PLUGIN / "bin" / "komand_wordcount"
SECRET = "good-key"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def reply(self) -> Any:
        return json.loads(self.stdout)


def start_message(kind: str, step: str, step_input: dict[str, Any], **body: Any) -> dict[str, Any]:
    """A ``<kind>_start`` message for the test plugin, with a valid connection."""
    return {
        "version": "v1",
        "type": f"{kind}_start",
        "body": {
            kind: step,
            "meta": {},
            "connection": {"api_key": {"secretKey": SECRET}, "separator": " "},
            "input": step_input,
            **body,
        },
    }
