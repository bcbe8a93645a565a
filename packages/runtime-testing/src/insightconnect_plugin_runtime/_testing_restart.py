"""Trigger restart harness: stop a stateful trigger after every delivered event, start it again from
its checkpoint, and compare what the orchestrator received with one uninterrupted run.

A restart happens at each checkpoint boundary: the send after the last wanted event is refused (the
event is not delivered), so a trigger that checkpoints before sending loses that event, and one that
checkpoints late sends some again. Both show up here as ``lost`` and ``duplicated``.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._testing_run import StepResult


@dataclass
class RestartReport:
    """Outputs of an uninterrupted run (``expected``) and of the restarted runs (``observed``)."""

    expected: list[Any]
    observed: list[Any]
    runs: int
    lost: list[Any] = field(default_factory=list)
    duplicated: list[Any] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.failures) and self.observed == self.expected

    def __str__(self) -> str:
        return (
            f"{self.runs} runs: lost {self.lost}, duplicated {self.duplicated}, failures {self.failures}; "
            f"expected {self.expected}, observed {self.observed}"
        )


def _identity(output: Any) -> str:
    return json.dumps(output, sort_keys=True, default=str)


def restart_trigger(
    run_trigger: Callable[..., StepResult],
    plugin: Any,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    events: int = 5,
    key: Callable[[Any], Any] = _identity,
) -> RestartReport:
    """Compare ``events`` events of one run with the same number collected one restart at a time."""
    with tempfile.TemporaryDirectory() as straight_dir:
        straight = run_trigger(plugin, name, input, connection, max_events=events, state_dir=straight_dir)
    expected = straight.outputs
    observed: list[Any] = []
    failures: list[str] = []
    runs = 0
    with tempfile.TemporaryDirectory() as state_dir:
        while len(observed) < len(expected) and runs < 2 * events + 2:
            runs += 1
            result = run_trigger(plugin, name, input, connection, max_events=1, state_dir=state_dir)
            if result.error is not None:
                failures.append(f"run {runs}: {type(result.error).__name__}: {result.error}")
                break
            if not result.outputs:
                failures.append(f"run {runs}: no event after a restart")
                break
            observed += result.outputs
    seen = Counter(key(output) for output in observed)
    expected_keys = {key(output) for output in expected}
    return RestartReport(
        expected=expected,
        observed=observed,
        runs=runs,
        lost=[output for output in expected if key(output) not in seen],
        duplicated=[output for output in observed if seen[key(output)] > 1 and key(output) in expected_keys],
        failures=failures,
    )
