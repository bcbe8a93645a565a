"""The bad-input catalogue: every malformed request gets the right status and a JSON body."""

from __future__ import annotations

import json

import pytest
from icon_http_testkit import Server, message

HELLO = "/api/v1/actions/say_hello"


def assert_json_error(reply, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert reply.status == status, reply.body[:300]
    assert reply.headers["content-type"].startswith("application/json")
    payload = reply.json()
    text = json.dumps(payload)
    assert "<html" not in text.lower() and "Traceback" not in text
    return payload


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"version": "v1", "type": "action_start", "body": {', "truncated"),
        (b"not json at all", "not json"),
        (b"", "empty"),
        (b"   \n", "blank"),
        (b'{"version": "v1"}\xff\xfe', "invalid utf-8"),
        (b"\xc3\x28", "invalid utf-8 sequence"),
        (b"[" * 5000 + b"]" * 5000, "deeply nested"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "deeply nested objects"),
        (b"name=World&x=1", "form encoded"),
    ],
)
def test_undecodable_bodies_are_400(server: Server, body: bytes, why: str) -> None:
    payload = assert_json_error(server.post(HELLO, body), 400)
    assert payload["body"]["status"] == "error", why
    assert payload["type"] == "action_event"


def test_form_content_type_with_a_form_body_is_400(server: Server) -> None:
    reply = server.post(HELLO, b"name=World", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_json_error(reply, 400)


def test_content_type_is_not_required_to_say_json(server: Server) -> None:
    """Like the reference (get_json(force=True)): the body decides, not the header."""
    body = json.dumps(message("say_hello")).encode()
    assert server.post(HELLO, body, headers={"Content-Type": "text/plain"}).status == 200


def test_oversized_body_is_413(server: Server) -> None:
    msg = message("say_hello")
    msg["body"]["input"]["name"] = "x" * 70_000  # the fixture's limit is 64 KiB
    payload = assert_json_error(server.post(HELLO, msg), 413)
    assert "limit" in payload["body"]["error"]


def test_chunked_oversized_body_is_413(server: Server) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunks = [b'{"version": "v1", "type": "action_start", "body": {"action": "say_hello", "input": {"name": "']
    chunks += [b"y" * 8192] * 10
    chunks += [b'"}}}']
    try:
        connection.request("POST", HELLO, body=iter(chunks), encode_chunked=True)
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["body"]["status"] == "error"
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("mutate", "status"),
    [
        (lambda m: m.pop("version"), 400),
        (lambda m: m.pop("body"), 400),
        (lambda m: m.update(version="v2"), 400),
        (lambda m: m.update(type="action_begin"), 400),
        (lambda m: m["body"].pop("action"), 400),
        (lambda m: m["body"].update(input=["not", "an", "object"]), 400),
        (lambda m: m["body"].update(connection={}), 400),
        (lambda m: m["body"]["input"].pop("name"), 400),
        (lambda m: m["body"]["input"].update(name=None), 400),
    ],
)
def test_missing_or_wrong_fields_are_400(server: Server, mutate, status: int) -> None:  # type: ignore[no-untyped-def]
    msg = message("say_hello")
    mutate(msg)
    payload = assert_json_error(server.post(HELLO, msg), status)
    assert payload["body"]["status"] == "error"


def test_json_that_is_not_an_object_is_400(server: Server) -> None:
    for body in (b"[]", b"42", b'"text"', b"null"):
        assert_json_error(server.post(HELLO, body), 400)


def test_unknown_step_is_404(server: Server) -> None:
    msg = message("say_hello")
    msg["body"]["action"] = "does_not_exist"
    assert_json_error(server.post("/api/v1/actions/does_not_exist", msg), 404)
    msg = message("monitor_events")
    msg["body"]["task"] = "nope"
    assert_json_error(server.post("/tasks/nope", msg), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/actions/say_hello"),
        ("PUT", HELLO),
        ("DELETE", "/api/v1/tasks/monitor_events"),
        ("GET", "/api/v1/connection/test"),
        ("POST", "/api/v1/info"),
        ("GET", "/api/v1/admin/shutdown"),
    ],
)
def test_wrong_method_is_405_json(server: Server, method: str, path: str) -> None:
    reply = server.call(method, path)
    payload = assert_json_error(reply, 405)
    assert payload["code"] == 405
    assert reply.headers.get("allow")


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v2/actions/say_hello", "/static/x.js"])
def test_unknown_route_is_404_json(server: Server, path: str) -> None:
    payload = assert_json_error(server.get(path), 404)
    assert payload["path"] == path


def test_unknown_step_details_are_404(server: Server) -> None:
    assert_json_error(server.get("/api/v1/actions/nope"), 404)
    assert_json_error(server.get("/api/v1/tasks/nope"), 404)
