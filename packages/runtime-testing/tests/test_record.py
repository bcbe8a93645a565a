"""Record/replay: a cassette recorded with canary secrets holds none of them, and replays offline."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.testing import PluginKit, assert_no_leaks

pytest.importorskip("vcr")
pytest.importorskip("pytest_httpserver")

SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "credentials": {"$ref": "#/definitions/credential_username_password"},
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
    },
    "definitions": {
        "credential_username_password": {
            "type": "object",
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        },
        "credential_secret_key": {"type": "object", "properties": {"secretKey": {"type": "string"}}},
    },
}


class ApiConnection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.params = params


class Fetch(insightconnect_plugin_runtime.Action):
    """Sends every secret the ways plugins do: query string, Basic auth, a header and a JSON body."""

    def __init__(self) -> None:
        super().__init__("fetch", "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        p = self.connection.params
        user, password, key = p["credentials"]["username"], p["credentials"]["password"], p["api_key"]["secretKey"]
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        request = urllib.request.Request(
            f"{p['url']}/items?token={urllib.parse.quote(password, safe='')}",
            data=json.dumps({"key": key}).encode(),
            headers={"Authorization": f"Basic {basic}", "X-Api-Key": key, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            answer = json.loads(reply.read())
        return {"count": len(answer["items"])}


def _plugin() -> Any:
    plugin = insightconnect_plugin_runtime.Plugin(name="api", vendor="t", version="1.0.0", connection=ApiConnection())
    plugin.add_action(Fetch())
    return plugin


def _echo(request: Any) -> Any:
    from werkzeug import Response

    key = request.headers.get("X-Api-Key", "")
    body = json.dumps({"items": [1, 2], "echo": key, "auth": request.headers.get("Authorization")})
    return Response(body, headers={"X-Echo": key}, content_type="application/json")


def test_the_cassette_holds_no_canary_secret_and_replays_without_the_server(httpserver, tmp_path):
    httpserver.expect_request("/items").respond_with_handler(_echo)
    connection = {
        "url": httpserver.url_for("").rstrip("/"),
        "credentials": {"username": "alice", "password": "pw-of-the-test"},
        "api_key": {"secretKey": "key-of-the-test"},
    }
    kit = PluginKit(_plugin(), connection)
    cassette = tmp_path / "fetch.yaml"

    run = kit.canary("action", "fetch", {}, cassette=cassette)

    assert run.result.ok, run.result.error_message
    assert run.result.output == {"count": 2}
    sent = httpserver.log[0][0]
    assert run.canary.markers["api_key.secretKey"] == sent.headers["X-Api-Key"]  # the server got the real one
    assert_no_leaks(run)  # ... and neither the reply, the log nor the cassette holds it, in any form
    text = cassette.read_text()
    assert "********" in text and "/items" in text

    httpserver.clear()  # no server behind the URL any more: only the cassette can answer
    httpserver.stop()
    replay_connection = {
        **connection,
        "credentials": {"username": "alice", "password": "another-password"},
        "api_key": {"secretKey": "another-key"},
    }
    with kit.recording(cassette, record_mode="none", connection=replay_connection):
        replayed = kit.action("fetch", {}, connection=replay_connection)
    assert replayed.ok, replayed.error_message
    assert replayed.output == {"count": 2}


def test_an_unrecorded_request_fails_the_step_in_replay_mode(tmp_path):
    cassette = tmp_path / "empty.yaml"
    cassette.write_text("interactions: []\nversion: 1\n")
    connection = {
        "url": "http://127.0.0.1:9",
        "credentials": {"username": "alice", "password": "pw-1"},
        "api_key": {"secretKey": "key-1"},
    }
    kit = PluginKit(_plugin(), connection)
    with kit.recording(cassette, record_mode="none"):
        result = kit.action("fetch", {})
    assert result.status == "error" and "CannotOverwriteExistingCassetteException" in type(result.error).__name__
