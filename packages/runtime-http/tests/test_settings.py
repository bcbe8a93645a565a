"""Server options, GUNICORN_CONFIG_FILE, custom-config merging and body limits (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from icon_http_testkit import free_port, message

from insightconnect_plugin_runtime._contracts import ServerOptions
from insightconnect_plugin_runtime.api._body import BodyError, BodyReader
from insightconnect_plugin_runtime.api._custom_config import merge_custom_config
from insightconnect_plugin_runtime.api._limits import RequestLimits
from insightconnect_plugin_runtime.api._settings import ConfigFileError, build_settings, read_config_file

UUID = "0c8f8e5e-1b0a-4b8e-9f0a-3b6f1c2d4e5f"


def test_defaults_map_onto_gthread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUNICORN_CONFIG_FILE", raising=False)
    settings = build_settings(ServerOptions(), cloud=False)
    assert settings.gunicorn["bind"] == "0.0.0.0:10001"
    assert settings.gunicorn["worker_class"] == "gthread"
    assert settings.gunicorn["threads"] == 4 and settings.gunicorn["workers"] == 1
    assert settings.gunicorn["graceful_timeout"] == 30
    assert settings.gunicorn["control_socket_disable"] is True


def test_gevent_falls_back_to_gthread_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gevent" else real(name, *a))
    assert build_settings(ServerOptions(worker_class="gevent"), cloud=False).worker_class == "gthread"


def test_config_file_overrides_key_by_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "g.json").write_text(json.dumps({"workers": 3, "Loglevel": "warning", "post_fork": "x"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GUNICORN_CONFIG_FILE", "g.json")
    settings = build_settings(ServerOptions(graceful_timeout=7), cloud=False)
    assert settings.workers == 3 and settings.gunicorn["loglevel"] == "warning"
    assert settings.gunicorn["graceful_timeout"] == 7
    assert "post_fork" not in settings.gunicorn


@pytest.mark.parametrize("name", ["../g.json", "/etc/hostname", "sub/../../g.json", " "])
def test_config_file_may_not_leave_the_working_directory(tmp_path: Path, name: str) -> None:
    (tmp_path / "work").mkdir()
    with pytest.raises(ConfigFileError):
        read_config_file(name, cwd=str(tmp_path / "work"))


@pytest.mark.parametrize(
    ("content", "why"), [("{", "not valid JSON"), ("[1]", "JSON object"), (None, "cannot be read")]
)
def test_config_file_errors_are_clear(tmp_path: Path, content: str | None, why: str) -> None:
    if content is not None:
        (tmp_path / "g.json").write_text(content)
    with pytest.raises(ConfigFileError, match=why):
        read_config_file("g.json", cwd=str(tmp_path))


def test_server_uses_the_config_file_and_rejects_escapes(fresh_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    (tmp_path / "gcfg.json").write_text(json.dumps({"bind": f"127.0.0.1:{port}", "workers": 2}))
    server = fresh_server({"GUNICORN_CONFIG_FILE": "gcfg.json"}, cwd=tmp_path, wait=False)
    server.port = port
    from icon_http_testkit import wait_until_ready

    wait_until_ready(server)
    assert server.get("/api/v1/info").json()["number_of_workers"] == 2
    assert server.post("/api/v1/actions/say_hello", message("say_hello")).status == 200
    bad = fresh_server({"GUNICORN_CONFIG_FILE": "../gcfg.json"}, cwd=tmp_path, wait=False)
    assert bad.process.wait(20) == 2
    assert "outside the working directory" in bad.log()


@pytest.mark.parametrize(
    ("org", "integration", "has_state", "expected"),
    [
        ("", "", False, {"a": "global", "lookback": "7d", "task": "global-task"}),
        ("", "", True, {"a": "global", "task": "global-task"}),
        ("org", "", False, {"a": "org", "lookback": "7d", "task": "org-task", "b": 1}),
        ("org", UUID, False, {"a": "int", "lookback": "7d", "task": "org-task", "b": 1}),
        ("unknown", "", False, {"a": "global", "lookback": "7d", "task": "global-task"}),
    ],
)
def test_custom_config_merge_order(org: str, integration: str, has_state: bool, expected: dict) -> None:
    uuid = UUID
    options = {
        "*": {"a": "global", "lookback": "7d", "monitor": {"task": "global-task"}, "other_task": {"x": 1}},
        "org": {"a": "org", "b": 1, "monitor": {"task": "org-task"}, uuid: {"a": "int"}},
    }
    merged = merge_custom_config(options, "monitor", org, integration, has_state, ["monitor", "other_task"])
    assert merged == expected


def test_body_reader_limits() -> None:
    import io

    reader = BodyReader(RequestLimits(max_body_bytes=10, max_json_depth=3))
    with pytest.raises(BodyError) as too_big:
        reader.read(io.BytesIO(b"x" * 11), None)
    assert too_big.value.status == 413
    with pytest.raises(BodyError) as declared:
        reader.read(io.BytesIO(b""), 11)
    assert declared.value.status == 413
    assert reader.decode(b'{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}
    assert reader.decode(b'{"a": "[[[[[[[["}') == {"a": "[[[[[[[["}  # brackets inside strings do not count
    with pytest.raises(BodyError):
        reader.decode(b'{"a": [{"b": [1]}]}')
