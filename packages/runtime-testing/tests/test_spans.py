"""Spans as a canary output path (when icon-runtime-tracing and the OpenTelemetry SDK are installed)."""

from __future__ import annotations

from typing import Any

import pytest

from insightconnect_plugin_runtime._testing_spans import tracing_installed
from insightconnect_plugin_runtime.testing import PluginKit

from . import planted

if not tracing_installed():
    pytest.skip("icon-runtime-tracing with the OpenTelemetry SDK is not installed", allow_module_level=True)


class LeakySpan(planted._Action):
    """Most of the API key as an event on the step's span (core's masking sees whole secrets only)."""

    NAME = "leaky_span"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        from opentelemetry import trace

        trace.get_current_span().add_event("auth", {"key.prefix": planted._without_punctuation(self.connection.key)})
        return {"count": 1}


@pytest.fixture(scope="module")
def kit():
    plugin = planted.Planted()
    plugin.add_action(LeakySpan())
    return PluginKit(plugin, planted.GOOD_CONNECTION)


def test_every_step_run_keeps_its_spans(kit):
    result = kit.action("fine", {"n": 1})
    names = [where for where, _ in result.spans]
    assert len(names) == 1 and names[0].startswith("span 1 (") and "fine" in names[0]


def test_a_secret_in_a_span_event_is_a_leak(kit):
    run = kit.canary("action", "leaky_span", {"n": 1})
    assert [(leak.where.split(" (")[0], leak.field, leak.form) for leak in run.leaks] == [
        ("span 1", "api_key.secretKey", "core")
    ]


def test_a_clean_step_has_no_span_leak(kit):
    assert kit.canary("action", "fine", {"n": 1}).leaks == []


def test_the_kit_leaves_an_operators_provider_alone_but_listens_to_it(kit):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    kit.action("fine", {"n": 2})
    assert trace.get_tracer_provider() is provider  # installed once, then reused


def test_spans_are_not_searched_when_the_sdk_is_disabled(kit, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert kit.action("fine", {"n": 1}).spans == []
