"""A plugin ``default``/``example`` that fails its own schema never makes the OpenAPI document invalid.

Public plugins carry such values (a string default on an array, ``1`` for a string enum); the
document leaves them out, keeps them as ``x-invalid-*`` annotations, and the server says so once.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from icon_http_testkit import Server, free_port, wait_until_ready

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.api._openapi import build_openapi, invalid_schema_values

validator = pytest.importorskip("openapi_spec_validator")

INPUT_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "title": "Variables",
    "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "default": "a,b"},
        "level": {"type": "string", "enum": ["low", "high"], "default": 1},
        "count": {"type": "integer", "default": 3, "example": "three"},
        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "fast", "example": "slow"},
        "filter": {"$ref": "#/definitions/filter"},
    },
    "definitions": {
        "filter": {
            "type": "object",
            "properties": {"limit": {"type": "integer", "minimum": 1, "default": 0}},
            "default": {"limit": 5},
        }
    },
}


class _ConnectionSchema(insightconnect_plugin_runtime.Input):
    schema = {"type": "object", "properties": {"region": {"type": "string", "default": ["eu"]}}}

    def __init__(self) -> None:
        super().__init__(schema=self.schema)


class _Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=_ConnectionSchema())

    def connect(self, params: Any = None) -> None:
        return None


class _Input(insightconnect_plugin_runtime.Input):
    schema = INPUT_SCHEMA

    def __init__(self) -> None:
        super().__init__(schema=self.schema)


class _Lookup(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__(name="lookup", description="Look up", input=_Input(), output=None)

    def run(self, params: dict | None = None) -> dict:
        return {}


def _plugin() -> insightconnect_plugin_runtime.Plugin:
    plugin = insightconnect_plugin_runtime.Plugin(
        name="probe", vendor="tests", version="1.0.0", description="probe", connection=_Connection()
    )
    plugin.add_action(_Lookup())
    return plugin


@pytest.fixture(scope="module")
def document() -> dict:
    return build_openapi(_plugin(), include_admin=True, include_admin_status=False)


def test_document_with_invalid_plugin_values_is_valid_openapi_3_1(document: dict) -> None:
    validator.validate(document)


def test_the_same_document_with_the_values_put_back_is_rejected(document: dict) -> None:
    """Proves the plugin above really breaks a naive document, so the test above can fail."""
    restored = copy.deepcopy(document)
    tags = restored["components"]["schemas"]["action.lookup.input"]["properties"]["tags"]
    tags["default"] = tags.pop("x-invalid-default")
    with pytest.raises(Exception, match="not of type 'array'"):
        validator.validate(restored)


def test_invalid_values_are_kept_as_annotations_and_valid_ones_stay(document: dict) -> None:
    schemas = document["components"]["schemas"]
    props = schemas["action.lookup.input"]["properties"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "x-invalid-default": "a,b"}
    assert props["level"] == {"type": "string", "enum": ["low", "high"], "x-invalid-default": 1}
    assert props["count"] == {"type": "integer", "default": 3, "x-invalid-example": "three"}
    assert props["mode"] == {"type": "string", "enum": ["fast", "slow"], "default": "fast", "example": "slow"}
    definition = schemas["action.lookup.input.definitions.filter"]
    assert definition["properties"]["limit"] == {"type": "integer", "minimum": 1, "x-invalid-default": 0}
    assert definition["default"] == {"limit": 5}  # valid: the nested property's default is not data
    assert schemas["connection"]["properties"]["region"] == {"type": "string", "x-invalid-default": ["eu"]}


def test_a_default_that_fails_through_a_reference_is_set_aside() -> None:
    schema = {
        "type": "object",
        "properties": {"filter": {"$ref": "#/definitions/filter", "default": {"limit": "many"}}},
        "definitions": {"filter": {"type": "object", "properties": {"limit": {"type": "integer"}}}},
    }
    plugin = _plugin()
    plugin.actions["lookup"].input.schema = schema
    doc = build_openapi(plugin, include_admin=False, include_admin_status=False)
    field = doc["components"]["schemas"]["action.lookup.input"]["properties"]["filter"]
    assert field == {
        "$ref": "#/components/schemas/action.lookup.input.definitions.filter",
        "x-invalid-default": {"limit": "many"},
    }
    validator.validate(doc)


def test_the_plugin_object_is_not_changed() -> None:
    plugin = _plugin()
    build_openapi(plugin, include_admin=False, include_admin_status=False)
    assert plugin.actions["lookup"].input.schema["properties"]["tags"]["default"] == "a,b"


def test_invalid_schema_values_names_each_one_with_its_place() -> None:
    problems = invalid_schema_values(_plugin())
    assert len(problems) == 5
    assert sum("action.lookup.input/properties/tags: default 'a,b' left out" in p for p in problems) == 1
    assert any(p.startswith("action.lookup.input/properties/level: default 1 left out") for p in problems)
    assert any(p.startswith("action.lookup.input/properties/count: example 'three'") for p in problems)
    assert any(p.startswith("action.lookup.input.definitions.filter/properties/limit: default 0") for p in problems)
    assert any(p.startswith("connection/properties/region: default ['eu']") for p in problems)


def test_a_credential_fields_value_is_not_in_the_report() -> None:
    plugin = _plugin()
    plugin.connection.schema = {
        "type": "object",
        "properties": {
            "api_key": {"$ref": "#/definitions/credential_secret_key", "default": "hunter2-canary"},
            "login": {"type": "string", "format": "password", "default": 4242},
        },
        "definitions": {"credential_secret_key": {"type": "object", "required": ["secretKey"]}},
    }
    problems = [p for p in invalid_schema_values(plugin) if p.startswith("connection")]
    assert len(problems) == 2
    assert all("(value withheld: credential field)" in p for p in problems), problems
    assert not any("hunter2-canary" in p or "4242" in p for p in problems), problems


PLUGIN_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import insightconnect_plugin_runtime
from test_openapi_invalid_values import _plugin
insightconnect_plugin_runtime.CLI(_plugin()).run()
"""


def test_server_reports_each_invalid_value_once_at_start(tmp_path: Path) -> None:
    """Two workers each build the document; the report comes from the master, once."""
    script = tmp_path / "probe_plugin"
    script.write_text(textwrap.dedent(PLUGIN_SCRIPT.format(tests=str(Path(__file__).parent))))
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("PROMETHEUS", "ICON_RUNTIME", "GUNICORN"))
        and k not in ("PLUGIN_RUNTIME_ENVIRONMENT", "CPS_ENDPOINT")
    }
    command = [sys.executable, str(script), "http", "--bind", "127.0.0.1", "--port", str(port)]
    command += ["--process-workers", "2"]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(port, process, log_path, env)
    try:
        wait_until_ready(server)
        for _ in range(4):  # both workers build and serve the document
            assert server.get("/api/v1/api").status == 200
    finally:
        server.stop()
    log = log_path.read_text()
    assert log.count("fails its own schema") == 5, log
    assert log.count("action.lookup.input/properties/tags: default 'a,b' left out") == 1, log
