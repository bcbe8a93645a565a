"""Failure bundles end to end: icon-runtime-http writes one for a failing step (masked, 0600, bounded),
and the kit replays it offline as a test."""

from __future__ import annotations

import json
import os
import stat

import pytest

from insightconnect_plugin_runtime._testing_http import http_available
from insightconnect_plugin_runtime.testing import PluginKit, canary_connection, replay_bundle

from . import http_plugin

pytest.importorskip("vcr")
pytest_httpserver = pytest.importorskip("pytest_httpserver")
if not http_available():
    pytest.skip("failure bundles are written by icon-runtime-http", allow_module_level=True)


@pytest.fixture
def server():
    fake = pytest_httpserver.HTTPServer(host="127.0.0.1")
    fake.start()
    yield fake
    if fake.is_running():
        fake.stop()


@pytest.fixture
def bundles(tmp_path, monkeypatch):
    directory = tmp_path / "bundles"
    monkeypatch.setenv("ICON_RUNTIME_FAILURE_BUNDLE_DIR", str(directory))
    return directory


def _only_bundle(directory):
    files = sorted(directory.iterdir()) if directory.exists() else []
    assert len(files) == 1, files
    return files[0]


@pytest.mark.parametrize("via", ["http", "protocol"])
def test_a_failing_step_leaves_a_masked_bundle_that_replays_offline(server, bundles, via):
    plugin = http_plugin.HttpPlugin()
    canary = canary_connection(http_plugin.CONNECTION_SCHEMA, http_plugin.connection(server.url_for("")))
    key = canary.connection["api_key"]["secretKey"]
    # the API echoes the key it was sent, and then breaks off its JSON
    server.expect_request("/items").respond_with_data(
        '{"items": [1, 2], "you_sent": "' + key + '", "next": ', content_type="application/json"
    )
    result = PluginKit(plugin, canary.connection, via=via).action("fetch_naive", {"limit": 2})
    assert result.status == "error"

    path = _only_bundle(bundles)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert canary.leaks([("bundle", text)]) == []
    bundle = json.loads(text)
    assert bundle["kind"] == "action" and bundle["name"] == "fetch_naive"
    assert bundle["error"]["type"] == "JSONDecodeError"
    assert bundle["message"]["body"]["input"] == {"limit": 2}
    assert bundle["message"]["body"]["connection"]["api_key"]["secretKey"] == "********"
    (exchange,) = bundle["http"]
    assert exchange["method"] == "GET" and exchange["url"].endswith("/items?limit=2") and exchange["status"] == 200
    assert exchange["body"] == '{"items": [1, 2], "you_sent": "********", "next": '

    server.stop()  # the replay must not need the service
    replay = replay_bundle(path, plugin, http_plugin.connection(server.url_for("")))
    assert replay.reproduced, replay.result.error
    assert replay.recorded_error == "JSONDecodeError"


def test_a_bundle_replays_with_its_own_masked_connection(server, bundles):
    plugin = http_plugin.HttpPlugin()
    server.expect_request("/items").respond_with_json({"unexpected": True})
    PluginKit(plugin, http_plugin.connection(server.url_for(""))).action("fetch_naive")
    server.stop()
    replay = PluginKit(plugin).replay_bundle(_only_bundle(bundles))
    assert replay.reproduced and type(replay.result.error).__name__ == "KeyError"
    assert replay.result.message["body"]["connection"]["api_key"]["secretKey"] == "********"


def test_a_fixed_step_does_not_reproduce(server, bundles):
    plugin = http_plugin.HttpPlugin()
    server.expect_request("/items").respond_with_data("{broken", content_type="application/json")
    PluginKit(plugin, http_plugin.connection(server.url_for(""))).action("fetch_naive")
    server.stop()
    replay = replay_bundle(_only_bundle(bundles), plugin, http_plugin.connection(server.url_for("")))
    assert replay.reproduced
    # the careful action, on the same recorded answer, ends with a PluginException: not the bug
    bundle = json.loads(_only_bundle(bundles).read_text())
    bundle["message"]["body"]["action"] = "fetch_careful"
    fixed = bundles.parent / "fixed.json"
    fixed.write_text(json.dumps(bundle))
    again = replay_bundle(fixed, plugin, http_plugin.connection(server.url_for("")))
    assert not again.reproduced and type(again.result.error).__name__ == "PluginException"


def test_a_successful_step_writes_no_bundle(server, bundles):
    server.expect_request("/items").respond_with_json({"items": [1]})
    result = PluginKit(http_plugin.HttpPlugin(), http_plugin.connection(server.url_for(""))).action("fetch_naive")
    assert result.ok and result.output == {"count": 1}
    assert not bundles.exists() or list(bundles.iterdir()) == []


def test_without_the_switch_nothing_is_written(server, tmp_path, monkeypatch):
    monkeypatch.delenv("ICON_RUNTIME_FAILURE_BUNDLE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    server.expect_request("/items").respond_with_data("{", content_type="application/json")
    result = PluginKit(http_plugin.HttpPlugin(), http_plugin.connection(server.url_for(""))).action("fetch_naive")
    assert result.status == "error" and list(tmp_path.iterdir()) == []


def test_a_bundle_is_bounded_in_size(server, bundles, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_FAILURE_BUNDLE_MAX_BYTES", "20000")
    server.expect_request("/items").respond_with_json({"nothing": "x" * 500_000})
    PluginKit(http_plugin.HttpPlugin(), http_plugin.connection(server.url_for(""))).action("fetch_naive")
    path = _only_bundle(bundles)
    assert os.path.getsize(path) <= 20000
    (exchange,) = json.loads(path.read_text())["http"]
    assert '"nothing": "xxx' in exchange["body"] and exchange["body_complete"] is False


def test_the_number_of_bundles_is_bounded(server, bundles, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_FAILURE_BUNDLE_MAX_FILES", "2")
    server.expect_request("/items").respond_with_data("{", content_type="application/json")
    kit = PluginKit(http_plugin.HttpPlugin(), http_plugin.connection(server.url_for("")))
    for _ in range(4):
        assert kit.action("fetch_naive").status == "error"
    assert len(list(bundles.iterdir())) == 2


def test_a_task_bundle_holds_its_state_and_replays(server, bundles):
    plugin = http_plugin.HttpPlugin()
    server.expect_request("/pages/3").respond_with_data("Internal error", status=500)
    result = PluginKit(plugin, http_plugin.connection(server.url_for(""))).task("pages", {}, state={"cursor": 3})
    assert result.status == "error"
    bundle = json.loads(_only_bundle(bundles).read_text())
    assert bundle["state"] == {"task_state": {"cursor": 3}}
    assert bundle["http"][0]["status"] == 500 and bundle["http"][0]["body"] == "Internal error"
    server.stop()
    replay = replay_bundle(_only_bundle(bundles), plugin, http_plugin.connection(server.url_for("")))
    assert replay.reproduced and replay.recorded_error == "HTTPError"


def test_a_trigger_bundle_holds_its_checkpoint(server, bundles, tmp_path):
    plugin = http_plugin.HttpPlugin()
    server.expect_ordered_request("/events").respond_with_json({"events": [{"id": 1}, {"id": 2}]})
    server.expect_ordered_request("/events").respond_with_data("down", status=503)
    kit = PluginKit(plugin, http_plugin.connection(server.url_for("")), state_dir=tmp_path / "state")
    from insightconnect_plugin_runtime.testing import VirtualClock

    with VirtualClock():
        result = kit.trigger("poll", {})
    assert result.status == "error" and [e["id"] for e in result.outputs] == [1, 2]
    bundle = json.loads(_only_bundle(bundles).read_text())
    assert bundle["kind"] == "trigger" and bundle["state"] == {"trigger_checkpoint": {"cursor": 2}}
    assert [exchange["status"] for exchange in bundle["http"]] == [200, 503]


def test_a_file_that_is_not_a_bundle_is_refused(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a failure bundle"):
        replay_bundle(path, http_plugin.HttpPlugin())
