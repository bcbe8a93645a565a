"""When tracing turns on, what it costs to import, and how the server hooks wire it into Flask."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from importlib.metadata import distribution, entry_points

import pytest
from opentelemetry import trace

from insightconnect_plugin_runtime import _tracing_config, _tracing_hook, _tracing_setup, telemetry
from insightconnect_plugin_runtime._contracts import GROUP_SERVER_HOOKS, GROUP_STEP_HOOKS, StepCall

ENDPOINT = "http://127.0.0.1:9/v1/traces"  # never contacted: nothing is flushed in these tests


@pytest.mark.parametrize(
    ("env", "endpoint", "enabled", "exporter_endpoint"),
    [
        ({}, None, False, None),
        ({}, ENDPOINT, False, None),  # on-prem ignores otel_tracing, like the reference
        ({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"}, None, False, None),
        ({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"}, ENDPOINT, True, ENDPOINT),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, None, True, None),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ENDPOINT, True, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "   "}, None, False, None),
        ({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud", "OTEL_SDK_DISABLED": "TRUE"}, ENDPOINT, False, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, None, False, None),
    ],
)
def test_resolution(monkeypatch, env, endpoint, enabled, exporter_endpoint):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = _tracing_config.resolve(endpoint)
    assert settings.enabled is enabled
    assert settings.endpoint == exporter_endpoint
    assert settings.reason


def test_endpoint_setting_environment_wins_over_config(monkeypatch):
    assert _tracing_config.endpoint_from({"otel_tracing": "http://cps/v1/traces"}) == "http://cps/v1/traces"
    assert _tracing_config.endpoint_from({"otel_tracing": ""}) is None
    assert _tracing_config.endpoint_from(None) is None
    assert _tracing_config.endpoint_from("not a mapping") is None  # type: ignore[arg-type]
    monkeypatch.setenv("otel_tracing", "http://env/v1/traces")
    assert _tracing_config.endpoint_from({"otel_tracing": "http://cps/v1/traces"}) == "http://env/v1/traces"


def test_service_name(plugin):
    assert _tracing_setup.service_name(plugin) == "pif.rapid7_test_plugin"
    assert _tracing_setup.service_name(object()) == "pif.unknown"


def test_init_tracing_is_idempotent(monkeypatch, plugin):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    telemetry.init_tracing(None, plugin, ENDPOINT)
    provider = trace.get_tracer_provider()
    telemetry.init_tracing(None, plugin, ENDPOINT)
    telemetry.server_hooks.post_fork(None, plugin, {"otel_tracing": ENDPOINT})
    assert trace.get_tracer_provider() is provider
    assert provider.resource.attributes["service.name"] == "pif.rapid7_test_plugin"


def test_an_existing_provider_is_reused_not_replaced(exporter, monkeypatch, plugin):
    provider = trace.get_tracer_provider()
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    telemetry.init_tracing(None, plugin, ENDPOINT)
    assert trace.get_tracer_provider() is provider


def test_missing_otlp_extra_is_a_warning_not_a_failure(monkeypatch, plugin, caplog):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # import now fails
    telemetry.init_tracing(None, plugin, ENDPOINT)
    telemetry.init_tracing(None, plugin, ENDPOINT)
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert sum("[otlp]" in record.getMessage() for record in caplog.records) == 1
    assert step_is_noop(plugin)


def step_is_noop(plugin) -> bool:
    from contextlib import nullcontext

    return isinstance(telemetry.step_hook(StepCall(plugin, "action", "a", {})), nullcontext)


def test_lazy_start_is_attempted_once(monkeypatch, plugin):
    calls = []
    monkeypatch.setattr(_tracing_setup, "start", lambda *args: calls.append(args) or False)
    assert step_is_noop(plugin) and step_is_noop(plugin)
    assert len(calls) == 1


def test_post_fork_hook_never_raises(caplog):
    def broken():
        raise RuntimeError("no app yet")

    hook = telemetry.create_post_fork(broken, broken, broken)
    hook(None, None)
    assert "post_fork" in caplog.text


def test_entry_points_are_declared():
    dist = distribution("icon-runtime-tracing")
    declared = {(ep.group, ep.name): ep.value for ep in dist.entry_points}
    assert declared[(GROUP_STEP_HOOKS, "tracing")] == "insightconnect_plugin_runtime._tracing_hook:step_hook"
    assert declared[(GROUP_SERVER_HOOKS, "tracing")] == "insightconnect_plugin_runtime._tracing_hook:server_hooks"
    (step_ep,) = [ep for ep in entry_points(group=GROUP_STEP_HOOKS) if ep.name == "tracing"]
    assert step_ep.load() is _tracing_hook.step_hook
    (server_ep,) = [ep for ep in entry_points(group=GROUP_SERVER_HOOKS) if ep.name == "tracing"]
    hooks = server_ep.load()
    assert callable(hooks.init_app) and callable(hooks.post_fork)


def test_core_loads_the_hooks_through_its_extension_loader():
    from insightconnect_plugin_runtime import _extensions

    _extensions.reset_cache()
    try:
        assert _tracing_hook.step_hook in _extensions.step_hooks()
        assert _tracing_hook.server_hooks in _extensions.server_hooks()
    finally:
        _extensions.reset_cache()


def test_the_source_tree_ships_no_init_files():
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src"
    assert not list(src.rglob("__init__.py"))
    shipped = sorted(path.name for path in (src / "insightconnect_plugin_runtime").glob("*.py"))
    assert "telemetry.py" in shipped
    assert all(name == "telemetry.py" or name.startswith("_tracing_") for name in shipped)


_HOOK_PROBE = """
import sys
from insightconnect_plugin_runtime import _tracing_hook
from insightconnect_plugin_runtime._contracts import StepCall
with _tracing_hook.step_hook(StepCall(None, "action", "a", {})):
    pass
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_the_step_hook_loads_no_opentelemetry_when_tracing_cannot_be_on():
    """A one-shot run of a full install without tracing settings pays nothing for OpenTelemetry."""
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _HOOK_PROBE], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout


def test_the_step_hook_hands_over_when_tracing_may_be_on(monkeypatch):
    seen = []
    monkeypatch.setattr(telemetry, "step_hook", lambda call: seen.append(call) or contextlib.nullcontext())
    call = StepCall(None, "action", "a", {})
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", sys.modules.get("opentelemetry.trace") or object())
    with _tracing_hook.step_hook(call):
        pass
    assert seen == [call]  # OpenTelemetry loaded: telemetry decides
    seen.clear()
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("otel_tracing", raising=False)
    with _tracing_hook.step_hook(call):
        pass
    assert seen == []  # nothing could turn tracing on: no hand-over
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    with _tracing_hook.step_hook(call):
        pass
    assert seen == [call]  # a standard endpoint is set: telemetry decides


_IMPORT_PROBE = """
import sys
import insightconnect_plugin_runtime.telemetry as telemetry
from insightconnect_plugin_runtime._contracts import StepCall
with telemetry.step_hook(StepCall(None, "action", "a", {})):
    pass
heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "opentelemetry.instrumentation",
         "opentelemetry.propagate", "requests", "flask", "dateutil", "google.protobuf")
print(sorted(m for m in sys.modules if m.startswith(heavy)))
"""


def test_import_and_disabled_hook_load_only_the_api():
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "[]", out.stdout


def test_core_import_loads_no_opentelemetry():
    probe = "import sys, insightconnect_plugin_runtime; print([m for m in sys.modules if 'opentelemetry' in m])"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class TestFlaskServerHooks:
    """init_app instruments the app in the master; post_fork installs the provider in the worker."""

    @pytest.fixture
    def app(self, plugin):
        flask = pytest.importorskip("flask")
        app = flask.Flask("plugin")

        @app.post("/api/v1/actions/<name>")
        def run_action(name):
            call = StepCall(plugin, "action", name, {}, carrier=dict(flask.request.headers))
            with telemetry.step_hook(call):
                call.status = "ok"
            return {"ok": True}

        yield app
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor.uninstrument_app(app)

    def test_request_and_step_spans_nest_under_the_callers_trace(self, exporter, monkeypatch, plugin, app):
        monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
        config = {"otel_tracing": ENDPOINT}
        telemetry.server_hooks.init_app(app, plugin, config)
        telemetry.server_hooks.post_fork(app, plugin, config)

        trace_id, caller = "12345678901234567890123456789012", "1234567890123456"
        response = app.test_client().post(
            "/api/v1/actions/lookup", headers={"traceparent": f"00-{trace_id}-{caller}-01"}
        )
        assert response.status_code == 200

        spans = {span.name: span for span in exporter.get_finished_spans()}
        server = next(span for name, span in spans.items() if name.startswith("POST"))
        step = spans["action lookup"]
        assert server.kind is trace.SpanKind.SERVER
        assert format(server.parent.span_id, "016x") == caller
        assert step.parent.span_id == server.context.span_id
        assert format(step.context.trace_id, "032x") == trace_id

    def test_init_app_leaves_the_app_alone_when_tracing_is_off(self, plugin, app):
        telemetry.server_hooks.init_app(app, plugin, {"otel_tracing": ENDPOINT})  # on-prem
        assert not getattr(app, "_is_instrumented_by_opentelemetry", False)


_SERVER_HOOK_PROBE = """
import sys
from insightconnect_plugin_runtime import _tracing_hook
hooks = _tracing_hook.server_hooks
print(hooks.needs_app(None, {}))
hooks.init_app(None, None, {})
hooks.post_fork(None, None, {})
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def test_the_server_hooks_need_no_app_and_load_no_opentelemetry_when_tracing_cannot_be_on():
    env = {"PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", _SERVER_HOOK_PROBE], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split("\n")[:2] == ["False", "[]"], out.stdout


@pytest.mark.parametrize(
    ("env", "config", "needed"),
    [
        ({}, {}, False),
        ({}, {"otel_tracing": "http://127.0.0.1:4318"}, False),  # on-prem: the cloud setting is ignored
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, {}, True),
        ({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"}, {}, True),  # the endpoint may come with the config later
        ({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud", "OTEL_SDK_DISABLED": "true"}, {}, False),
    ],
)
def test_the_server_hooks_take_part_when_tracing_could_start(monkeypatch, env, config, needed):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "otel_tracing",
                 "PLUGIN_RUNTIME_ENVIRONMENT", "OTEL_SDK_DISABLED"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "opentelemetry.trace")
    calls = []
    monkeypatch.setattr(telemetry.server_hooks, "init_app", lambda *a: calls.append("init_app"))
    monkeypatch.setattr(telemetry.server_hooks, "post_fork", lambda *a: calls.append("post_fork"))
    hooks = _tracing_hook.server_hooks
    assert hooks.needs_app(None, config) is needed
    hooks.init_app(None, None, config)
    hooks.post_fork(None, None, config)
    assert calls == (["init_app", "post_fork"] if needed else [])
