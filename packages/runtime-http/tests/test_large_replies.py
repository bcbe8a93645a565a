"""A large request's spent body buffer holds its reply (``BodyReader.load_spare``, ``dumps(into=)``,
``StepAnswer`` with a ``bytearray``): the same bytes and headers as a reply written into a new buffer, sent a chunk at
a time, masked as every reply is, over keep-alive too."""

from __future__ import annotations

import http.client
import json
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from icon_http_testkit import SECRET, Server, free_port, wait_until_ready

from insightconnect_plugin_runtime.api import _codec
from insightconnect_plugin_runtime.api._body import SPARE_MIN_BYTES, BodyReader
from insightconnect_plugin_runtime.api._plain_wsgi import JSON_TYPE, WRITE_CHUNK_BYTES, StepAnswer

msgspec = pytest.importorskip("msgspec", reason="the fast-json extra is not installed")

# --- the pieces ------------------------------------------------------------------------------------


def test_dumps_into_a_buffer_writes_what_dumps_writes() -> None:
    value = {"a": [1, 2.5, "é", None, True], "b": {"c": "x" * 1000}}
    for size in (0, 10, 5000):  # smaller than the reply (grown), larger (cut to the reply)
        buffer = bytearray(b"\xff" * size)
        written = _codec.dumps(value, buffer)
        assert written is buffer and bytes(buffer) == _codec.dumps(value) == msgspec.json.encode(value)


@pytest.mark.parametrize("value", [{"x": float("nan")}, {"t": "\ud800"}, {1: "int key"}])
def test_what_msgspec_does_not_write_is_json_dumps_bytes_and_the_buffer_is_not_returned(value: object) -> None:
    written = _codec.dumps(value, bytearray(100))
    assert type(written) is bytes and written == json.dumps(value).encode()


def test_only_a_large_body_msgspec_parsed_is_spare() -> None:
    import io

    large = json.dumps({"a": "x" * SPARE_MIN_BYTES}).encode()
    reader = BodyReader()
    message_, spare = reader.load_spare(io.BytesIO(large), len(large))
    assert message_ == json.loads(large) and type(spare) is bytearray and bytes(spare) == large
    assert reader.load_spare(io.BytesIO(b"[1]"), 3) == ([1], None)  # small: replied as before
    nan = large.replace(b'{"a"', b'{"n": NaN, "a"')
    assert reader.load_spare(io.BytesIO(nan), len(nan))[1] is None  # parsed by json from a text copy
    assert BodyReader(decoder=json.JSONDecoder).load_spare(io.BytesIO(large), len(large))[1] is None


def _served(answer: StepAnswer) -> tuple[str, list[tuple[str, str]], object]:
    started: list = []
    body = answer({}, lambda status, headers: started.append((status, headers)))
    return started[0][0], started[0][1], body


def test_a_buffer_reply_is_sent_in_chunks_with_the_headers_of_a_bytes_reply() -> None:
    buffer = bytearray(b"[" + b"1," * WRITE_CHUNK_BYTES + b"1]")
    status, headers, body = _served(StepAnswer(200, buffer))
    chunks = list(body)
    assert b"".join(chunks) == buffer and max(map(len, chunks)) == WRITE_CHUNK_BYTES and len(chunks) == 3
    assert (status, headers) == _served(StepAnswer(200, bytes(buffer)))[:2]
    response = StepAnswer(200, buffer).to_response()  # what the Flask views return
    assert b"".join(response.response) == buffer
    plain = StepAnswer(200, bytes(buffer)).to_response()
    assert list(response.headers.items()) == list(plain.headers.items())
    buffer.extend(b" ")  # every view of the buffer is released once its chunks are out


def test_a_reply_closed_early_releases_the_buffer() -> None:
    buffer = bytearray(3 * WRITE_CHUNK_BYTES)
    chunks = _served(StepAnswer(200, buffer))[2]
    next(chunks)
    chunks.close()
    buffer.extend(b" ")


# --- over a real gunicorn worker -----------------------------------------------------------------

ECHO_PLUGIN = """
import insightconnect_plugin_runtime as runtime

SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}, "items": {"type": "array"}}}
CONNECTION = {"type": "object", "properties": {"key": {"$ref": "#/definitions/credential_secret_key"}},
              "definitions": {"credential_secret_key": {"type": "object",
                                                        "properties": {"secretKey": {"type": "string"}}}}}


class Schema(runtime.Input):
    def __init__(self, schema):
        super().__init__(schema)


class Connection(runtime.Connection):
    def __init__(self):
        super().__init__(input=Schema(CONNECTION))

    def connect(self, params):
        pass


class Echo(runtime.Action):
    def __init__(self):
        super().__init__(name="echo", description="echo", input=Schema(SCHEMA), output=runtime.Output(SCHEMA))

    def run(self, params={}):
        return {"text": params["text"], "items": params["items"]}


class EchoPlugin(runtime.Plugin):
    def __init__(self):
        super().__init__(name="echo", vendor="tests", version="1.0.0", description="echo",
                         connection=Connection())
        self.add_action(Echo())


if __name__ == "__main__":
    runtime.CLI(EchoPlugin()).run()
"""
ECHO = "/api/v1/actions/echo"


def echo_message(text: str, connection: dict | None = None) -> bytes:
    items = [{"id": i, "name": f"item-{i}", "on": i % 2 == 0} for i in range(500)]
    body = {"action": "echo", "meta": {}, "connection": connection or {}, "input": {"text": text, "items": items}}
    return json.dumps({"version": "v1", "type": "action_start", "body": body}).encode()


@pytest.fixture(scope="module")
def lone_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The echo plugin (no custom encoder, unlike the sample) under one gunicorn worker."""
    directory = tmp_path_factory.mktemp("large")
    (directory / "echo_plugin").write_text(ECHO_PLUGIN)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "ICON_RUNTIME", "GUNICORN"))}
    env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
    log_path = directory / "server.log"
    command = [sys.executable, str(directory / "echo_plugin"), "http", "--bind", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [*command, "--process-workers", "1", "--threads", "2"],
            cwd=directory, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    server = Server(port, process, log_path, env)
    wait_until_ready(server)
    yield server
    server.stop()


def test_a_large_reply_is_what_dumps_writes_into_a_new_buffer(lone_worker: Server) -> None:
    body = echo_message("é" + "x" * (3 * 1024 * 1024))
    reply = lone_worker.post(ECHO, body)
    assert reply.status == 200, reply.body[:300]
    assert int(reply.headers["content-length"]) == len(reply.body)
    envelope = json.loads(reply.body)
    assert envelope["body"]["output"] == json.loads(body)["body"]["input"]
    assert reply.body == _codec.dumps(envelope) == msgspec.json.encode(envelope)  # compact, as before


def test_a_secret_in_a_large_reply_is_masked(lone_worker: Server) -> None:
    connection = {"key": {"secretKey": SECRET}}
    reply = lone_worker.post(ECHO, echo_message(f"{'y' * (2 * 1024 * 1024)} {SECRET} y", connection))
    assert reply.status == 200, reply.body[:300]
    assert SECRET.encode() not in reply.body and b" ******** y" in reply.body


def test_large_replies_one_after_another_on_one_connection(lone_worker: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", lone_worker.port, timeout=60)
    try:
        for size in (2 * 1024 * 1024, 3 * 1024 * 1024 + 5, 10):
            connection.request("POST", ECHO, body=echo_message("z" * size), headers={"Content-Type": JSON_TYPE})
            response = connection.getresponse()
            data = response.read()
            assert response.status == 200 and not response.will_close
            assert json.loads(data)["body"]["output"]["text"] == "z" * size
    finally:
        connection.close()


@pytest.mark.parametrize("fast", ["true", "false"])
def test_the_reply_goes_into_the_request_buffer_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: str
) -> None:
    """In process (fast path and Flask): a large plain reply is sent from its buffer, a small one is not."""
    from insightconnect_plugin_runtime.api import _plain_wsgi
    from insightconnect_plugin_runtime.server import PluginServer

    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    monkeypatch.setenv("ICON_RUNTIME_FAST_PATH", fast)
    buffers: list[int] = []

    chunks = _plain_wsgi.buffer_chunks

    def spy(buffer: bytearray) -> Iterator[bytes]:
        buffers.append(len(buffer))
        return chunks(buffer)

    monkeypatch.setattr(_plain_wsgi, "buffer_chunks", spy)
    (tmp_path / "echo_plugin.py").write_text(ECHO_PLUGIN)
    plugin = runpy.run_path(str(tmp_path / "echo_plugin.py"), run_name="echo")["EchoPlugin"]()
    client = PluginServer(plugin).app.test_client()
    large = echo_message("x" * (2 * 1024 * 1024))
    answer = client.post(ECHO, data=large)
    assert answer.status_code == 200 and buffers == [len(answer.data)]
    assert answer.data == msgspec.json.encode(answer.get_json())
    assert client.post(ECHO, data=echo_message("small")).status_code == 200 and len(buffers) == 1
