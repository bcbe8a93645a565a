"""The descriptive endpoints: info, spec, steps, definitions, connection, workers, health, metrics."""

from __future__ import annotations

from importlib.metadata import version

import yaml
from icon_http_testkit import Server


def test_info_names_the_plugin_workers_and_runtime(server: Server) -> None:
    info = server.get("/api/v1/info").json()
    assert info["name"] == "example" and info["vendor"] == "icon-runtime" and info["version"] == "1.0.0"
    assert info["title"] == "Example" and info["plugin_spec_version"] == "v2"
    assert info["number_of_workers"] == 2 and info["threads"] == 4
    assert info["runtime_distributions"]["icon-runtime-core"]
    assert info["runtime_distributions"]["icon-runtime-http"] == version("icon-runtime-http")
    assert info["sdk_version"] == info["runtime_distributions"]["icon-runtime-core"]


def test_spec_as_json_and_yaml(server: Server) -> None:
    as_json = server.get("/api/v1/spec").json()
    assert "say_hello" in as_json["actions"]
    reply = server.get("/api/v1/spec?format=yaml")
    assert reply.status == 200 and reply.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(reply.body) == as_json
    bad = server.get("/api/v1/spec?format=xml")
    assert bad.status == 422 and bad.json()["code"] == 422


def test_step_lists(server: Server) -> None:
    assert sorted(server.get("/api/v1/actions").json()) == [
        "leak_everywhere",
        "raise_error",
        "say_goodbye",
        "say_hello",
        "sleep",
    ]
    assert server.get("/api/v1/triggers").json() == ["emit_greeting"]
    assert server.get("/api/v1/tasks").json() == ["monitor_events"]


def test_step_details(server: Server) -> None:
    action = server.get("/api/v1/actions/say_hello").json()
    assert action["title"] == "Say Hello" and "name" in action["input"]
    task = server.get("/api/v1/tasks/monitor_events").json()
    assert task["schedule"]["type"] == "minutes" and "cursor" in task["state"]
    assert server.get("/api/v1/triggers/emit_greeting").json()["title"] == "Emit Greeting"


def test_action_definitions(server: Server) -> None:
    definitions = server.get("/api/v1/definitions/actions").json()["actionsDefinitions"]
    by_name = {d["identifier"]: d["inputJsonSchema"] for d in definitions}
    assert by_name["say_hello"]["required"] == ["name"]


def test_connection_schema(server: Server) -> None:
    details = server.get("/api/v1/connection").json()
    assert details["required"] == ["api_key"] and "api_key" in details["properties"]


def test_status_health_and_workers(server: Server) -> None:
    assert server.get("/api/v1/status").json() == {"status": "Ready"}
    assert server.get("/api/v1/health/live").json() == {"status": "alive"}
    assert server.get("/api/v1/health/ready").status == 200
    assert server.get("/api/v1/workers").json() == {"num_workers": 2}


def test_admin_status_before_shutdown(server: Server) -> None:
    status = server.get("/api/v1/admin/status").json()
    assert status == {"shutdown_initiated": False, "shutdown_safe": False, "active_work": 0}


def test_openapi_document_and_swagger_page(server: Server) -> None:
    document = server.get("/api/v1/api").json()
    assert document["openapi"].startswith("3.1")
    as_yaml = server.get("/api/v1/api?format=yaml")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.body) == document
    page = server.get("/api/v1/docs/")
    assert page.status == 200 and b"swagger-ui" in page.body
    assert b"https://" not in page.body  # every asset is served locally
    bundle = server.get("/api/v1/docs/swagger-ui-bundle.js")
    assert bundle.status == 200 and len(bundle.body) > 100_000
