"""bin/<plugin> check: static checks, the network cut to loopback, the findings table and exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime._testing_check import static_findings, table
from insightconnect_plugin_runtime._testing_fuzz import Finding
from insightconnect_plugin_runtime._testing_network import REFUSAL, loopback_only

from .conftest import SAMPLE_BIN


def test_loopback_stays_reachable_and_everything_else_is_refused():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with loopback_only() as refused:
            with socket.create_connection(server.getsockname(), timeout=5):
                pass
            with pytest.raises(OSError, match=REFUSAL), socket.socket() as remote:
                remote.connect(("203.0.113.9", 443))
            with pytest.raises(socket.gaierror):
                socket.getaddrinfo("example.com", 443)
            with pytest.raises(socket.gaierror):
                socket.getaddrinfo("example.org", None)
        assert refused == ["203.0.113.9:443", "example.com:443", "example.org"]
    assert socket.socket.connect.__qualname__ == "socket.connect"  # restored


def test_an_invalid_schema_is_a_static_finding():
    class Broken(insightconnect_plugin_runtime.Action):
        def __init__(self):
            super().__init__(
                "broken",
                "",
                insightconnect_plugin_runtime.Input({"type": "strin"}),
                insightconnect_plugin_runtime.Output({}),
            )

    plugin = insightconnect_plugin_runtime.Plugin(name="p", vendor="v", version="1.0.0")
    plugin.add_action(Broken())
    findings = static_findings(plugin)
    assert [(f.step, f.check) for f in findings] == [("action broken", "schema")]
    assert "input schema is invalid" in findings[0].detail


def test_the_table_has_one_row_per_finding():
    text = table([Finding("action a", "crash", "KeyError: 'x'", "{'n': 1}"), Finding("task t", "time", "slow")])
    lines = text.splitlines()
    assert lines[0].split(" | ")[:2] == ["step    ", "check"] and len(lines) == 4
    assert "KeyError: 'x'" in lines[2] and lines[3].startswith("task t")


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PLUGIN_RUNTIME_ENVIRONMENT"}
    return subprocess.run(
        [sys.executable, str(SAMPLE_BIN), "check", *args],
        capture_output=True, text=True, timeout=120, env=env, cwd=SAMPLE_BIN.parent.parent,
    )  # fmt: skip


@pytest.mark.slow
def test_check_without_findings_exits_0():
    done = _check("--no-fuzz")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "7 step(s) checked, no findings.\n"  # the sample's 5 actions, its trigger and task


@pytest.mark.slow
def test_check_prints_the_table_and_exits_1_on_findings():
    done = _check("--step", "raise_error", "--step", "say_hello", "--max-examples", "12")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("action ")]
    assert rows and all(row.startswith("action raise_error") for row in rows)
    assert "SystemExit" in done.stdout
    assert done.stdout.endswith(f"2 step(s) checked, {len(rows)} finding(s).\n")


def test_check_refuses_an_unreadable_connection():
    assert _check("--connection", "{not json").returncode == 2


def test_a_ref_that_leads_nowhere_is_a_static_finding():
    class Dangling(insightconnect_plugin_runtime.Action):
        def __init__(self):
            output = insightconnect_plugin_runtime.Output(
                {"type": "object", "properties": {"a": {"$ref": "#/definitions/missing"}}, "definitions": {}}
            )
            super().__init__("dangling", "", None, output)

    plugin = insightconnect_plugin_runtime.Plugin(name="p", vendor="v", version="1.0.0")
    plugin.add_action(Dangling())
    assert [f.detail for f in static_findings(plugin)] == [
        "output schema refers to #/definitions/missing, which does not exist"
    ]


def test_the_example_spec_agrees_with_its_code_and_each_edit_is_found(example_plugin):
    from insightconnect_plugin_runtime._testing_spec import load_spec, spec_findings

    spec = load_spec(SAMPLE_BIN.parent.parent / "plugin.spec.yaml")
    assert spec_findings(example_plugin, spec) == []
    del spec["actions"]["sleep"]
    spec["actions"]["say_hello"]["input"]["name"]["required"] = False
    spec["actions"]["say_hello"]["output"]["extra"] = {"type": "string"}
    spec["connection"]["api_key"]["required"] = False
    found = sorted((f.step, f.detail) for f in spec_findings(example_plugin, spec))
    assert found == [
        ("action say_hello", "input required differs between spec and code: name"),
        ("action say_hello", "output in plugin.spec.yaml but not in code: extra"),
        ("action sleep", "registered by the plugin but not in plugin.spec.yaml"),
        ("connection", "connection fields required differs between spec and code: api_key"),
    ]


def test_the_spec_examples_fill_the_connection_check_uses(example_plugin):
    from insightconnect_plugin_runtime._testing_spec import example_connection, load_spec

    spec = load_spec(SAMPLE_BIN.parent.parent / "plugin.spec.yaml")
    spec["connection"]["greeting_prefix"]["example"] = "Howdy"
    spec["connection"]["api_key"]["example"] = {"secretKey": "from-the-spec"}  # credentials: never
    connection = example_connection(example_plugin, spec)
    assert connection["greeting_prefix"] == "Howdy"
    assert connection["api_key"] != {"secretKey": "from-the-spec"}
    spec["connection"]["greeting_prefix"]["example"] = 5  # fails the schema: the sample is used instead
    assert example_connection(example_plugin, spec) is None
