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
        assert refused == ["203.0.113.9:443", "example.com"]
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
    assert done.stdout == "No findings.\n"


@pytest.mark.slow
def test_check_prints_the_table_and_exits_1_on_findings():
    done = _check("--step", "raise_error", "--step", "say_hello", "--max-examples", "12")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("action ")]
    assert rows and all(row.startswith("action raise_error") for row in rows)
    assert "SystemExit" in done.stdout


def test_check_refuses_an_unreadable_connection():
    assert _check("--connection", "{not json").returncode == 2
