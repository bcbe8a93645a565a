"""Step endpoints over a real gunicorn: legacy and /api/v1 routes, and the status of every outcome."""

from __future__ import annotations

import copy

import pytest
from icon_http_testkit import SECRET, Server, message


def action(step: str, **inputs: object) -> dict:
    msg = message("say_hello")
    msg["body"]["action"] = step
    msg["body"]["input"] = inputs
    return msg


@pytest.mark.parametrize("prefix", ["", "/api/v1"])
def test_action_runs_on_both_route_families(server: Server, prefix: str) -> None:
    reply = server.post(f"{prefix}/actions/say_hello", message("say_hello"))
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    body = reply.json()
    assert body["type"] == "action_event"
    assert body["body"]["status"] == "ok"
    assert body["body"]["output"] == {"message": "Hello, World!"}


@pytest.mark.parametrize("prefix", ["", "/api/v1"])
def test_step_tests_run(server: Server, prefix: str) -> None:
    assert server.post(f"{prefix}/actions/say_hello/test", message("say_hello")).status == 200
    trigger = server.post(f"{prefix}/triggers/emit_greeting/test", message("emit_greeting"))
    assert trigger.status == 200, trigger.body
    assert trigger.json()["type"] == "trigger_event"
    task_test = server.post(f"{prefix}/tasks/monitor_events/test", message("monitor_events"))
    assert task_test.status == 200
    assert "accepts the key for task monitor_events" in task_test.json()["body"]["log"]


@pytest.mark.parametrize("prefix", ["", "/api/v1"])
def test_task_run_returns_state_and_pages(server: Server, prefix: str) -> None:
    reply = server.post(f"{prefix}/tasks/monitor_events", message("monitor_events"))
    assert reply.status == 200
    body = reply.json()["body"]
    assert body["state"] == {"cursor": 3}
    assert body["has_more_pages"] is True
    assert [event["id"] for event in body["output"]] == [1, 2, 3]


def test_task_without_state_is_a_client_error(server: Server) -> None:
    msg = message("monitor_events")
    del msg["body"]["state"]
    reply = server.post("/api/v1/tasks/monitor_events", msg)
    assert reply.status == 400
    assert reply.json()["body"]["status"] == "error"


@pytest.mark.parametrize("kind", ["test", "test_task"])
def test_connection_tests(server: Server, kind: str) -> None:
    msg = message("connection_test")
    msg["body"]["task"] = "monitor_events"
    reply = server.post(f"/api/v1/connection/{kind}", msg)
    assert reply.status == 200
    assert reply.json()["body"]["output"] == {"success": True}


def test_connection_test_failure_is_400(server: Server) -> None:
    msg = message("connection_test")
    msg["body"]["connection"]["api_key"]["secretKey"] = "bad-key"
    reply = server.post("/api/v1/connection/test", msg)
    assert reply.status == 400
    assert reply.json()["body"]["exception"]["cause"]


def test_unknown_connection_test_type_is_404_json(server: Server) -> None:
    reply = server.post("/api/v1/connection/ping", message("connection_test"))
    assert reply.status == 404
    assert reply.json()["code"] == 404


def test_connection_route_only_runs_connection_tests(server: Server) -> None:
    reply = server.post("/api/v1/connection/test", message("say_hello"))
    assert reply.status == 400
    assert "connection_test" in reply.json()["body"]["error"]


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("none", 200),
        ("plugin", 400),
        ("api", 400),
        ("connection_test", 400),
        ("client", 400),
        ("server", 500),
        ("value", 500),
        ("system_exit", 500),
        ("keyboard_interrupt", 500),
        ("bad_output", 500),
    ],
)
def test_raise_error_kinds_map_to_status(server: Server, kind: str, status: int) -> None:
    reply = server.post("/api/v1/actions/raise_error", action("raise_error", kind=kind))
    assert reply.status == status, reply.body
    body = reply.json()["body"]
    assert body["status"] == ("ok" if status == 200 else "error")
    if status != 200:
        assert body["error"]
        assert "Traceback" not in body["error"]
    else:
        assert body["output"] is not None


def test_unknown_step_is_404(server: Server) -> None:
    reply = server.post("/api/v1/actions/nope", action("nope"))
    assert reply.status == 404
    assert reply.json()["body"]["status"] == "error"


def test_route_and_body_names_must_match(server: Server) -> None:
    reply = server.post("/api/v1/actions/say_goodbye", message("say_hello"))
    assert reply.status == 400
    assert "say_hello" in reply.json()["body"]["error"]


def test_message_type_must_match_the_route(server: Server) -> None:
    msg = copy.deepcopy(message("monitor_events"))
    reply = server.post("/api/v1/actions/monitor_events", msg)
    assert reply.status == 400
    assert "action_start" in reply.json()["body"]["error"]


def test_input_failing_its_schema_is_400(server: Server) -> None:
    reply = server.post("/api/v1/actions/say_hello", action("say_hello", name=42))
    assert reply.status == 400
    assert "name" in reply.json()["body"]["error"]


def test_missing_required_input_is_400(server: Server) -> None:
    reply = server.post("/api/v1/actions/say_hello", action("say_hello"))
    assert reply.status == 400


def test_output_failing_its_schema_is_500(server: Server) -> None:
    reply = server.post("/api/v1/actions/raise_error", action("raise_error", kind="bad_output"))
    assert reply.status == 500
    assert "schema" in reply.json()["body"]["error"]


def test_secret_is_masked_in_replies(server: Server) -> None:
    reply = server.post("/api/v1/actions/raise_error", action("raise_error", kind="leak_secret"))
    assert reply.status == 400
    assert SECRET.encode() not in reply.body
    ok = server.post("/api/v1/actions/raise_error", action("raise_error", kind="none"))
    assert ok.status == 200 and SECRET.encode() not in ok.body
