"""``plugin.spec.yaml`` against the schemas in code: the spec is what the orchestrator's UI shows and
what the generated ``schema.py`` files were made from; when someone edits one and not the other, the
orchestrator sends inputs the code does not expect, or expects outputs it never gets.

Compared: the step names of each kind, and for the connection and every step the property names and
which are required (input, output, and a task's state). Types are not compared: the generator maps
InsightConnect types onto JSON Schema in ways that are not one to one.
"""

from __future__ import annotations

import os
from typing import Any

from ._testing_fuzz import Finding

_KINDS = (("action", "actions"), ("trigger", "triggers"), ("task", "tasks"))


def load_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    return spec if isinstance(spec, dict) else {}


def _schema(holder: Any) -> dict[str, Any]:
    schema = getattr(holder, "schema", holder)
    return schema if isinstance(schema, dict) else {}


def _compare(label: str, what: str, spec_fields: Any, schema: dict[str, Any]) -> list[Finding]:
    spec_fields = spec_fields if isinstance(spec_fields, dict) else {}
    code_fields = schema.get("properties") or {}
    findings: list[Finding] = []
    only_spec = sorted(set(spec_fields) - set(code_fields))
    only_code = sorted(set(code_fields) - set(spec_fields))
    if only_spec:
        findings.append(Finding(label, "spec", f"{what} in plugin.spec.yaml but not in code: {', '.join(only_spec)}"))
    if only_code:
        findings.append(Finding(label, "spec", f"{what} in code but not in plugin.spec.yaml: {', '.join(only_code)}"))
    spec_required = {name for name, field in spec_fields.items() if isinstance(field, dict) and field.get("required")}
    code_required = set(schema.get("required") or ())
    both = set(spec_fields) & set(code_fields)
    differ = sorted((spec_required ^ code_required) & both)
    if differ:
        findings.append(Finding(label, "spec", f"{what} required differs between spec and code: {', '.join(differ)}"))
    return findings


def spec_findings(plugin: Any, spec: dict[str, Any]) -> list[Finding]:
    """Every disagreement between ``spec`` (parsed plugin.spec.yaml) and the plugin's code."""
    findings = _compare("connection", "connection fields", spec.get("connection"), _schema(plugin.connection.schema))
    for kind, attribute in _KINDS:
        in_spec = spec.get(attribute) or {}
        in_code = getattr(plugin, attribute)
        for name in sorted(set(in_spec) - set(in_code)):
            findings.append(Finding(f"{kind} {name}", "spec", "in plugin.spec.yaml but not registered by the plugin"))
        for name in sorted(set(in_code) - set(in_spec)):
            findings.append(Finding(f"{kind} {name}", "spec", "registered by the plugin but not in plugin.spec.yaml"))
        for name in sorted(set(in_spec) & set(in_code)):
            declared, step = in_spec[name] or {}, in_code[name]
            label = f"{kind} {name}"
            findings += _compare(label, "input", declared.get("input"), _schema(step.input))
            output = _schema(step.output)
            if not (kind == "task" and output.get("type") == "array" and len(declared.get("output") or {}) == 1):
                # a task's single output field is generated as the array schema of its items
                findings += _compare(label, "output", declared.get("output"), output)
            if kind == "task" and "state" in declared:
                findings += _compare(label, "state", declared.get("state"), _schema(getattr(step, "state", None)))
    return findings


def example_connection(plugin: Any, spec: dict[str, Any]) -> dict[str, Any] | None:
    """The connection schema's sample with the spec's ``example`` values in its non-credential fields.

    A sample leaves URLs and host names empty, and a plugin given ``https://`` as its server fails in
    ways no customer sees; the spec's examples are what the author meant. ``None`` when the result does
    not validate against the connection schema (then the sample is used as it is).
    """
    from ._testing_canary import is_credential

    schema = _schema(plugin.connection.schema)
    fields = spec.get("connection") if isinstance(spec.get("connection"), dict) else {}
    connection = plugin.connection.sample() or {} if schema else {}
    for name, field in fields.items():
        prop = (schema.get("properties") or {}).get(name)
        if isinstance(field, dict) and "example" in field and prop is not None and not is_credential(name, prop):
            if not str(field.get("type", "")).startswith(("credential", "password")):
                connection[name] = field["example"]
    try:
        _validate(schema, connection)
    except Exception:
        return None
    return connection


def _validate(schema: dict[str, Any], value: Any) -> None:
    import jsonschema

    jsonschema.validate(value, schema)
