"""Fuzz the connection: valid, boundary and invalid connection parameters generated from the connection
schema, each run through the connection test (and, when given, one step with its sample input).

A connection is where a customer types free text (URLs, host names, regions, page sizes), and
``connect()`` runs on every step, so a ``KeyError`` there breaks the whole plugin. The oracles are the
fuzzer's: only ``PluginException``/``ConnectionTestException`` (or subclasses) and the runtime's
``ClientException`` for parameters the schema rejects escape, outputs validate, no canary marker
appears anywhere, the run ends within the budget.

Inputs: the schema's sample with every ``enum`` value, numeric bound and boolean of each property
(``boundary_examples``), then hypothesis-jsonschema's valid connections, a fifth arbitrary objects.
Credentials of a connection that satisfies the schema are replaced by canary markers (the leak oracle
needs them; their values are secrets, not input the plugin parses), others are run as generated.
Generated host names may be anything, so the network is always cut to loopback here.
"""

from __future__ import annotations

import threading
from typing import Any

from ._testing_canary import Canary, canary_connection
from ._testing_fuzz import (
    Finding,
    _run_bounded,
    _short,
    boundary_examples,
    hypothesis_runner,
    input_strategy,
    judge,
    keep_judged,
    keep_kit_crash,
    valid_input,
)
from ._testing_network import REFUSED, loopback_only
from ._testing_run import execute, isolated_directories, start_message


def _valid(schema: Any, value: Any) -> bool:
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    except jsonschema.SchemaError:
        return True
    return True


def fuzz_connection(
    plugin: Any,
    *,
    step: tuple[str, str] | None = None,
    max_examples: int = 20,
    budget_seconds: float = 10.0,
) -> list[Finding]:
    """Generated connections through the connection test (and ``step``, ``(kind, name)``, if given)."""
    schema = getattr(plugin.connection, "schema", None)
    if not isinstance(schema, dict) or not schema.get("properties"):
        return []
    target = None
    if step is not None:
        kind, name = step
        target = {"action": plugin.actions, "trigger": plugin.triggers, "task": plugin.tasks}[kind][name]
    label = "connection" if step is None else f"connection via {step[0]} {step[1]}"
    findings: dict[tuple[str, str], Finding] = {}
    stalled = threading.Event()

    def run_one(generated: Any) -> None:
        if stalled.is_set():
            return
        if isinstance(generated, dict) and _valid(schema, generated):
            canary = canary_connection(schema, generated)
        else:
            canary = Canary(generated if isinstance(generated, dict) else {})
        if target is None:
            message = start_message("connection_test", "", connection=canary.connection)
            is_test = True
        else:
            params = valid_input(getattr(getattr(target, "input", None), "schema", None))
            message = start_message(step[0], step[1], params, canary.connection, meta={"triggerId": "conn"}, state={})
            is_test = False
        max_events = 1 if step is not None and step[0] == "trigger" else None
        refused_before = len(REFUSED)
        finished, value = _run_bounded(
            lambda: execute(plugin, message, is_test=is_test, max_events=max_events), budget_seconds
        )
        shown = _short(canary.connection)
        if not finished:
            stalled.set()
            if step is None or step[0] != "trigger":
                check = "network" if len(REFUSED) > refused_before else "time"
                detail = f"no reply within {budget_seconds:g} s" + (
                    " while the network is unreachable" if check == "network" else ""
                )
                findings.setdefault((check, "time"), Finding(label, check, detail, shown))
            return
        if isinstance(value, BaseException):
            keep_kit_crash(findings, label, value, shown)
            return
        keep_judged(findings, judge(label, target, value, canary), shown)

    try:
        strategy = input_strategy(schema)
    except Exception as error:
        return [Finding(label, "schema", f"no connection can be generated from the connection schema: {error}")]
    runner = hypothesis_runner(run_one, strategy, boundary_examples(schema), max_examples)
    with loopback_only(), isolated_directories():
        try:
            runner()
        except Exception as error:
            findings[("schema", "generation")] = Finding(label, "schema", f"connection generation failed: {error}")
    return list(findings.values())
