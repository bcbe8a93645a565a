"""``bin/<plugin> http`` forks its first workers before Flask is loaded: steps need no Flask.

The WSGI app a served plugin hands to gunicorn is checked in a fresh interpreter (this one has
Flask loaded already): a step request is answered, and counted by the metrics, without importing
Flask; the first other request builds the app and is answered and counted like before.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from icon_http_testkit import SAMPLE, Server, message, wait_for, worker_pids

from insightconnect_plugin_runtime.server import PluginServer

#: The tracing distribution's server hook wants the app at start: without it nothing does.
NO_TRACING_HOOK = {"ICON_RUNTIME_DISABLED_EXTENSIONS": "tracing"}

PROBE = """
import json, runpy, sys
from werkzeug.test import Client

from insightconnect_plugin_runtime.extensions import ServerOptions
from insightconnect_plugin_runtime.server import PluginServer

plugin = runpy.run_path({script!r}, run_name="sample")["IconExample"]()
server = PluginServer(plugin, metrics=True, options=ServerOptions(bind_host="127.0.0.1"))
deferred = server._may_defer_app()
client = Client(server._deferred_wsgi_app())
message = json.load(open({message!r}))
seen = {{"deferred": deferred, "modules_before": sorted(m for m in ("flask", "prometheus_client") if m in sys.modules)}}
step = client.post("/api/v1/actions/say_hello", json=message)
seen["step"] = [step.status_code, step.headers["Content-Type"], step.get_json()["body"]["output"]]
seen["flask_after_step"] = "flask" in sys.modules
info = client.get("/api/v1/info")
seen["info"] = [info.status_code, info.get_json()["name"]]
seen["flask_after_info"] = "flask" in sys.modules
seen["missing"] = client.get("/no/such/page").status_code
seen["bad_method"] = client.get("/actions/say_hello").status_code
seen["metrics"] = client.get("/metrics").get_data(as_text=True)
print(json.dumps(seen))
"""


def _run_probe(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "probe.py"
    message_file = SAMPLE / "messages" / "say_hello.json"
    plugin_script = str(SAMPLE / "bin" / "icon_example")
    script.write_text(textwrap.dedent(PROBE.format(script=plugin_script, message=str(message_file))))
    env = {
        k: v
        for k, v in __import__("os").environ.items()
        if not k.startswith(("PROMETHEUS", "ICON_RUNTIME", "GUNICORN"))
        and k not in ("PLUGIN_RUNTIME_ENVIRONMENT", "CPS_ENDPOINT")
    }
    env.update(NO_TRACING_HOOK)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=SAMPLE, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _count(text: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("icon_runtime_requests_total{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_steps_are_answered_and_counted_before_flask_is_loaded(tmp_path: Path) -> None:
    seen = _run_probe(tmp_path)
    assert seen["deferred"] is True
    assert seen["modules_before"] == []  # neither Flask nor the metrics library: both load later
    assert seen["step"] == [200, "application/json", {"message": "Hello, World!"}]
    assert seen["flask_after_step"] is False
    assert seen["info"] == [200, "example"]
    assert seen["flask_after_info"] is True
    assert seen["missing"] == 404 and seen["bad_method"] == 405
    text = seen["metrics"]
    assert _count(text, kind="action", step="say_hello", endpoint="/api/v1/actions/<name>", status="200") == 1
    assert _count(text, kind="api", endpoint="/api/v1/info", status="200") == 1
    assert _count(text, kind="api", endpoint="<unmatched>", status="404") == 1
    assert _count(text, kind="api", endpoint="<unmatched>", status="405") == 1


def _sample_plugin() -> Any:
    import runpy

    return runpy.run_path(str(SAMPLE / "bin" / "icon_example"), run_name="sample")["IconExample"]()


class _InitApp:
    def init_app(self, app: Any, plugin: Any, config: Any) -> None:
        return None


class _PostFork:
    def post_fork(self, app: Any, plugin: Any, config: Any) -> None:
        return None


class _Unrelated:
    pass


class _NeedsApp(_InitApp, _PostFork):
    """A hook with both methods that says whether it has anything to do in this server."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def needs_app(self, plugin: Any, config: Any) -> bool:
        if isinstance(self.answer, Exception):
            raise self.answer
        return bool(self.answer)


@pytest.mark.parametrize(
    ("hooks", "fast", "deferred"),
    [
        ((), "true", True),
        ((_Unrelated(),), "true", True),
        ((_InitApp(),), "true", False),
        ((_PostFork(),), "true", False),
        ((_NeedsApp(False),), "true", True),
        ((_NeedsApp(True),), "true", False),
        ((_NeedsApp(False), _InitApp()), "true", False),
        ((_NeedsApp(RuntimeError("broken")),), "true", False),
        ((_NeedsApp(False),), "false", False),
        ((), "false", False),
    ],
)
def test_the_app_is_built_before_the_fork_when_something_needs_it(
    monkeypatch: pytest.MonkeyPatch, hooks: tuple[Any, ...], fast: str, deferred: bool
) -> None:
    """A server hook receives the app at start (init_app, post_fork), and without the fast path
    every request is Flask's: then the master builds the app before forking, as before."""
    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    monkeypatch.setenv("ICON_RUNTIME_FAST_PATH", fast)
    monkeypatch.setattr("insightconnect_plugin_runtime._extensions.server_hooks", lambda: hooks)
    server = PluginServer(_sample_plugin())
    assert server._may_defer_app() is deferred
    server.app  # noqa: B018 - a plugin's fixture asking for the app gets the whole one
    assert server._may_defer_app() is False


def test_a_served_plugin_without_hooks_defers_the_app_and_serves_every_endpoint(fresh_server) -> None:  # type: ignore[no-untyped-def]
    """Real gunicorn: the first workers build the app on their first other request; a worker added
    later inherits the one the master built after the first forks."""
    server: Server = fresh_server(NO_TRACING_HOOK, ("--process-workers", "2", "--threads", "2"))
    step = server.post("/api/v1/actions/say_hello", message("say_hello"))
    assert step.status == 200 and step.json()["body"]["output"] == {"message": "Hello, World!"}
    assert server.post("/api/v1/workers/add").json() == {"num_workers": 3}
    wait_for(lambda: len(worker_pids(server)) == 3)
    for _ in range(12):  # every worker, the added one too
        assert server.get("/api/v1/info").json()["name"] == "example"
        assert server.post("/actions/say_hello", message("say_hello")).status == 200
    assert server.get("/api/v1/nowhere").status == 404
    text = server.get("/metrics").body.decode()
    assert _count(text, kind="action", step="say_hello", status="200") == 13
    assert _count(text, kind="api", endpoint="/api/v1/info", status="200") == 12
    assert "start-up task failed" not in server.log()


def _deferred_client(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[PluginServer, Any]:
    from werkzeug.test import Client

    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("insightconnect_plugin_runtime._extensions.server_hooks", lambda: ())
    server = PluginServer(_sample_plugin())
    assert server._may_defer_app()
    return server, Client(server._deferred_wsgi_app())


def test_the_first_request_of_a_deferred_app_keeps_the_admin_guard_and_json_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The app built on a worker's first non-step request is the whole one: the admin token is asked
    for, and what Flask refuses is the server's JSON, never an HTML page."""
    _, client = _deferred_client(monkeypatch, ICON_RUNTIME_ADMIN_TOKEN="adm-tok-3c9e")
    denied = client.post("/api/v1/workers/add")
    assert denied.status_code in (401, 403) and denied.headers["Content-Type"].startswith("application/json")
    assert "adm-tok-3c9e" not in denied.get_data(as_text=True)
    for answer in (client.get("/api/v1/admin/shutdown"), client.put("/api/v1/info"), client.get("/x/../etc")):
        assert answer.status_code >= 400 and answer.headers["Content-Type"].startswith("application/json")
        assert not answer.get_data(as_text=True).lstrip().startswith("<")


def test_an_app_that_cannot_be_built_answers_json_and_steps_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deferred, a failing build no longer stops the server at start: each request needing the app
    gets the server's JSON 500 (gunicorn would answer its own HTML page), and the next one retries."""
    server, client = _deferred_client(monkeypatch)
    builds = []

    def broken() -> Any:
        builds.append(1)
        raise RuntimeError("spec unreadable")

    monkeypatch.setattr(server, "_build_deferred_app", broken)
    server._deferred = None
    client = type(client)(server._deferred_wsgi_app())
    for _ in range(2):
        answer = client.get("/api/v1/info")
        assert answer.status_code == 500 and answer.headers["Content-Type"] == "application/json"
        assert answer.get_json()["code"] == 500 and answer.get_json()["path"] == "/api/v1/info"
    assert len(builds) == 2
    step = client.post("/api/v1/actions/say_hello", json=json.load(open(SAMPLE / "messages" / "say_hello.json")))
    assert step.status_code == 200
