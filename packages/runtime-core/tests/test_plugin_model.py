"""Connections, the connection cache, logging isolation, metrics and step hooks, in process."""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import pytest

import insightconnect_plugin_runtime as icon
from insightconnect_plugin_runtime import _extensions
from insightconnect_plugin_runtime.connection import ConnectionCache, key
from insightconnect_plugin_runtime.exceptions import LoggedException, PluginException
from insightconnect_plugin_runtime.metrics import MetricsBuilder
from insightconnect_plugin_runtime.plugin import Meta

SCHEMA = {"type": "object", "properties": {"username": {"type": "string"}}, "required": ["username"]}


class CountingConnection(icon.Connection):
    connects = 0

    def __init__(self):
        super().__init__(input=SCHEMA)

    def connect(self, params):
        type(self).connects += 1
        self.logger.info(f"connected as {params['username']}")


class Echo(icon.Action):
    def __init__(self):
        super().__init__("echo", "echo", icon.Input({"type": "object"}), icon.Output({"type": "object"}))

    def run(self, params={}):  # noqa: B006 - plugin style
        self.logger.info(f"marker {params['marker']}")
        if params.get("barrier"):
            params["barrier"].wait(timeout=5)
        if params.get("fail"):
            raise PluginException(cause="failed", assistance="none")
        return {"marker": params["marker"]}


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    CountingConnection.connects = 0
    plugin = icon.Plugin(name="Test", vendor="v", version="1.0.0", connection=CountingConnection())
    plugin.add_action(Echo())
    return plugin


def _message(marker, username="bob", **extra):
    return {
        "type": "action_start",
        "version": "v1",
        "body": {"action": "echo", "connection": {"username": username}, "input": {"marker": marker, **extra}},
    }


def test_key_uses_explicit_cache_key_or_digest():
    assert key({"connection_cache_key": "abc", "x": 1}) == "abc"
    assert key({"a": 1, "b": 2}) == key({"b": 2, "a": 1})
    assert key({"a": 1}) != key({"a": 2})


def test_the_cache_files_connections_by_explicit_key_or_exact_parameters():
    class Plain(icon.Connection):
        def connect(self, params):
            pass

    cache = ConnectionCache(Plain(None))
    log = logging.getLogger("x")
    first = cache.get({"a": 1, "b": 2}, log)
    assert cache.get({"b": 2, "a": 1}, log) is first
    assert cache.get({"a": 1, "b": 3}, log) is not first
    shared = cache.get({"connection_cache_key": "k1", "user": "a"}, log)
    assert cache.get({"connection_cache_key": "k1", "user": "b"}, log) is shared
    # An explicit key never meets a parameter set whose JSON happens to spell it.
    lookalike = cache.get({"connection_cache_key": '{"a": 1, "b": 2}'}, log)
    assert lookalike is not first and len(cache.connections) == 4


def test_on_prem_connections_are_cached_per_parameters(plugin):
    plugin.handle_step(_message("m1"))
    plugin.handle_step(_message("m2"))
    assert CountingConnection.connects == 1
    plugin.handle_step(_message("m3", username="eve"))
    assert CountingConnection.connects == 2 and len(plugin.connection_cache.connections) == 2


def test_cloud_builds_a_new_connection_every_time(plugin, monkeypatch):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    plugin.handle_step(_message("m1"))
    plugin.handle_step(_message("m2"))
    assert CountingConnection.connects == 2 and plugin.connection_cache.connections == {}


def test_failed_connect_is_not_cached():
    class Broken(icon.Connection):
        def connect(self, params):
            raise RuntimeError("nope")

    cache = ConnectionCache(Broken(None))
    with pytest.raises(RuntimeError):
        cache.get({"a": 1}, logging.getLogger("x"))
    assert cache.connections == {}


def test_cached_connection_logs_into_each_request(plugin):
    first = plugin.handle_step(_message("m1"))
    assert "connected as bob" in first["body"]["log"]
    second = plugin.handle_step(_message("m2"))
    assert "marker m2" in second["body"]["log"] and "marker m1" not in second["body"]["log"]


def test_concurrent_executions_see_only_their_own_lines(plugin):
    barrier = threading.Barrier(4)
    replies = {}

    def work(marker, fail):
        try:
            replies[marker] = plugin.handle_step(_message(marker, barrier=barrier, fail=fail))
        except LoggedException as failure:
            replies[marker] = failure.output

    threads = [threading.Thread(target=work, args=(f"m{i}", i % 2 == 1)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    for i in range(4):
        log = replies[f"m{i}"]["body"]["log"]
        assert f"marker m{i}" in log
        assert all(f"marker m{j}" not in log for j in range(4) if j != i)
    assert replies["m1"]["body"]["status"] == "error" and replies["m0"]["body"]["status"] == "ok"


def test_debug_lines_only_in_debug_executions(plugin):
    class Chatty(Echo):
        def run(self, params={}):  # noqa: B006
            self.logger.debug("debug detail")
            return {}

    chatty = Chatty()
    chatty.name = "chatty"
    plugin.add_action(chatty)
    message = _message("x")
    message["body"]["action"] = "chatty"
    assert "debug detail" not in plugin.handle_step(message)["body"]["log"]
    assert "debug detail" in plugin.handle_step(message, is_debug=True)["body"]["log"]


def test_cloud_error_replies_carry_metrics(plugin, monkeypatch):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    message = _message("m", fail=True)
    message["body"]["meta"] = {"shortOrgId": "org-B", "workflowId": "wf-1"}
    with pytest.raises(LoggedException) as failure:
        plugin.handle_step(message)
    metrics = failure.value.output["body"]["metrics"]
    assert metrics["organization_id"] == "org-B" and metrics["workflow"]["id"] == "wf-1"
    assert metrics["workflow"]["step"]["inputs"] == ["marker", "fail"]
    assert metrics["workflow"]["step"]["error"]["known"] is True


def test_metrics_error_blob_for_unknown_errors():
    blob = MetricsBuilder("n", "1", "v", None, IndexError("list index out of range"))._build_error_blob()
    assert blob == {"cause": "IndexError", "known": False, "message": "list index out of range"}
    known = MetricsBuilder("n", "1", "v", None, PluginException(preset="not_found"))._build_error_blob()
    assert known["cause"] == "not_found" and known["known"] is True


def test_build_workflow_formats():
    assert Meta.build_workflow({"workflow_uid": "w"}).workflowId == "w"
    assert Meta.build_workflow({"shortOrgId": "o", "triggerId": "t"}).triggerId == "t"
    assert Meta.build_workflow(None).shortOrgId is None


def test_step_hooks_wrap_every_execution(plugin, monkeypatch):
    seen = []

    def hook(call):
        @contextmanager
        def around():
            seen.append(("enter", call.kind, call.name, call.status))
            yield
            seen.append(("exit", call.kind, call.name, call.status, type(call.error).__name__))

        return around()

    def broken_hook(call):
        raise RuntimeError("hook bug")

    monkeypatch.setattr(_extensions, "step_hooks", lambda: (hook, broken_hook))
    plugin.handle_step(_message("ok"))
    with pytest.raises(LoggedException):
        plugin.handle_step(_message("bad", fail=True))
    assert seen == [
        ("enter", "action", "echo", "running"),
        ("exit", "action", "echo", "ok", "NoneType"),
        ("enter", "action", "echo", "running"),
        ("exit", "action", "echo", "error", "PluginException"),
    ]


def test_broken_entry_point_is_skipped(monkeypatch, caplog):
    class BadEntryPoint:
        name = "broken"

        def load(self):
            raise ImportError("missing dependency")

    _extensions.reset_cache()
    monkeypatch.setattr(_extensions, "_entry_points", lambda group: (BadEntryPoint(),))
    try:
        assert _extensions.load_group("some.group") == ()
        assert "broken" in caplog.text
    finally:
        monkeypatch.undo()
        _extensions.reset_cache()


def test_missing_sibling_module_names_its_distribution(monkeypatch):
    import sys

    from insightconnect_plugin_runtime._components import _MissingDistributionFinder

    monkeypatch.setitem(sys.modules, "insightconnect_plugin_runtime.telemetry", None)
    with pytest.raises(ImportError, match="icon-runtime-tracing"):
        _MissingDistributionFinder.find_spec("insightconnect_plugin_runtime.telemetry")


def _by_inspect(function):
    import inspect

    count = 0
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind == parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _wrapped(params, state):
    return params


def test_positional_counts_from_code_objects_match_inspect():
    import functools

    from insightconnect_plugin_runtime._runner import _positional_count

    @functools.wraps(_wrapped)
    def decorated(*args, **kwargs):
        return _wrapped(*args, **kwargs)

    def with_signature(a, b, c):
        return a

    with_signature.__signature__ = __import__("inspect").signature(lambda x: x)
    candidates = [
        lambda: 0,
        lambda a: a,
        lambda a, b=1, *, c=2: a,
        lambda a, /, b, **kw: a,
        lambda *args: args,
        lambda a, *args, k=1: a,
        decorated,
        with_signature,
        functools.partial(lambda a, b: a, 1),
        print,
    ]
    for function in candidates:
        assert _positional_count.__wrapped__(function) == _by_inspect(function), function
