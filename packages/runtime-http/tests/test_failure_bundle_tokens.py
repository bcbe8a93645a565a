"""Failure bundles leave out the session credentials a step obtained at run time: the token its OAuth
call got back and the token it then sent in a URL query are not connection fields, so the
connection's masker alone would write them into the bundle."""

from __future__ import annotations

import json
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from icon_http_testkit import local_http_server

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.api import _failure_bundle
from insightconnect_plugin_runtime.exceptions import LoggedException

ACCESS = "sess-access-5d1e0b77"
REFRESH = "sess-refresh-91ac2f3e"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/oauth"):
            answer = {"access_token": ACCESS, "refresh_token": REFRESH, "expires_in": 3600}
        elif self.path.startswith("/form"):
            answer = None
        else:
            answer = {"items": [], "next": self.path}
        body = json.dumps(answer).encode() if answer is not None else f"token={REFRESH}&x=1".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def api():
    with local_http_server(_Handler) as url:
        yield url


class _Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input={"type": "object", "properties": {"url": {"type": "string"}}})

    def connect(self, params: dict[str, Any]) -> None:
        self.url = params["url"]


class _Search(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__("search", "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        token = json.loads(urllib.request.urlopen(self.connection.url + "/oauth").read())["access_token"]
        urllib.request.urlopen(self.connection.url + "/form").read()
        page = json.loads(urllib.request.urlopen(f"{self.connection.url}/search?access_token={token}").read())
        raise RuntimeError(f"no results at {page['next']}")


def test_run_time_session_tokens_are_masked_in_the_bundle(api, tmp_path, monkeypatch):
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path))
    plugin = insightconnect_plugin_runtime.Plugin(name="b", vendor="t", version="1.0.0", connection=_Connection())
    plugin.add_action(_Search())
    message = {
        "type": "action_start",
        "version": "v1",
        "body": {"action": "search", "meta": {}, "input": {}, "connection": {"url": api}},
    }
    with pytest.raises(LoggedException):
        plugin.handle_step(message)
    (path,) = tmp_path.iterdir()
    text = path.read_text()
    assert ACCESS not in text and REFRESH not in text
    bundle = json.loads(text)
    assert [exchange["status"] for exchange in bundle["http"]] == [200, 200, 200]
    assert json.loads(bundle["http"][0]["body"])["expires_in"] == 3600  # the rest of the answer is kept
    assert bundle["error"]["type"] == "RuntimeError" and "********" in bundle["error"]["message"]


def test_a_token_kept_in_the_state_is_masked_everywhere():
    bundle = {
        "state": {"task_state": {"auth": {"access_token": ACCESS}, "cursor": 7}},
        "error": {"message": f"401 with {ACCESS}"},
        "http": [],
    }
    masked = _failure_bundle._mask_session_tokens(bundle)
    assert ACCESS not in json.dumps(masked) and masked["state"]["task_state"]["cursor"] == 7


def test_a_token_in_an_unfollowed_redirect_is_masked():
    location = f"https://app.example/callback?state=s1#access_token={ACCESS}&token_type=bearer"
    bundle = {"http": [{"url": "https://idp.example/authorize", "headers": [["Location", location]], "body": ""}]}
    masked = _failure_bundle._mask_session_tokens(bundle)
    assert ACCESS not in json.dumps(masked) and "state=s1" in masked["http"][0]["headers"][0][1]
