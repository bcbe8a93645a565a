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


# --- the scrubber's edges and the recorder's defaults (mutation survivors) ------------------------


def test_the_scrubber_masks_bytes_that_are_not_utf8_and_leaves_other_values_alone():
    from insightconnect_plugin_runtime._testing_record import Scrubber

    scrubber = Scrubber({"api_key": {"secretKey": "key-of-the-test"}}, SCHEMA)
    assert scrubber.data(b"\xff key-of-the-test \xfe") == b"\xff ******** \xfe"
    assert scrubber.data(b"utf8 key-of-the-test \xc3\xa9") == "utf8 ******** é".encode()
    assert scrubber.data("key-of-the-test") == "********"
    assert scrubber.data(123) == 123 and scrubber.data(None) is None


def _gzip_echo(request: Any) -> Any:
    import gzip

    from werkzeug import Response

    body = gzip.compress(json.dumps({"items": [1], "echo": request.headers.get("X-Api-Key")}).encode())
    return Response(body, headers={"Content-Encoding": "gzip"}, content_type="application/json")


def test_the_default_mode_records_once_and_compressed_answers_are_stored_decoded_and_scrubbed(tmp_path):
    from pytest_httpserver import HTTPServer

    from insightconnect_plugin_runtime.testing import recorded_http

    httpserver = HTTPServer(host="127.0.0.1")  # its own: the module's shared one is stopped above
    httpserver.start()
    httpserver.expect_request("/items").respond_with_handler(_gzip_echo)
    connection = {"api_key": {"secretKey": "key-of-the-test"}}
    request = urllib.request.Request(httpserver.url_for("/items"), headers={"X-Api-Key": "key-of-the-test"})
    cassette = tmp_path / "gz.yaml"
    with recorded_http(cassette, connection, SCHEMA):  # default record mode: once
        assert urllib.request.urlopen(request, timeout=5).status == 200
    text = cassette.read_text()
    assert '"echo": "********"' in text  # stored decoded (readable), then scrubbed
    assert "key-of-the-test" not in text
    httpserver.stop()
    with recorded_http(cassette, connection, SCHEMA):  # once: the file exists now, so it replays
        assert urllib.request.urlopen(request, timeout=5).status == 200


def test_recording_without_vcrpy_says_what_to_install(monkeypatch, tmp_path):
    import sys

    from insightconnect_plugin_runtime.testing import recorded_http

    monkeypatch.setitem(sys.modules, "vcr", None)
    with pytest.raises(RuntimeError, match=r"needs vcrpy: pip install 'icon-runtime-testing\[record\]'"):
        with recorded_http(tmp_path / "c.yaml", {}):
            pass


def test_the_default_record_mode_is_once_as_documented():
    import inspect

    from insightconnect_plugin_runtime._testing_record import recorded_http as recorder
    from insightconnect_plugin_runtime.testing import recorded_http

    for function in (recorder, recorded_http):
        assert inspect.signature(function).parameters["record_mode"].default == "once"
