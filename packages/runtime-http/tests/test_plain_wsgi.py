"""The fast path reads and answers steps without werkzeug (``_plain_wsgi``), exactly as werkzeug would.

Each reply of :class:`StepAnswer` is compared with the werkzeug response the Flask views send, and
the fast path with the Flask path on the same WSGI environ as gunicorn builds it
(``wsgi.input_terminated``): good and malformed bodies alike must get the same status, headers and
JSON. A fresh interpreter checks that a served step loads no werkzeug.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from icon_http_testkit import SAMPLE, message
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from insightconnect_plugin_runtime.api import _fastpath
from insightconnect_plugin_runtime.api._plain_wsgi import (
    _STATUS_LINES,
    PLAIN_STATUSES,
    StepAnswer,
    StepRequest,
    is_http_error,
    step_request,
)
from insightconnect_plugin_runtime.api._responses import Response
from insightconnect_plugin_runtime.server import PluginServer

MAX_BODY = 4096


def _wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    body = app(environ, lambda status, headers, exc_info=None: seen.append((status, list(headers))))
    try:
        data = b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()
    return seen[0][0], seen[0][1], data


def _environ(body: bytes = b"", path: str = "/api/v1/actions/say_hello", **headers: str) -> dict[str, Any]:
    environ = EnvironBuilder(path=path, method="POST", data=body, headers=headers).get_environ()
    environ["wsgi.input_terminated"] = True  # gunicorn framed the body
    return environ


@pytest.mark.parametrize("code", sorted(PLAIN_STATUSES))
def test_status_lines_are_werkzeugs(code: int) -> None:
    assert _STATUS_LINES[code] == Response(status=code).status


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, '{"body": {"output": {}}}'),
        (200, b'{"body":{}}'),
        (400, '{"error": "caf\u00e9 \u2603"}'),
        (500, ""),
        (204, None),
        (418, '{"odd": true}'),  # a status werkzeug words its own way: answered by werkzeug
        (599, "{}"),
    ],
)
def test_an_answer_is_the_werkzeug_reply_of_the_flask_views(status: int, body: str | bytes | None) -> None:
    answer = StepAnswer(status, body)
    assert _wsgi(answer, _environ()) == _wsgi(answer.to_response(), _environ())
    if body is None:
        assert _wsgi(answer, _environ())[2] == b""


def test_the_plain_request_reads_what_werkzeug_reads() -> None:
    environ = _environ(b'{"a": 1}', **{"X-IPIMS-ORGID": "org-1", "Content-Type": "text/plain"})
    plain = step_request(environ, MAX_BODY)
    assert isinstance(plain, StepRequest)
    werkzeug = Request(_environ(b'{"a": 1}', **{"X-IPIMS-ORGID": "org-1", "Content-Type": "text/plain"}))
    werkzeug.max_content_length = MAX_BODY
    assert plain.content_length == werkzeug.content_length == 8
    assert plain.stream.read(100) == werkzeug.stream.read(100) == b'{"a": 1}'
    for name in ("X-IPIMS-ORGID", "x-ipims-orgid", "Content-Type", "X-Missing"):
        assert plain.headers.get(name, "-") == werkzeug.headers.get(name, "-")


@pytest.mark.parametrize(
    "change",
    [
        lambda env: env.pop("wsgi.input_terminated"),  # not gunicorn: a test client, another server
        lambda env: env.update(HTTP_TRANSFER_ENCODING="chunked"),
        lambda env: env.update(CONTENT_LENGTH=" 8"),
        lambda env: env.update(CONTENT_LENGTH="+8"),
        lambda env: env.update(CONTENT_LENGTH="-1"),
        lambda env: env.update(CONTENT_LENGTH=""),
        lambda env: env.update(CONTENT_LENGTH="\u0668"),  # a digit, not an ASCII one
    ],
)
def test_anything_but_a_plain_request_is_read_by_werkzeug(change: Callable[[dict[str, Any]], Any]) -> None:
    environ = _environ(b'{"a": 1}')
    change(environ)
    request = step_request(environ, MAX_BODY)
    assert isinstance(request, Request)
    assert request.max_content_length == MAX_BODY


def test_a_request_without_length_is_plain_and_bounded() -> None:
    environ = _environ(b"x" * (MAX_BODY + 10))
    del environ["CONTENT_LENGTH"]
    request = step_request(environ, MAX_BODY)
    assert isinstance(request, StepRequest) and request.content_length is None
    stream = request.stream
    assert len(stream.read(MAX_BODY + 10)) == MAX_BODY
    with pytest.raises(Exception) as raised:
        stream.read(1)
    assert is_http_error(raised.value) and raised.value.code == 413  # type: ignore[attr-defined]


def test_werkzeug_errors_are_recognised_only_as_such() -> None:
    from werkzeug.exceptions import BadRequest

    assert is_http_error(BadRequest())
    assert not is_http_error(ValueError("no"))


class _Broken:
    """An input stream that fails on read, as gunicorn's when the client went away."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def read(self, size: int = -1) -> bytes:
        raise self.error


def _large(environ: dict[str, Any]) -> None:
    environ["CONTENT_LENGTH"] = str(MAX_BODY + 1)


def _broken(error: Exception) -> Callable[[dict[str, Any]], None]:
    def change(environ: dict[str, Any]) -> None:
        environ["wsgi.input"] = _Broken(error)

    return change


def _longer_than_declared(environ: dict[str, Any]) -> None:
    environ["CONTENT_LENGTH"] = str(int(environ["CONTENT_LENGTH"]) + 50)


GOOD = json.dumps(message("say_hello")).encode()
UNKNOWN = GOOD.replace(b'"say_hello"', b'"no_such_step"')
CASES: dict[str, tuple[bytes, Callable[[dict[str, Any]], None] | None, str]] = {
    "good": (GOOD, None, "/api/v1/actions/say_hello"),
    "legacy route": (GOOD, None, "/actions/say_hello"),
    "empty": (b"", None, "/api/v1/actions/say_hello"),
    "blank": (b" \n ", None, "/api/v1/actions/say_hello"),
    "not json": (b"{", None, "/api/v1/actions/say_hello"),
    "not utf-8": (b'{"a": "\xff"}', None, "/api/v1/actions/say_hello"),
    "not an object": (b"[1, 2]", None, "/api/v1/actions/say_hello"),
    "too deep": (b"[" * 500 + b"]" * 500, None, "/api/v1/actions/say_hello"),
    "wrong type": (GOOD.replace(b'"action_start"', b'"trigger_start"'), None, "/api/v1/actions/say_hello"),
    "wrong step": (GOOD, None, "/api/v1/actions/say_goodbye"),
    "unknown step": (UNKNOWN, None, "/api/v1/actions/no_such_step"),
    "declared over the limit": (GOOD, _large, "/api/v1/actions/say_hello"),
    "shorter than declared": (GOOD, _longer_than_declared, "/api/v1/actions/say_hello"),
    "client gone (OSError)": (GOOD, _broken(ConnectionResetError("reset")), "/api/v1/actions/say_hello"),
    "client gone (ValueError)": (GOOD, _broken(ValueError("closed file")), "/api/v1/actions/say_hello"),
    "task test": (json.dumps(message("monitor_events")).encode(), None, "/tasks/monitor_events/test"),
}


def _sample_plugin() -> Any:
    return runpy.run_path(str(SAMPLE / "bin" / "icon_example"), run_name="sample")["IconExample"]()


@pytest.fixture(scope="module")
def apps() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
        patch.setenv("ICON_RUNTIME_MAX_BODY_BYTES", str(MAX_BODY))
        patch.setenv("ICON_RUNTIME_FAST_PATH", "true")
        fast = PluginServer(_sample_plugin()).app
        patch.setenv("ICON_RUNTIME_FAST_PATH", "false")
        flask = PluginServer(_sample_plugin()).app
        return {"fast": fast, "flask": flask}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_fast_path_answers_as_flask_does_under_gunicorn_framing(
    apps: dict[str, Any], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, change, path = CASES[case]
    plain: list[Any] = []
    monkeypatch.setattr(_fastpath, "step_request", lambda *a: plain.append(step_request(*a)) or plain[-1])
    replies = {}
    for name, app in apps.items():
        environ = _environ(body, path)
        if change is not None:
            change(environ)
        replies[name] = _wsgi(app, environ)
    assert len(plain) == 1 and isinstance(plain[0], StepRequest)  # the fast path read it without werkzeug
    (status, headers, data), (flask_status, flask_headers, flask_data) = replies["fast"], replies["flask"]
    assert (status, headers) == (flask_status, flask_headers)
    assert json.loads(data) == json.loads(flask_data)
    expected = {"good": 200, "legacy route": 200, "task test": 200, "shorter than declared": 200}
    expected.update({"unknown step": 404, "declared over the limit": 413})
    assert int(status.split()[0]) == expected.get(case, 400)


PROBE = """
import json, runpy, sys
from io import BytesIO
from insightconnect_plugin_runtime.server import PluginServer
from insightconnect_plugin_runtime.extensions import ServerOptions

plugin = runpy.run_path(SCRIPT, run_name="sample")["IconExample"]()
server = PluginServer(plugin, options=ServerOptions(bind_host="127.0.0.1"))
app = server._deferred_wsgi_app()
body = open(MESSAGE, "rb").read()


def call(data):
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/actions/say_hello", "SERVER_NAME": "x", "SERVER_PORT": "1",
        "wsgi.input": BytesIO(data), "wsgi.input_terminated": True, "CONTENT_LENGTH": str(len(data)),
        "wsgi.url_scheme": "http",
    }
    seen = []
    out = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(status)))
    return seen[0], json.loads(out)


good, bad = call(body), call(b"{")
loaded = sorted(m for m in ("werkzeug", "flask") if m in sys.modules)
print(json.dumps({"good": good[0], "bad": bad[0], "bad_error": bad[1]["body"]["error"], "loaded": loaded}))
"""


def test_a_step_under_gunicorn_loads_no_werkzeug(tmp_path: Any) -> None:
    script = tmp_path / "probe.py"
    script.write_text(
        PROBE.replace("SCRIPT", repr(str(SAMPLE / "bin" / "icon_example"))).replace(
            "MESSAGE", repr(str(SAMPLE / "messages" / "say_hello.json"))
        )
    )
    env = {"PATH": "/usr/bin:/bin", "ICON_RUNTIME_DISABLED_EXTENSIONS": "tracing"}
    argv = [sys.executable, str(script)]
    done = subprocess.run(argv, cwd=SAMPLE, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["good"] == "200 OK" and seen["bad"] == "400 BAD REQUEST"
    assert "not valid JSON" in seen["bad_error"]
    assert seen["loaded"] == []
