"""Connection fuzzing: generated connection parameters through the connection test; a connect() that
trips over an optional field is found, a careful one is not."""

from __future__ import annotations

from typing import Any

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import ConnectionTestException
from insightconnect_plugin_runtime.testing import fuzz_connection

from . import http_plugin, planted

SCHEMA = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "enum": ["eu", "us", "ap"]},
        "page_size": {"type": "integer", "minimum": 1, "maximum": 500},
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
    },
    "required": ["api_key"],
    "definitions": http_plugin.CONNECTION_SCHEMA["definitions"],
}


class Fragile(insightconnect_plugin_runtime.Connection):
    """Bugs: reads an optional field with [] and divides by page_size - 1."""

    def __init__(self) -> None:
        super().__init__(input=SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.host = {"eu": "eu.example", "us": "us.example"}[params["region"]]
        self.pages = 1000 // (params.get("page_size", 10) - 1)

    def test(self) -> dict[str, Any]:
        return {"success": True}


class Careful(Fragile):
    def connect(self, params: dict[str, Any]) -> None:
        self.host = {"eu": "eu.example", "us": "us.example", "ap": "ap.example"}.get(params.get("region"), "eu.example")
        self.key = params["api_key"]["secretKey"]

    def test(self) -> dict[str, Any]:
        if not self.key:
            raise ConnectionTestException(preset=ConnectionTestException.Preset.API_KEY)
        return {"success": True}


def _plugin(connection: Any) -> Any:
    return insightconnect_plugin_runtime.Plugin(name="c", vendor="t", version="1.0.0", connection=connection)


def test_a_fragile_connect_is_found_with_the_connection_that_broke_it():
    findings = fuzz_connection(_plugin(Fragile()), max_examples=30)
    crashes = {f.detail.split(":")[0]: f for f in findings if f.check == "crash"}
    assert {"KeyError", "ZeroDivisionError"} <= set(crashes)
    assert "'page_size': 1" in crashes["ZeroDivisionError"].example
    assert all(f.step == "connection" for f in findings)


def test_a_careful_connect_gives_no_findings():
    assert fuzz_connection(_plugin(Careful()), max_examples=30) == []


def test_connections_run_through_a_step_too():
    findings = fuzz_connection(planted.Planted(), step=("action", "fine"), max_examples=10)
    assert findings == []  # planted connect() reads required fields only: the runtime rejects the rest


class Resolving(insightconnect_plugin_runtime.Connection):
    """Looks its host up on connect, and turns every failure into a ConnectionTestException."""

    def __init__(self) -> None:
        super().__init__(input={"type": "object", "properties": {"host": {"type": "string"}}, "required": ["host"]})

    def connect(self, params: dict[str, Any]) -> None:
        import socket

        try:
            socket.getaddrinfo(params["host"] or "-", 443)
        except (OSError, ValueError) as error:
            raise ConnectionTestException(cause="Unknown host.", assistance="", data=str(error)) from None

    def test(self) -> dict[str, Any]:
        return {"success": True}


def test_the_network_is_cut_while_connections_are_fuzzed():
    from insightconnect_plugin_runtime._testing_network import REFUSED

    before = len(REFUSED)
    assert fuzz_connection(_plugin(Resolving()), max_examples=15, budget_seconds=5) == []
    assert len(REFUSED) > before  # generated host names were looked up, and refused


def test_a_connection_schema_without_properties_is_skipped():
    assert fuzz_connection(insightconnect_plugin_runtime.Plugin(name="n", vendor="t", version="1")) == []
