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


# --- the virtual clock and checkpoint boundaries ---------------------------------------------------


def test_the_virtual_clock_moves_time_by_what_was_slept_and_restores_it():
    import time

    from insightconnect_plugin_runtime.testing import ClockLimit, VirtualClock

    real_sleep = time.sleep
    with VirtualClock(start=1000.0, limit_seconds=3600) as clock:
        assert time.time() == 1000.0
        before = time.monotonic()
        time.sleep(60)
        assert time.time() == 1060.0 and time.monotonic() - before == 60 and clock.sleeps == 1
        assert time.time_ns() == 1_060_000_000_000
        clock.advance(0.5)
        assert clock.slept == 60.5
        try:
            time.sleep(3600)
        except ClockLimit:
            pass
        else:
            raise AssertionError("the limit did not stop the sleep")
        assert clock.now == 1060.5  # the refused sleep did not move the clock
    assert time.sleep is real_sleep and time.time() > 1_700_000_000


class _Poller(_Counter):
    """Polls a page of 2 events a minute and checkpoints after delivering them (correct)."""

    def run(self, params: dict[str, Any] = {}) -> None:  # noqa: B006
        import time

        while True:
            n = self.state.get("n", 0)
            for number in (n + 1, n + 2):
                self.send({"n": number})
            self.state["n"] = n + 2
            self.save_state()
            time.sleep(60)


class _CursorAhead(_Counter):
    """Bug: moves the cursor past the whole page before delivering it."""

    def run(self, params: dict[str, Any] = {}) -> None:  # noqa: B006
        import time

        while True:
            n = self.state.get("n", 0)
            self.state["n"] = n + 2
            self.save_state()
            for number in (n + 1, n + 2):
                self.send({"n": number})
            time.sleep(60)


def _pollers() -> Any:
    plugin = insightconnect_plugin_runtime.Plugin(name="pollers", vendor="t", version="1.0.0")
    plugin.add_trigger(_Poller("poller"))
    plugin.add_trigger(_CursorAhead("ahead"))
    return plugin


def test_a_trigger_sleeping_a_minute_between_polls_restarts_at_every_checkpoint_instantly():
    import time

    started = time.perf_counter()
    report = restart_trigger(_pollers(), "poller", events=6, at="checkpoint")
    assert report.ok, str(report)
    assert [e["n"] for e in report.observed] == [1, 2, 3, 4, 5, 6]
    assert report.checkpoints == report.runs == 3  # one restart per checkpoint
    assert time.perf_counter() - started < 20  # 3 virtual minutes of sleeps, none real


def test_a_cursor_saved_ahead_of_delivery_loses_events_at_a_checkpoint_boundary():
    report = restart_trigger(_pollers(), "ahead", events=6, at="checkpoint")
    assert not report.ok
    assert report.lost == [{"n": n} for n in range(1, 7)]  # each run dies right after moving the cursor
    assert report.observed == [] and report.duplicated == []


def test_late_checkpoints_are_not_a_fault_at_checkpoint_boundaries_but_are_at_events():
    at_checkpoints = restart_trigger(_plugin(), "every_other", events=4, at="checkpoint")
    assert at_checkpoints.ok, str(at_checkpoints)
    assert not restart_trigger(_plugin(), "every_other", events=4, at="event").ok


def test_an_unknown_boundary_is_refused():
    import pytest

    with pytest.raises(ValueError, match="at must be"):
        restart_trigger(_pollers(), "poller", at="sometimes")
