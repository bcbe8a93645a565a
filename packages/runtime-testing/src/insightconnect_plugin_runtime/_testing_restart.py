"""Trigger restart harness: stop a stateful trigger at every boundary, start it again from its
checkpoint, and compare what the orchestrator received with one uninterrupted run.

Two boundaries (``at``):

* ``"event"``: the send after each delivered event is refused (that event is not delivered), so a
  trigger that checkpoints before sending loses that event, and one that checkpoints late (after a
  batch) sends some again;
* ``"checkpoint"``: the run stops at the first send or sleep after each change of the checkpoint
  file, i.e. the process dies right after a checkpoint was written. A trigger that saves a cursor
  past events it has not sent yet loses them; one that sends them again after a restart duplicates.

Both show up as ``lost`` and ``duplicated``. With ``clock`` (the default) every run uses a
:class:`VirtualClock`, so a trigger that sleeps a minute between polls runs at once, virtual time
carries on across restarts, and a run that never stops ends after ``clock_limit`` virtual seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._testing_clock import VirtualClock
from ._testing_run import EnoughEvents, StepResult

#: ``run(max_events, state_dir, gate) -> StepResult``: one trigger run sharing ``state_dir``.
Runner = Callable[[int | None, str, Callable[[], None] | None], StepResult]


@dataclass
class RestartReport:
    """Outputs of an uninterrupted run (``expected``) and of the restarted runs (``observed``)."""

    expected: list[Any]
    observed: list[Any]
    runs: int
    lost: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        # a restarted run may go past the last expected event: those are new events, not a fault
        return (
            not (self.lost or self.duplicated or self.failures) and self.observed[: len(self.expected)] == self.expected
        )

    def __str__(self) -> str:
        return (
            f"{self.runs} runs, {self.checkpoints} checkpoints: lost {self.lost}, duplicated {self.duplicated}, "
            f"failures {self.failures}; expected {self.expected}, observed {self.observed}"
        )


def _identity(output: Any) -> str:
    return json.dumps(output, sort_keys=True, default=str)


class CheckpointGate:
    """Raises :class:`EnoughEvents` at the first send or sleep after the checkpoint file changed.

    A missing file counts as ``{}``: the trigger creates an empty checkpoint when it first starts,
    which is not a boundary.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.seen = self._read()
        self.passed = 0

    def _read(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as handle:
                return handle.read().strip() or "{}"
        except OSError:
            return "{}"

    def __call__(self, *_: Any) -> None:
        current = self._read()
        if current != self.seen:
            self.passed += 1
            self.seen = current
        if self.passed:
            raise EnoughEvents(f"stopped after checkpoint {current}")


def _clocked(clock: bool, start: float, limit: float, gate: Any) -> Any:
    if not clock:
        return contextlib.nullcontext(None)
    return VirtualClock(start, limit_seconds=limit, on_sleep=gate)


def restart_trigger(
    run: Runner,
    *,
    events: int = 5,
    key: Callable[[Any], Any] = _identity,
    at: str = "event",
    clock: bool = True,
    clock_limit: float = 24 * 3600,
    checkpoint_path: Callable[[str], str] | None = None,
) -> RestartReport:
    """Compare ``events`` events of one run with the same number collected one restart at a time.

    ``checkpoint_path(state_dir)`` locates the checkpoint file (needed for ``at="checkpoint"``).
    """
    if at not in ("event", "checkpoint"):
        raise ValueError(f"at must be 'event' or 'checkpoint', not {at!r}")
    now = 1_767_225_600.0
    with tempfile.TemporaryDirectory() as straight_dir, _clocked(clock, now, clock_limit, None) as timer:
        straight = run(events, straight_dir, None)
    expected = straight.outputs
    observed: list[Any] = []
    failures: list[str] = []
    runs = checkpoints = 0
    with tempfile.TemporaryDirectory() as state_dir:
        while len(observed) < len(expected) and runs < 4 * events + 4:
            runs += 1
            gate = None
            if at == "checkpoint":
                if checkpoint_path is None:
                    raise ValueError("at='checkpoint' needs checkpoint_path")
                gate = CheckpointGate(checkpoint_path(state_dir))
            with _clocked(clock, now, clock_limit, gate) as timer:
                result = run(1 if at == "event" else None, state_dir, gate)
            if timer is not None:
                now = timer.now
            if result.error is not None:
                failures.append(f"run {runs}: {type(result.error).__name__}: {result.error}")
                break
            observed += result.outputs
            if gate is not None:
                checkpoints += gate.passed
                if not gate.passed and not result.outputs:
                    failures.append(f"run {runs}: no checkpoint and no event after a restart")
                    break
            elif not result.outputs:
                failures.append(f"run {runs}: no event after a restart")
                break
    seen = Counter(key(output) for output in observed)
    expected_keys = {key(output) for output in expected}
    return RestartReport(
        expected=expected,
        observed=observed,
        runs=runs,
        lost=[output for output in expected if key(output) not in seen],
        duplicated=[output for output in observed if seen[key(output)] > 1 and key(output) in expected_keys],
        failures=failures,
        checkpoints=checkpoints,
    )


def checkpoint_file(trigger_id: str) -> Callable[[str], str]:
    """Where ``isolated_directories(state_dir)`` puts the checkpoint of ``trigger_id``."""
    return lambda state_dir: os.path.join(state_dir, "cache", f"{trigger_id}.json")
