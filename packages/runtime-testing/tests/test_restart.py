"""The restart harness: the example trigger survives a restart after every event; planted checkpoint
bugs show up as lost and duplicated events."""

from __future__ import annotations

from typing import Any

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.testing import restart_trigger

from .conftest import CONNECTION

OUTPUT = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


class _Counter(insightconnect_plugin_runtime.Trigger):
    def __init__(self, name: str) -> None:
        super().__init__(name, "", None, insightconnect_plugin_runtime.Output(OUTPUT))


class CheckpointsFirst(_Counter):
    """Bug: saves the new position before the event is delivered (a refused send loses it)."""

    def run(self, params: dict[str, Any] = {}) -> None:  # noqa: B006 - plugin idiom
        while True:
            self.state["n"] = self.state.get("n", 0) + 1
            self.save_state()
            self.send({"n": self.state["n"]})


class CheckpointsEveryOther(_Counter):
    """Bug: saves only after every second event (a restart sends the last one again)."""

    def run(self, params: dict[str, Any] = {}) -> None:  # noqa: B006
        n = self.state.get("n", 0)
        while True:
            n += 1
            self.send({"n": n})
            if n % 2 == 0:
                self.state["n"] = n
                self.save_state()


def _plugin() -> Any:
    plugin = insightconnect_plugin_runtime.Plugin(name="counter", vendor="t", version="1.0.0")
    plugin.add_trigger(CheckpointsFirst("first"))
    plugin.add_trigger(CheckpointsEveryOther("every_other"))
    return plugin


def test_the_example_trigger_loses_and_repeats_nothing_across_restarts(example_plugin):
    report = restart_trigger(example_plugin, "emit_greeting", {"name": "R", "interval": 0}, CONNECTION, events=4)
    assert report.ok, str(report)
    assert [event["number"] for event in report.observed] == [1, 2, 3, 4] and report.runs == 4


def test_checkpointing_before_delivery_loses_events():
    report = restart_trigger(_plugin(), "first", events=3)
    assert not report.ok
    assert report.lost == [{"n": 2}] and report.duplicated == []
    assert report.observed == [{"n": 1}, {"n": 3}, {"n": 5}]  # each refused event is skipped on restart


def test_checkpointing_late_duplicates_events():
    report = restart_trigger(_plugin(), "every_other", events=4)
    assert not report.ok
    assert report.observed == [{"n": 1}] * 4  # event 1 is never checkpointed: it comes back every time
    assert report.lost == [{"n": 2}, {"n": 3}, {"n": 4}] and len(report.duplicated) == 4
