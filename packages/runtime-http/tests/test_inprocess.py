"""The app in-process (Flask test client), for plugins the sample cannot play: 204 and 501."""

from __future__ import annotations

from typing import Any

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.server import PluginServer


class _Quiet(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=None)

    def connect(self, params: Any = None) -> None:
        return None

    def test(self) -> None:
        return None


class _Untestable(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=None)

    def connect(self, params: Any = None) -> None:
        return None


def _client(connection: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    monkeypatch.delenv("GUNICORN_CONFIG_FILE", raising=False)
    plugin = insightconnect_plugin_runtime.Plugin(name="probe", vendor="tests", version="0.0.1", connection=connection)
    return PluginServer(plugin).app.test_client()


CONNECTION_TEST = {"type": "connection_test", "version": "v1", "body": {"connection": {}}}


def test_connection_test_without_output_is_204(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = _client(_Quiet(), monkeypatch).post("/api/v1/connection/test", json=CONNECTION_TEST)
    assert reply.status_code == 204 and reply.data == b""


def test_connection_without_a_test_is_501(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = _client(_Untestable(), monkeypatch).post("/api/v1/connection/test", json=CONNECTION_TEST)
    assert reply.status_code == 501
    assert reply.get_json()["body"]["status"] == "error"


def test_server_patch_points_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins' tests patch server.is_running_in_cloud and server.request_get."""
    from insightconnect_plugin_runtime import server

    calls: list[str] = []

    class Answer:
        status_code = 200

        def raise_for_status(self) -> None:
            return None

        def json(self) -> dict[str, Any]:
            return {"plugins": {"probe": {"*": {"k": 1}}}, "otel_tracing": "http://127.0.0.1:1"}

    monkeypatch.setattr(server, "is_running_in_cloud", lambda: True)
    monkeypatch.setattr(server, "request_get", lambda url, **kw: calls.append(url) or Answer())
    monkeypatch.setenv("CPS_ENDPOINT", "http://127.0.0.1:9/config")
    plugin = insightconnect_plugin_runtime.Plugin(name="probe", connection=_Quiet())
    built = PluginServer(plugin)
    assert calls == ["http://127.0.0.1:9/config"]
    assert built.config_options == {"otel_tracing": "http://127.0.0.1:1"}  # no tasks: only the tracing endpoint
    assert built.app.test_client().post("/api/v1/admin/shutdown").status_code == 404


def _sample_plugin() -> Any:
    import runpy

    from icon_http_testkit import SAMPLE

    return runpy.run_path(str(SAMPLE / "bin" / "icon_example"), run_name="sample")["IconExample"]()


@pytest.mark.parametrize("fast", ["true", "false"])
def test_fast_path_and_flask_path_answer_alike(monkeypatch: pytest.MonkeyPatch, fast: str) -> None:
    from icon_http_testkit import message

    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    monkeypatch.setenv("ICON_RUNTIME_FAST_PATH", fast)
    client = PluginServer(_sample_plugin()).app.test_client()
    assert client.post("/api/v1/actions/say_hello", json=message("say_hello")).get_json()["body"]["output"]
    assert client.post("/tasks/monitor_events/test", json=message("monitor_events")).status_code == 200
    assert client.post("/api/v1/actions/say_hello", data=b"{").status_code == 400
    assert client.post("/api/v1/triggers/emit_greeting", json=message("emit_greeting")).status_code == 405
    assert client.post("/triggers/emit_greeting", json=message("emit_greeting")).status_code == 404
    assert client.get("/actions/say_hello").status_code == 405


def test_fast_path_steps_aside_for_foreign_flask_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    from insightconnect_plugin_runtime.api._fastpath import StepFastPath

    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    seen: list[str] = []

    class Hook:
        def init_app(self, app: Any, plugin: Any, config: Any) -> None:
            app.before_request(lambda: seen.append("hooked"))

    monkeypatch.setattr("insightconnect_plugin_runtime._extensions.server_hooks", lambda: (Hook(),))
    server = PluginServer(_sample_plugin())
    assert not isinstance(server.app.wsgi_app, StepFastPath)
    from icon_http_testkit import message

    assert server.app.test_client().post("/api/v1/actions/say_hello", json=message("say_hello")).status_code == 200
    assert seen == ["hooked"]


def test_config_options_follow_a_later_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin test reading server.config_options after the config service answered again."""
    from icon_http_testkit import message

    from insightconnect_plugin_runtime import server

    answers = [{"*": {"page_size": 1}}, {"*": {"page_size": 2}}]

    class Answer:
        status_code = 200

        def raise_for_status(self) -> None:
            return None

        def json(self) -> dict[str, Any]:
            return {"plugins": {"example": answers[0]}}

    monkeypatch.setattr(server, "is_running_in_cloud", lambda: True)
    monkeypatch.setattr(server, "request_get", lambda url, **kw: Answer())
    monkeypatch.setenv("CPS_ENDPOINT", "http://127.0.0.1:9/config")
    built = PluginServer(_sample_plugin())
    assert built.config_options == {"*": {"page_size": 1}}
    client = built.app.test_client()
    headers = {"X-IPIMS-ORGID": "org-1", "X-INTEGRATION-ID": "int-1"}

    def task_output() -> list[Any]:
        reply = client.post("/api/v1/tasks/monitor_events", json=message("monitor_events"), headers=headers)
        return reply.get_json()["body"]["output"]

    assert len(task_output()) == 1
    answers.pop(0)
    assert built.config_store.fetch()  # what the background refresh does
    assert built.config_options == {"*": {"page_size": 2}}
    assert len(task_output()) == 2  # the view and the tasks agree
    built.config_options = {"*": {"page_size": 3}}  # assignment, as the reference's attribute allows
    assert built.config_store.options == {"*": {"page_size": 3}}
    assert len(task_output()) == 3


@pytest.mark.parametrize("fast", ["true", "false"])
def test_shutdown_refuses_new_work_even_with_track_work_off(monkeypatch: pytest.MonkeyPatch, fast: str) -> None:
    """The reference accepts new work after a shutdown request when TRACK_WORK is off; we refuse it."""
    from icon_http_testkit import message

    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    monkeypatch.setenv("TRACK_WORK", "false")
    monkeypatch.setenv("ICON_RUNTIME_FAST_PATH", fast)
    client = PluginServer(_sample_plugin()).app.test_client()
    assert client.post("/api/v1/actions/say_hello", json=message("say_hello")).status_code == 200
    assert client.get("/api/v1/admin/status").status_code == 404  # TRACK_WORK off: no status route
    assert client.post("/api/v1/admin/shutdown").status_code == 200
    for path, name in (
        ("/api/v1/actions/say_hello", "say_hello"),
        ("/actions/say_hello", "say_hello"),
        ("/api/v1/tasks/monitor_events", "monitor_events"),
        ("/api/v1/connection/test", "connection_test"),
    ):
        reply = client.post(path, json=message(name))
        assert reply.status_code == 503, path
        assert reply.get_json()["body"]["status"] == "error"
    assert client.get("/api/v1/health/ready").status_code == 503
