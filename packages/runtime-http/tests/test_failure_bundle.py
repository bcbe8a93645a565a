"""Failure bundles: the step hook records a failing step's HTTP answers (chunked, compressed, unread
error bodies) and writes one masked, bounded, 0600 file; nothing happens without the switch."""

from __future__ import annotations

import contextvars
import gzip
import importlib.metadata
import json
import os
import stat
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from icon_http_testkit import local_http_server

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.api import _failure_bundle, _http_recorder
from insightconnect_plugin_runtime.exceptions import LoggedException

SECRET = "bundle-secret-7f3a9c"
SCHEMA = {
    "type": "object",
    "properties": {"url": {"type": "string"}, "api_key": {"$ref": "#/definitions/credential_secret_key"}},
    "definitions": {
        "credential_secret_key": {"type": "object", "properties": {"secretKey": {"type": "string"}}},
    },
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            for part in (b'{"key": "', SECRET.encode(), b'", "n": 1}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path.startswith("/gzip"):
            body = gzip.compress(json.dumps({"echo": SECRET, "pad": "z" * 1000}).encode())
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
        else:
            body = b'{"error": "no such thing", "key": "' + SECRET.encode() + b'"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "session=abc")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def api():
    with local_http_server(_Handler) as url:
        yield url


def test_the_hook_is_registered_as_a_step_hook():
    entries = importlib.metadata.entry_points(group="insightconnect_plugin_runtime.step_hooks")
    assert "insightconnect_plugin_runtime.api._failure_bundle_hook:step_hook" in {e.value for e in entries}


def test_chunked_and_compressed_bodies_are_stored_as_the_plugin_saw_them(api):
    with _http_recorder.recording() as recorded:
        urllib.request.urlopen(api + "/chunked").read()
        request = urllib.request.Request(api + "/gzip", headers={"Accept-Encoding": "gzip"})
        urllib.request.urlopen(request).read()
    chunked, zipped = recorded.exchanges
    assert chunked.url == api + "/chunked" and chunked.method == "GET"
    assert _http_recorder.decoded_body(chunked, 1000) == (b'{"key": "' + SECRET.encode() + b'", "n": 1}', True)
    body, complete = _http_recorder.decoded_body(zipped, 100_000)
    assert complete and json.loads(body)["echo"] == SECRET
    assert _http_recorder.decoded_body(zipped, 50) == (body[:50], False)


def test_an_error_body_the_client_never_read_is_kept(api):
    with _http_recorder.recording() as recorded:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(api + "/missing")
    (exchange,) = recorded.exchanges
    assert exchange.status == 404 and bytes(exchange.body).startswith(b'{"error": "no such thing"')
    assert raised.value.read() == bytes(exchange.body)  # the plugin still reads it, once


def test_bodies_and_exchanges_are_bounded(api):
    with _http_recorder.recording(max_exchanges=2, body_limit=10) as recorded:
        for _ in range(3):
            urllib.request.urlopen(api + "/chunked").read()
    assert len(recorded.exchanges) == 2 and recorded.dropped == 1
    assert all(len(e.body) == 10 and e.truncated for e in recorded.exchanges)


def test_nothing_is_recorded_outside_a_recording(api):
    with _http_recorder.recording() as recorded:
        pass
    urllib.request.urlopen(api + "/chunked").read()
    assert list(recorded.exchanges) == []


class _Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.url = params["url"]


class _Lookup(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__("lookup", "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        answer = json.loads(urllib.request.urlopen(self.connection.url + params["path"]).read())
        return {"n": answer["n"] + answer["missing"]}


def _run(api: str, path: str) -> Any:
    plugin = insightconnect_plugin_runtime.Plugin(name="b", vendor="t", version="1.0.0", connection=_Connection())
    plugin.add_action(_Lookup())
    message = {
        "type": "action_start",
        "version": "v1",
        "body": {
            "action": "lookup",
            "meta": {},
            "input": {"path": path},
            "connection": {"url": api, "api_key": {"secretKey": SECRET}},
        },
    }
    try:
        return plugin.handle_step(message)
    except LoggedException as failure:
        return failure.output


def test_a_failing_step_writes_one_masked_0600_bundle(api, tmp_path, monkeypatch):
    directory = tmp_path / "bundles"
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(directory))
    reply = _run(api, "/chunked")
    assert reply["body"]["status"] == "error"
    (path,) = directory.iterdir()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    text = path.read_text()
    assert SECRET not in text
    bundle = json.loads(text)
    assert bundle["format"] == _failure_bundle.FORMAT and bundle["error"]["type"] == "KeyError"
    assert bundle["message"]["body"]["connection"]["api_key"]["secretKey"] == "********"
    (exchange,) = bundle["http"]
    assert exchange["body"] == '{"key": "********", "n": 1}' and exchange["body_complete"] is True
    assert ["Transfer-Encoding", "chunked"] not in exchange["headers"]


def test_session_headers_are_dropped(api, tmp_path, monkeypatch):
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path))
    _run(api, "/missing")
    (path,) = tmp_path.iterdir()
    (exchange,) = json.loads(path.read_text())["http"]
    assert exchange["status"] == 404 and "Set-Cookie" not in {name for name, _ in exchange["headers"]}


def test_a_successful_step_or_no_switch_writes_nothing(api, tmp_path, monkeypatch):
    monkeypatch.delenv(_failure_bundle.ENV_DIR, raising=False)
    assert _run(api, "/chunked")["body"]["status"] == "error"
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path / "b"))

    class Fine(_Lookup):
        def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
            return {"n": 1}

    plugin = insightconnect_plugin_runtime.Plugin(name="b", vendor="t", version="1.0.0", connection=_Connection())
    plugin.add_action(Fine())
    message = {"type": "action_start", "version": "v1", "body": {"action": "lookup", "meta": {}, "input": {}}}
    message["body"]["connection"] = {"url": api, "api_key": {"secretKey": SECRET}}
    assert plugin.handle_step(message)["body"]["status"] == "ok"
    assert not (tmp_path / "b").exists() and list(tmp_path.iterdir()) == []


class _Threaded(_Lookup):
    """Fetches once in the step's thread and once each from threads it starts, then fails."""

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        def fetch(where: str) -> None:
            urllib.request.urlopen(f"{self.connection.url}/chunked?{where}").read()

        async def in_executor() -> None:
            await asyncio.get_running_loop().run_in_executor(None, fetch, "run_in_executor")

        fetch("step")
        thread = threading.Thread(target=fetch, args=("thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(1) as pool:
            pool.submit(fetch, "executor").result()
            list(pool.map(fetch, ["executor_map"]))
        asyncio.run(asyncio.to_thread(fetch, "to_thread"))
        asyncio.run(in_executor())
        context = contextvars.copy_context()
        carried = threading.Thread(target=context.run, args=(fetch, "copied_context"))
        carried.start()
        carried.join()
        raise ValueError("failed after fetching")


def test_bundles_record_the_threads_and_executor_tasks_the_step_starts(api, tmp_path, monkeypatch):
    """Core runs threads and executor tasks a step starts in a copy of its context, so the recording
    reaches them: a plugin fetching from a ``threading.Thread``, a ``ThreadPoolExecutor`` (``submit``,
    ``map``), asyncio's ``to_thread`` and ``run_in_executor`` has every answer in its bundle, in order."""
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path))
    plugin = insightconnect_plugin_runtime.Plugin(name="b", vendor="t", version="1.0.0", connection=_Connection())
    plugin.add_action(_Threaded())
    message = {"type": "action_start", "version": "v1", "body": {"action": "lookup", "meta": {}, "input": {}}}
    message["body"]["connection"] = {"url": api, "api_key": {"secretKey": SECRET}}
    with pytest.raises(LoggedException):
        plugin.handle_step(message)
    (path,) = tmp_path.iterdir()
    text = path.read_text()
    assert SECRET not in text
    bundle = json.loads(text)
    recorded = [exchange["url"].rsplit("?", 1)[1] for exchange in bundle["http"]]
    assert recorded == [
        "step", "thread", "executor", "executor_map", "to_thread", "run_in_executor", "copied_context"
    ]  # fmt: skip
    assert all(exchange["body"] == '{"key": "********", "n": 1}' for exchange in bundle["http"])


def test_threads_fill_one_recording_and_stop_when_it_ends(api):
    """Threads share the step's recording (the count of dropped answers stays right), and a thread that
    outlives the step adds nothing once the recording has ended."""
    late = threading.Event()

    def fetch(where: str) -> None:
        urllib.request.urlopen(f"{api}/chunked?{where}").read()

    def outliving() -> None:
        late.wait(5)
        fetch("late")

    with _http_recorder.recording(max_exchanges=3) as recorded:
        lingering = threading.Thread(target=contextvars.copy_context().run, args=(outliving,))
        lingering.start()
        workers = [threading.Thread(target=contextvars.copy_context().run, args=(fetch, f"w{n}")) for n in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(5)
    late.set()
    lingering.join(5)
    assert recorded.closed and len(recorded.exchanges) == 3 and recorded.dropped == 5
    assert all(exchange.url.rsplit("?", 1)[1].startswith("w") for exchange in recorded.exchanges)


def test_fitting_shortens_bodies_then_drops_the_oldest_answers():
    exchanges = [{"body": "y" * 5000, "body_complete": True, "n": n} for n in range(20)]
    bundle = {"format": "f", "written_at": "w", "plugin": {}, "kind": "action", "name": "n", "error": {}}
    bundle |= {"message": {"body": {}}, "http": exchanges, "http_dropped": 0, "state": {}}
    text = _failure_bundle._fit(bundle, 3000)
    fitted = json.loads(text)
    assert len(text) <= 3000 and fitted["http"] and fitted["http"][-1]["n"] == 19
    assert fitted["http_dropped"] == 20 - len(fitted["http"])
    assert all(len(e["body"]) <= 256 and e["body_complete"] is False for e in fitted["http"])
    huge = dict(bundle, message={"body": {"input": "m" * 10_000}}, http=[])
    assert json.loads(_failure_bundle._fit(huge, 3000))["omitted"].startswith("the start message")
