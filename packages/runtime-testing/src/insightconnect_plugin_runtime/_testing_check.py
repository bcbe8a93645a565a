"""What ``bin/<plugin> check`` does: static checks, then a canary run and a fuzz run of every step
with the network cut to loopback. Returns findings; the CLI prints them as a table.

Static checks: every schema (connection, each step's input, output and state) is a valid JSON Schema
whose ``$ref`` pointers all resolve; every step's sample start message (``bin/<plugin> sample``)
validates against the v1 message schema; ``plugin.spec.yaml``, when given, agrees with the code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from ._testing_fuzz import Finding, fuzz_step, judge, valid_input
from ._testing_network import loopback_only
from ._testing_run import execute, isolated_directories, start_message

STEP_KINDS = (("action", "actions"), ("trigger", "triggers"), ("task", "tasks"))


def steps(plugin: Any, only: set[str] | None = None) -> Iterator[tuple[str, str, Any]]:
    for kind, attribute in STEP_KINDS:
        for name, step in getattr(plugin, attribute).items():
            if not only or name in only:
                yield kind, name, step


def _schema_of(holder: Any) -> Any:
    return getattr(holder, "schema", holder) if holder is not None else None


def _unresolved_refs(schema: Any) -> Iterator[str]:
    """Local ``$ref`` pointers (``#/...``) of ``schema`` that lead nowhere inside it."""

    def resolves(pointer: str) -> bool:
        node: Any = schema
        for part in pointer.lstrip("#/").split("/") if pointer not in ("#", "#/") else ():
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#") and not resolves(ref):
                yield ref
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    return walk(schema)


def static_findings(plugin: Any, only: set[str] | None = None) -> list[Finding]:
    import jsonschema
    from jsonschema.validators import validator_for

    from insightconnect_plugin_runtime import schema as message_schemas
    from insightconnect_plugin_runtime.cli import CLI

    findings: list[Finding] = []

    def compiles(label: str, what: str, schema: Any) -> None:
        if schema is None:
            return
        try:
            validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as error:
            findings.append(Finding(label, "schema", f"{what} schema is invalid: {error.message}"))
            return
        for pointer in sorted(set(_unresolved_refs(schema))):
            findings.append(Finding(label, "schema", f"{what} schema refers to {pointer}, which does not exist"))

    compiles("connection", "connection", _schema_of(getattr(plugin.connection, "schema", None)))
    cli = CLI(plugin, [])
    for kind, name, step in steps(plugin, only):
        label = f"{kind} {name}"
        for what in ("input", "output", "state"):
            compiles(label, what, _schema_of(getattr(step, what, None)) if what != "state" or kind == "task" else None)
        message = cli.sample_message(name)
        try:
            jsonschema.validate(message, message_schemas.input_message_schema)
        except jsonschema.ValidationError as error:
            findings.append(Finding(label, "sample", f"sample message is not a valid v1 message: {error.message}"))
    return findings


def canary_findings(plugin: Any, connection: Mapping[str, Any] | None, only: set[str] | None = None) -> list[Finding]:
    """Each step once with its sample input and canary secrets (plus the connection test)."""
    from ._testing_canary import canary_connection

    canary = canary_connection(getattr(plugin.connection, "schema", None), connection)
    findings: list[Finding] = []
    with isolated_directories():
        result = execute(plugin, start_message("connection_test", "", connection=canary.connection), is_test=True)
        findings += [Finding("connection test", "leak", str(leak)) for leak in canary.leaks(result.texts())]
        for kind, name, step in steps(plugin, only):
            params = valid_input(getattr(getattr(step, "input", None), "schema", None))
            message = start_message(kind, name, params, canary.connection, meta={"triggerId": "canary"}, state={})
            if kind == "trigger":  # a sample trigger may poll forever: the fuzz run bounds it in time
                continue
            findings += [
                f for f in judge(f"{kind} {name}", step, execute(plugin, message), canary) if f.check == "leak"
            ]
    return findings


def check_plugin(
    plugin: Any,
    connection: Mapping[str, Any] | None = None,
    *,
    max_examples: int = 20,
    budget_seconds: float = 10.0,
    fuzz: bool = True,
    only: set[str] | None = None,
    spec: str | os.PathLike[str] | None = None,
    http_fuzz: bool = True,
    connection_fuzz: bool = True,
) -> list[Finding]:
    """Every finding of the static checks (with ``spec``: plugin.spec.yaml against the code), the canary
    runs and (unless ``fuzz`` is false) the fuzz runs: step inputs, the connection (unless
    ``connection_fuzz`` is false or ``only`` names steps) and outgoing HTTP answered by the fault server
    (unless ``http_fuzz`` is false; standard faults plus a quarter of ``max_examples`` generated)."""
    findings = static_findings(plugin, only)
    if spec is not None:
        from ._testing_spec import example_connection, load_spec, spec_findings

        parsed = load_spec(spec)
        findings += [f for f in spec_findings(plugin, parsed) if not only or f.step.split(" ")[-1] in only]
        if connection is None:
            connection = example_connection(plugin, parsed)
    with loopback_only():
        findings += canary_findings(plugin, connection, only)
        if fuzz and connection_fuzz and not only:
            from ._testing_connection_fuzz import fuzz_connection

            findings += fuzz_connection(plugin, max_examples=max_examples, budget_seconds=budget_seconds)
        if fuzz:
            for kind, name, _ in steps(plugin, only):
                findings += fuzz_step(
                    plugin, kind, name, connection, max_examples=max_examples, budget_seconds=budget_seconds
                )
        if fuzz and http_fuzz:
            from ._testing_http_fuzz import fuzz_http

            # a plugin whose connection has no test (the runtime refuses to run one) has nothing to fuzz
            testable = any(hasattr(plugin.connection, method) for method in ("test", "test_task"))
            targets = [("connection_test", "")] if testable and not only else []
            for kind, name in targets + [(kind, name) for kind, name, _ in steps(plugin, only)]:
                findings += fuzz_http(
                    plugin, kind, name, connection, max_examples=max_examples // 4, budget_seconds=budget_seconds
                )
    return findings


def table(findings: list[Finding]) -> str:
    """Findings as a plain-text table (step, check, finding, example input)."""
    rows = [("step", "check", "finding", "example input")]
    rows += [(f.step, f.check, f.detail.replace("\n", " "), f.example) for f in findings]
    widths = [min(max(len(row[i]) for row in rows), cap) for i, cap in enumerate((44, 14, 90, 60))]

    def line(row: tuple[str, ...]) -> str:
        cells = [cell if len(cell) <= w else cell[: w - 1] + "…" for cell, w in zip(row, widths, strict=True)]
        return " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)).rstrip()

    separator = "-+-".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), separator, *map(line, rows[1:])])
