"""Check 2: hypothesis over the one-shot CLI and the message parser.

In process (volume): ``CLI.main`` with string streams for random JSON, valid messages whose inputs are
generated from each step's schema (hypothesis-jsonschema), truncated and byte-flipped messages. Then a
bounded number of real ``bin/icon_example run`` subprocesses with a timeout each. Every run must end
with exactly one JSON reply on stdout and exit code 0, 1 or 2, never a traceback or a hang.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import time
from contextlib import redirect_stderr

from _kit import BIN, MESSAGES, SAMPLE, Figure, at_least, at_most

STEP_FILES = ["say_hello", "say_goodbye", "raise_error", "monitor_events", "emit_greeting", "connection_test"]
SAFE_KINDS = ["plugin", "api", "connection_test", "client", "server", "value", "bad_output", "leak_secret", "none"]


def _plugin():
    sys.path.insert(0, str(SAMPLE))
    import importlib.machinery
    import importlib.util

    loader = importlib.machinery.SourceFileLoader("icon_example_bin", str(BIN))
    spec = importlib.util.spec_from_loader("icon_example_bin", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module.IconExample()


def _judge(stdout: str, code: int) -> str | None:
    """None when the run ended properly, else what went wrong."""
    if code not in (0, 1, 2):
        return f"exit code {code}"
    if "Traceback" in stdout:
        return "traceback on stdout"
    lines = [line for line in stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        return f"{len(lines)} lines on stdout"
    try:
        reply = json.loads(lines[0])
    except ValueError:
        return "stdout is not JSON"
    if not isinstance(reply, dict) or not isinstance(reply.get("body"), dict) or "status" not in reply["body"]:
        return "not a reply envelope"
    if (reply["body"]["status"] == "ok") != (code == 0):
        return f"status {reply['body']['status']} with exit code {code}"
    return None


def run(options) -> list[Figure]:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from hypothesis_jsonschema import from_schema

    from insightconnect_plugin_runtime.cli import CLI

    check = "message-fuzz"
    os.environ.setdefault("ICON_RUNTIME_CACHE_DIR", "/tmp/reliability-cache/")
    os.environ.update(ICON_RUNTIME_OUTBOX_RETRIES="0", ICON_RUNTIME_DISPATCH_TIMEOUT="1")
    plugin = _plugin()
    originals = {name: (MESSAGES / f"{name}.json").read_text() for name in STEP_FILES}
    problems: list[str] = []
    counts = {"in-process": 0, "subprocess": 0}
    slowest = [0.0]

    def one(text: str, test: bool = False) -> None:
        if '"trigger_start"' in text or "emit_greeting" in text:
            test = True  # a trigger run posts events: only to 127.0.0.1, in the faults check
        cli = CLI(plugin, ["test" if test else "run"])
        cli.stdin, cli.stdout = io.StringIO(text), io.StringIO()
        started = time.monotonic()
        with redirect_stderr(io.StringIO()):
            try:
                code = cli.main()
            except BaseException as error:  # noqa: BLE001 - the point is that nothing escapes
                problems.append(f"escaped {type(error).__name__}: {error!r}"[:300])
                return
        slowest[0] = max(slowest[0], time.monotonic() - started)
        counts["in-process"] += 1
        problem = _judge(cli.stdout.getvalue(), code)
        if problem:
            problems.append(f"{problem}: {text[:200]!r}")

    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=20,
    )
    fuzz = settings(
        max_examples=options.message_examples, deadline=None, database=None, derandomize=True,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip

    @fuzz
    @given(json_values, st.booleans())
    def random_json(value, test):
        one(json.dumps(value), test)

    @fuzz
    @given(st.sampled_from(STEP_FILES), json_values, st.sampled_from(["meta", "connection", "input", "state",
           "custom_config", "dispatcher", "type", "version", "body"]), st.booleans())  # fmt: skip
    def replaced_field(name, value, field, test):
        message = json.loads(originals[name])
        target = message if field in ("type", "version", "body") else message["body"]
        target[field] = value
        one(json.dumps(message), test)

    @fuzz
    @given(st.sampled_from(STEP_FILES), st.data(), st.booleans())
    def truncated_or_flipped(name, data, test):
        raw = bytearray(originals[name].encode())
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        else:
            for _ in range(data.draw(st.integers(1, 4))):
                raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        one(raw.decode("utf-8", errors="surrogateescape").encode("utf-8", "replace").decode("utf-8"), test)

    def from_step_schema(kind: str, registry: dict, key: str):
        strategies = []
        for name, step in registry.items():
            schema = step.input.schema
            if name == "raise_error":
                schema = dict(schema, properties={"kind": {"enum": SAFE_KINDS}})
            if name == "sleep":
                schema = dict(schema, properties={"seconds": {"type": "number", "minimum": 0, "maximum": 0.01}})
            if name == "monitor_events":  # the sample builds page_size events: keep it small
                schema = dict(schema, properties={"page_size": {"type": "integer", "minimum": -5, "maximum": 50},
                              "total": {"type": "integer", "minimum": -5, "maximum": 500}})  # fmt: skip
            if name == "emit_greeting":
                schema = dict(schema, properties=dict(schema["properties"], count={"type": "integer", "minimum": 1,
                              "maximum": 3}, interval={"const": 0}), required=["count", "interval"])  # fmt: skip
            strategies.append(st.tuples(st.just(name), from_schema(schema)))
        return st.one_of(strategies)

    @fuzz
    @given(st.sampled_from(["action", "task", "trigger"]).flatmap(
        lambda kind: st.tuples(st.just(kind), from_step_schema(kind, getattr(plugin, kind + "s"), kind))),
        st.booleans())  # fmt: skip
    def valid_with_random_inputs(kind_and_input, test):
        kind, (name, params) = kind_and_input
        base = {"action": "say_hello", "task": "monitor_events", "trigger": "emit_greeting"}[kind]
        message = json.loads(originals[base])
        message["body"][kind] = name
        message["body"]["input"] = params
        if kind == "trigger":
            message["body"]["dispatcher"] = {"url": "", "webhook_url": ""}
            test = True  # a trigger run needs an orchestrator: covered by the faults check
        one(json.dumps(message), test)

    started = time.monotonic()
    for test_function in (random_json, replaced_field, truncated_or_flipped, valid_with_random_inputs):
        begun = time.monotonic()
        try:
            test_function()
            if options.verbose:
                print(f"  {test_function.__name__}: {time.monotonic() - begun:.1f}s", flush=True)
        except Exception as error:  # hypothesis re-raises our own failures
            problems.append(f"{test_function.__name__}: {error!r}"[:300])
    in_process_time = time.monotonic() - started

    # Real processes: a bounded sample of the same kinds of messages.
    rng = random.Random(options.seed)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PLUGIN_RUNTIME"))}
    hangs = 0
    for index in range(options.message_subprocesses):
        name = rng.choice(STEP_FILES)
        raw = bytearray(originals[name].encode())
        if index % 3 == 1:
            raw = raw[: rng.randrange(len(raw))]
        elif index % 3 == 2:
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        try:
            proc = subprocess.run([sys.executable, str(BIN), "test" if name == "emit_greeting" else "run"],
                                  input=bytes(raw), capture_output=True, timeout=30, cwd=SAMPLE, env=env)  # fmt: skip
        except subprocess.TimeoutExpired:
            hangs += 1
            continue
        counts["subprocess"] += 1
        problem = _judge(proc.stdout.decode(errors="replace"), proc.returncode)
        if problem:
            problems.append(f"subprocess {problem}: {bytes(raw)[:200]!r}")
    os.environ.pop("ICON_RUNTIME_OUTBOX_RETRIES", None)
    os.environ.pop("ICON_RUNTIME_DISPATCH_TIMEOUT", None)
    return [
        at_least(
            check,
            "in-process runs (CLI.main, 4 strategies)",
            counts["in-process"],
            4 * min(options.message_examples, 100),
        ),  # fmt: skip
        at_least(check, "subprocess runs", counts["subprocess"], options.message_subprocesses),
        at_most(
            check,
            "runs without exactly one JSON reply / with a bad exit code or traceback",
            len(problems),
            0,
            "; ".join(problems[:5]),
        ),  # fmt: skip
        at_most(check, "subprocess hangs (30 s timeout)", hangs, 0),
        at_most(check, "slowest in-process run", round(slowest[0], 2), 10, unit="s"),
        Figure(check, "in-process time", f"{in_process_time:.0f}s", "-", True),
    ]
