"""The OpenAPI 3.1 document: valid, built from the plugin's schemas, rendered by an offline Swagger UI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from icon_http_testkit import Server, message

ACTIONS = ["leak_everywhere", "raise_error", "say_goodbye", "say_hello", "sleep"]


@pytest.fixture(scope="module")
def document(server: Server) -> dict:
    return server.get("/api/v1/api").json()


def test_document_is_valid_openapi_3_1(document: dict) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


def test_path_parameters_enumerate_real_step_names(document: dict) -> None:
    run = document["paths"]["/api/v1/actions/{name}"]["post"]
    (parameter,) = run["parameters"]
    assert parameter["schema"]["enum"] == ACTIONS
    tasks = document["paths"]["/api/v1/tasks/{name}"]["post"]["parameters"][0]
    assert tasks["schema"]["enum"] == ["monitor_events"]
    connection = document["paths"]["/api/v1/connection/{connection_test_type}"]["post"]["parameters"][0]
    assert connection["schema"]["enum"] == ["test", "test_task"]


def test_document_says_what_the_server_requires_and_accepts(document: dict) -> None:
    # Found by the reliability suite's schemathesis run (make reliability): the document let through
    # messages the server rejects (no connection, no required input) and rejected ones it accepts.
    schemas = document["components"]["schemas"]
    run_body = schemas["action.say_hello.start"]["properties"]["body"]
    assert set(run_body["required"]) == {"action", "connection", "input"}
    test_body = schemas["action.say_hello.test"]["properties"]["body"]
    assert set(test_body["required"]) == {"action", "connection"}
    assert test_body["properties"]["input"] == {"type": ["object", "null"]}
    test = document["paths"]["/api/v1/actions/{name}/test"]["post"]
    starts = test["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in starts} == {f"action.{n}.test" for n in ACTIONS}
    task_body = schemas["task.monitor_events.start"]["properties"]["body"]
    assert task_body["properties"]["custom_config"] == {"type": ["object", "null"]}
    assert "null" in str(task_body["properties"]["input"])  # nothing required: null stands for {}
    connection = document["paths"]["/api/v1/connection/{connection_test_type}"]["post"]
    assert "404" in connection["responses"]
    assert schemas["connection.start"]["properties"]["body"]["required"] == ["connection"]


def test_bodies_carry_each_steps_real_schemas(document: dict) -> None:
    schemas = document["components"]["schemas"]
    run = document["paths"]["/api/v1/actions/{name}"]["post"]
    starts = run["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in starts} == {f"action.{n}.start" for n in ACTIONS}
    assert schemas["action.say_hello.input"]["required"] == ["name"]
    assert schemas["action.say_hello.output"]["properties"]["message"]["type"] == "string"
    assert schemas["action.sleep.input"]["properties"]["seconds"]["maximum"] == 60
    start = schemas["action.say_hello.start"]["properties"]["body"]["properties"]
    assert start["action"] == {"const": "say_hello"}
    assert start["input"] == {"$ref": "#/components/schemas/action.say_hello.input"}
    events = run["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert len(events) == len(ACTIONS)
    assert schemas["task.monitor_events.state"]["properties"]["cursor"]["type"] == "integer"
    # The plugin's #/definitions references now resolve inside the document.
    api_key = schemas["connection"]["properties"]["api_key"]["$ref"]
    assert api_key.rsplit("/", 1)[1] in schemas


def test_sample_messages_match_the_documented_schemas(document: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:doc", resource)
    for name in ("say_hello", "say_goodbye", "sleep"):
        schema = {"$ref": f"urn:doc#/components/schemas/action.{name}.start"}
        jsonschema.Draft202012Validator(schema, registry=registry).validate(message(name))


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            capture_output=True,
            timeout=300,
            check=False,
        )
    return shutil.which("chromium")


def test_swagger_ui_lists_every_action_in_headless_chromium(server: Server, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed and could not be installed with apt-get")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--virtual-time-budget=8000",
        "--dump-dom",
    ]
    result = subprocess.run(
        [browser, *flags, f"http://127.0.0.1:{server.port}/api/v1/docs/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    dom = result.stdout
    assert 'data-path="/api/v1/actions/{name}"' in dom, result.stderr[-2000:]
    for action in ACTIONS:
        assert f"{action} start message" in dom.lower(), f"{action} is not listed in the rendered Swagger UI"
