"""Schema-driven fuzzing: Hypothesis inputs generated from each step's input schema, run through the
message protocol with canary secrets in the connection, judged by four oracles.

Why hypothesis-jsonschema: it is the JSON Schema to Hypothesis bridge that schemathesis itself is
built on, maintained alongside Hypothesis, and it generates values that satisfy the schema (bounds,
patterns, enums, ``$ref``) instead of rejecting random ones, so a step sees boundary inputs it
accepts, which is where plugins break. A fifth of the examples are arbitrary JSON objects instead, so
the runtime's rejection of invalid input is exercised too. Before them, :func:`boundary_examples` tries
every ``enum`` value, numeric bound and boolean of each input once.

Oracles, per example:

* **crash**: the only exceptions allowed out of a step are ``PluginException`` /
  ``ConnectionTestException`` (and subclasses) and the runtime's ``ClientException`` for input it
  rejects; anything else (``KeyError``, ``TypeError``...) is a finding;
* **output schema**: every output (action and task output, each trigger event) validates against the
  step's output schema;
* **leak**: no form of any canary secret appears in the reply, the step log, the events or other
  loggers' records;
* **network** (only with the network cut, as ``check`` does): an unclassified exception caused by the
  refused connection, i.e. the step does not turn an unreachable service into a ``PluginException``.
  A step without a reply within the budget while connections were being refused is run again on a
  virtual clock (its backoff sleeps cost nothing) and judged by how it ends; still retrying after
  ``BACKOFF_LIMIT`` virtual seconds, or blocked in real time, is a finding;
* **time**: an action or task returns within ``budget_seconds``. A trigger that emits nothing within
  the budget is not a finding (triggers poll), but it ends that trigger's fuzzing: the thread running
  it cannot be killed.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from insightconnect_plugin_runtime.exceptions import ClientException, ConnectionTestException

from ._testing_canary import canary_connection
from ._testing_network import REFUSED
from ._testing_output import abandon
from ._testing_run import StepResult, execute, isolated_directories, start_message

#: Formats hypothesis-jsonschema generates; others (InsightConnect's ``bytes``, ``date-time`` variants
#: it does not know) are dropped from the copy of the schema used for generation, not from validation.
_KNOWN_FORMATS = frozenset(
    {"date", "date-time", "time", "email", "hostname", "ipv4", "ipv6", "uri", "uuid", "regex", "idn-email"}
)
ALLOWED_ERRORS: tuple[type[BaseException], ...] = (ConnectionTestException, ClientException)


@dataclass(frozen=True)
class Finding:
    """One problem found in one step: ``check`` is crash, output schema, leak, time or schema."""

    step: str
    check: str
    detail: str
    example: str = ""


def generation_schema(schema: Any) -> dict[str, Any]:
    """A copy of ``schema`` that hypothesis-jsonschema can generate from."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "format" and value not in _KNOWN_FORMATS:
                    continue
                if key == "type" and isinstance(value, str) and value not in _JSON_TYPES:
                    continue  # InsightConnect-only type names: anything goes
                out[key] = clean(value)
            return out
        if isinstance(node, list):
            return [clean(item) for item in node]
        return node

    if not isinstance(schema, dict):
        return {"type": "object"}
    cleaned = clean(copy.deepcopy(schema))
    cleaned["type"] = "object"  # a step's input is always an object, even when its schema is {}
    return cleaned


_JSON_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})


def input_strategy(schema: Any, invalid_share: float = 0.2) -> Any:
    """Valid (schema-derived) inputs, and arbitrary JSON objects ``invalid_share`` of the time."""
    from hypothesis import strategies as st
    from hypothesis_jsonschema import from_schema

    valid = from_schema(generation_schema(schema))
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
    json_values = st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )  # noqa: E501
    names = sorted((schema or {}).get("properties", {}) if isinstance(schema, dict) else ()) or ["x"]
    invalid = st.dictionaries(st.sampled_from(names) | st.text(max_size=8), json_values, max_size=len(names) + 1)
    weight = max(1, round(10 * invalid_share))
    return st.one_of(*([valid] * (10 - weight)), *([invalid] * weight))


def boundary_examples(schema: Any, limit: int = 50) -> list[dict[str, Any]]:
    """Inputs tried before the generated ones: the schema's sample with one top-level property set to
    each of its ``enum`` values, its ``minimum``/``maximum``, or ``true``/``false``.

    Generated inputs reach a given enum value only by chance in a few dozen examples; these make sure
    every branch an enum selects runs at least once.
    """
    from insightconnect_plugin_runtime.util import sample

    if not isinstance(schema, dict):
        return []
    definitions = schema.get("definitions") or {}
    base = sample(schema) if schema.get("properties") else {}
    examples: list[dict[str, Any]] = []
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and isinstance(prop.get("$ref"), str):
            prop = definitions.get(prop["$ref"].rsplit("/", 1)[-1], prop)
        if not isinstance(prop, dict):
            continue
        values: list[Any] = list(prop.get("enum") or ())
        if prop.get("type") in ("integer", "number"):
            values += [prop[bound] for bound in ("minimum", "maximum") if isinstance(prop.get(bound), (int, float))]
        if prop.get("type") == "boolean":
            values += [True, False]
        examples += [{**base, name: value} for value in values]
    return examples[:limit]


def valid_input(schema: Any) -> dict[str, Any]:
    """An input the step accepts: the schema's sample when it validates (a sample ignores bounds and
    patterns), else the first boundary example that does, else the simplest value Hypothesis finds."""
    import jsonschema

    from insightconnect_plugin_runtime.util import sample

    if not isinstance(schema, dict) or not schema.get("properties"):
        return {}
    candidates = [sample(schema), *boundary_examples(schema)]
    for candidate in candidates:
        try:
            jsonschema.validate(candidate, schema)
        except (jsonschema.ValidationError, jsonschema.SchemaError):
            continue
        return candidate
    try:
        from hypothesis import find, settings
        from hypothesis_jsonschema import from_schema

        return find(from_schema(generation_schema(schema)), lambda _: True, settings=settings(database=None))
    except Exception:  # an unsatisfiable schema: the sample, for the runtime to reject
        return candidates[0]


def _run_bounded(function: Any, budget_seconds: float) -> tuple[bool, Any]:
    """Run ``function`` in a daemon thread; ``(finished, its result or exception)``."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # reported, not raised, by the caller
            outcome["value"] = error

    thread = threading.Thread(target=target, name="icon-testing-fuzz", daemon=True)
    thread.start()
    thread.join(budget_seconds)
    if thread.is_alive():
        abandon(thread)  # its stdout/stderr capture must not outlive the wait
        return False, outcome.get("value")
    return True, outcome.get("value")


#: Virtual seconds a step may spend backing off from an unreachable service (see ``_on_virtual_time``).
BACKOFF_LIMIT = 600.0


def _on_virtual_time(
    label: str, step: Any, message: Any, canary: Any, plugin: Any, budget_seconds: float, params: Any
) -> list[Finding]:
    """A step that outlived the budget while its connections were refused is usually backing off and
    retrying (SDKs do, for minutes); run it again on a virtual clock, so its sleeps cost nothing, and
    judge how it ends: classified (no finding), unclassified (a ``network`` finding), or still
    retrying after :data:`BACKOFF_LIMIT` virtual seconds (a ``network`` finding)."""
    from ._testing_clock import VirtualClock

    with VirtualClock(limit_seconds=BACKOFF_LIMIT):
        finished, value = _run_bounded(lambda: execute(plugin, message), budget_seconds)
    example = _short(params)
    if not finished or isinstance(value, BaseException):
        detail = f"no reply within {budget_seconds:g} s while the network is unreachable"
        return [Finding(label, "network", detail, example)]
    if value.stopped:
        detail = f"still retrying after {BACKOFF_LIMIT:g} s of virtual time while the network is unreachable"
        return [Finding(label, "network", detail, example)]
    return judge(label, step, value, canary)


def judge(step_label: str, step: Any, result: StepResult, canary: Any) -> list[Finding]:
    """The crash, output schema and leak oracles applied to one run."""
    findings: list[Finding] = []
    example = _short(result.message.get("body", {}).get("input"))
    if result.error is not None and not isinstance(result.error, ALLOWED_ERRORS):
        kind = type(result.error).__name__
        if _network_refused(result.error):
            detail = f"{kind} when the network is unreachable: not classified as a PluginException"
            findings.append(Finding(step_label, "network", detail, example))
        else:
            check = "output schema" if kind == "StepOutputError" else "crash"
            findings.append(Finding(step_label, check, f"{kind}: {_short(str(result.error), 160)}", example))
    output_schema = getattr(step, "output", None)
    if result.ok and output_schema is not None:
        for output in result.outputs:
            try:
                output_schema.validate(output)
            except Exception as invalid:
                detail = _short(getattr(invalid, "message", str(invalid)), 160)
                findings.append(Finding(step_label, "output schema", detail, example))
                break
    for leak in canary.leaks(result.texts()):
        findings.append(Finding(step_label, "leak", str(leak), example))
    return findings


def _network_refused(error: BaseException) -> bool:
    """Whether ``error`` (or what it was raised from) is the loopback-only guard refusing a connection."""
    from ._testing_network import REFUSAL

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if REFUSAL in str(current) or any(REFUSAL in str(arg) for arg in getattr(current, "args", ())):
            return True
        current = current.__cause__ or current.__context__
    return False


def _short(value: Any, limit: int = 100) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def keep_judged(findings: dict[tuple[str, str], Finding], judged: list[Finding], shown: str | None = None) -> None:
    """Keep each judged finding once per check and kind of detail, shown with ``shown`` when given."""
    for finding in judged:
        if shown is not None:
            finding = Finding(finding.step, finding.check, finding.detail, shown)
        findings.setdefault((finding.check, finding.detail.split(":")[0]), finding)


def keep_kit_crash(findings: dict[tuple[str, str], Finding], label: str, error: BaseException, shown: str) -> None:
    """The kit itself failed on one example: report it rather than hide it."""
    finding = Finding(label, "crash", f"kit: {type(error).__name__}: {error}", shown)
    findings.setdefault((finding.check, finding.detail), finding)


def hypothesis_runner(run_one: Any, strategy: Any, explicit: list[Any], max_examples: int) -> Any:
    """``run_one`` over the ``explicit`` examples, then ``max_examples`` generated ones (none for 0).

    The same examples every time (derandomized, no example database) and no Hypothesis deadline: the
    kit's own time budget judges a slow step, and a fuzz finding must be reproducible.
    """
    from hypothesis import HealthCheck, Phase, example, given, settings

    test = given(strategy)(run_one)
    for value in reversed(explicit):
        test = example(value)(test)
    return settings(
        max_examples=max(1, max_examples),
        deadline=None,
        database=None,
        derandomize=True,
        phases=(Phase.explicit, Phase.generate) if max_examples else (Phase.explicit,),
        suppress_health_check=list(HealthCheck),
    )(test)


def fuzz_step(
    plugin: Any,
    kind: str,
    name: str,
    connection: Mapping[str, Any] | None = None,
    *,
    max_examples: int = 25,
    budget_seconds: float = 10.0,
) -> list[Finding]:
    """Fuzz one action, trigger or task; returns the findings (distinct by check and detail)."""
    registry = {"action": plugin.actions, "trigger": plugin.triggers, "task": plugin.tasks}[kind]
    step = registry[name]
    label = f"{kind} {name}"
    schema = getattr(getattr(step, "input", None), "schema", None)
    canary = canary_connection(getattr(plugin.connection, "schema", None), connection)
    findings: dict[tuple[str, str], Finding] = {}
    stalled = threading.Event()

    def run_one(params: Any) -> None:
        if stalled.is_set():
            return
        state = {} if kind == "task" else None
        message = start_message(kind, name, params, canary.connection, meta={"triggerId": "fuzz"}, state=state)
        max_events = 2 if kind == "trigger" else None
        refused_before = len(REFUSED)
        finished, value = _run_bounded(lambda: execute(plugin, message, max_events=max_events), budget_seconds)
        if not finished:
            stalled.set()
            if kind != "trigger":
                detail = f"no reply within {budget_seconds:g} s"
                if len(REFUSED) > refused_before:  # retrying an unreachable service, not hanging on input
                    keep_judged(
                        findings, _on_virtual_time(label, step, message, canary, plugin, budget_seconds, params)
                    )
                    return
                finding = Finding(label, "time", detail, _short(params))
                findings.setdefault((finding.check, "time"), finding)
            return
        if isinstance(value, BaseException):
            keep_kit_crash(findings, label, value, _short(params))
            return
        keep_judged(findings, judge(label, step, value, canary))

    try:
        strategy = input_strategy(schema)
    except Exception as error:
        return [Finding(label, "schema", f"no inputs can be generated from the input schema: {error}")]
    runner = hypothesis_runner(run_one, strategy, boundary_examples(schema), max_examples)
    with isolated_directories():
        try:
            runner()
        except Exception as error:
            findings[("schema", "generation")] = Finding(label, "schema", f"input generation failed: {error}")
    return list(findings.values())
