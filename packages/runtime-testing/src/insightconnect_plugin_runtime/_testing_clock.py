"""A virtual clock for triggers and tasks: ``time.sleep`` returns at once and moves ``time.time`` and
``time.monotonic`` forward by the time slept, so a trigger that polls every minute runs a day of polls
in a moment and sees the time pass as it would.

Patched while the clock is entered: ``time.sleep``, ``time.time``, ``time.time_ns``,
``time.monotonic`` and ``time.monotonic_ns``, looked up as ``time.<name>`` at call time (what
plugins do). A plugin that did ``from time import sleep`` at import keeps the real one. The
patches are process-wide, as the functions are: do not run other timing-sensitive work meanwhile.

``limit_seconds`` bounds the virtual time of one run: past it, the next ``sleep`` raises
:class:`ClockLimit` (an :class:`EnoughEvents`, so the kit ends the run as stopped rather than failed)
and a trigger that never returns still ends. ``on_sleep`` is called before every sleep (the restart
harness stops a trigger there after a checkpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._testing_run import EnoughEvents

_PATCHED = ("sleep", "time", "time_ns", "monotonic", "monotonic_ns")


class ClockLimit(EnoughEvents):
    """Raised by a virtual ``sleep`` once the run's virtual time is used up."""


class VirtualClock:
    """``with VirtualClock() as clock:`` ... ``clock.now``, ``clock.slept``, ``clock.sleeps``."""

    def __init__(
        self,
        start: float = 1_767_225_600.0,  # 2026-01-01T00:00:00Z: a fixed, recognisable instant
        *,
        limit_seconds: float | None = 7 * 24 * 3600,
        on_sleep: Callable[[VirtualClock], None] | None = None,
    ) -> None:
        self.start = start
        self.now = start
        self.limit_seconds = limit_seconds
        self.on_sleep = on_sleep
        self.sleeps = 0
        self._saved: dict[str, Any] = {}

    @property
    def slept(self) -> float:
        """Virtual seconds passed since the clock was made."""
        return self.now - self.start

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        if self.on_sleep is not None:
            self.on_sleep(self)
        if self.limit_seconds is not None and self.slept + seconds > self.limit_seconds:
            raise ClockLimit(f"virtual time limit of {self.limit_seconds:g} s reached after {self.sleeps} sleeps")
        self.sleeps += 1
        self.now += seconds

    def advance(self, seconds: float) -> None:
        """Move the clock forward without sleeping (a test simulating time spent elsewhere)."""
        self.now += seconds

    def time(self) -> float:
        return self.now

    def time_ns(self) -> int:
        return int(self.now * 1_000_000_000)

    def monotonic(self) -> float:
        return self.slept + 1000.0

    def monotonic_ns(self) -> int:
        return int(self.monotonic() * 1_000_000_000)

    def __enter__(self) -> VirtualClock:
        if self._saved:
            raise RuntimeError("this VirtualClock is already running")
        for name in _PATCHED:
            self._saved[name] = getattr(time, name)
            setattr(time, name, getattr(self, name))
        return self

    def __exit__(self, *exc: Any) -> None:
        for name, original in self._saved.items():
            setattr(time, name, original)
        self._saved.clear()
