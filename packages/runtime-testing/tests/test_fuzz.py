"""Fuzzing finds each planted bug through its oracle, and nothing in a clean step."""

from __future__ import annotations

import time

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime._testing_fuzz import fuzz_step, generation_schema
from insightconnect_plugin_runtime.exceptions import PluginException

from . import planted


@pytest.fixture(scope="module")
def plugin():
    return planted.Planted()


def _checks(findings):
    return sorted({(finding.check, finding.detail.split(":")[0]) for finding in findings})


def test_a_clean_step_gives_no_findings(plugin):
    assert fuzz_step(plugin, "action", "fine", planted.GOOD_CONNECTION, max_examples=30) == []


def test_an_unclassified_exception_is_a_crash(plugin):
    findings = fuzz_step(plugin, "action", "crashy", planted.GOOD_CONNECTION, max_examples=30)
    assert _checks(findings) == [("crash", "KeyError")]
    assert "'n'" in findings[0].example  # the input that triggered it


def test_an_output_failing_its_schema_is_found(plugin):
    findings = fuzz_step(plugin, "action", "bad_output", planted.GOOD_CONNECTION, max_examples=30)
    assert [finding.check for finding in findings] == ["output schema"]


def test_a_leak_is_found(plugin):
    findings = fuzz_step(plugin, "action", "leaky_partial", planted.GOOD_CONNECTION, max_examples=5)
    assert [finding.check for finding in findings] == ["leak"] and "core" in findings[0].detail


def test_an_unclassified_error_from_the_cut_network_is_a_network_finding(plugin):
    from insightconnect_plugin_runtime._testing_network import loopback_only

    with loopback_only() as refused:
        findings = fuzz_step(plugin, "action", "remote", planted.GOOD_CONNECTION, max_examples=3)
    assert [finding.check for finding in findings] == ["network"]
    assert findings[0].detail.startswith("gaierror when the network is unreachable")
    assert refused and set(refused) == {"198.51.100.20:443"}


def test_a_step_retrying_the_cut_network_past_the_budget_is_a_network_finding(plugin):
    from insightconnect_plugin_runtime._testing_network import loopback_only

    with loopback_only():
        try:
            findings = fuzz_step(
                plugin, "action", "retrying", planted.GOOD_CONNECTION, max_examples=2, budget_seconds=0.5
            )
        finally:
            planted.STOP_RETRYING.set()
            time.sleep(0.5)  # the first run's thread ends while connections are still refused
    assert [(f.check, f.detail) for f in findings] == [
        ("network", "still retrying after 600 s of virtual time while the network is unreachable")
    ]


def test_a_step_that_backs_off_and_then_gives_up_cleanly_is_not_a_finding():
    """Past the budget in real time, but it ends in a PluginException after ten 30 s backoffs: the rerun
    on a virtual clock shows it, so it is not reported."""
    import socket
    import threading

    from insightconnect_plugin_runtime._testing_network import loopback_only

    stop = threading.Event()

    class GivesUp(planted._Action):
        NAME = "gives_up"

        def run(self, params={}):  # noqa: B006
            for _ in range(10):
                if stop.is_set():
                    break
                try:
                    socket.create_connection(("198.51.100.22", 443), timeout=2).close()
                except OSError:
                    time.sleep(30)
            raise PluginException(cause="The service is unreachable.", assistance="Check the network.")

    patient = planted.Planted()
    patient.add_action(GivesUp())
    with loopback_only():
        try:
            assert (
                fuzz_step(patient, "action", "gives_up", planted.GOOD_CONNECTION, max_examples=1, budget_seconds=0.5)
                == []
            )
        finally:
            stop.set()


def test_a_step_over_budget_is_found(plugin):
    findings = fuzz_step(plugin, "action", "slow", planted.GOOD_CONNECTION, max_examples=3, budget_seconds=0.3)
    assert [finding.check for finding in findings] == ["time"]


def test_the_generation_schema_drops_what_hypothesis_jsonschema_cannot_generate():
    schema = {"type": "object", "properties": {"f": {"type": "string", "format": "bytes"}, "p": {"type": "password"}}}
    assert generation_schema(schema) == {"type": "object", "properties": {"f": {"type": "string"}, "p": {}}}
    assert generation_schema(None) == {"type": "object"}
    assert generation_schema({}) == {"type": "object"}  # steps without inputs: still an object


def test_a_step_with_an_empty_input_schema_is_fuzzed_with_objects():
    class NoInput(insightconnect_plugin_runtime.Action):
        def __init__(self):
            super().__init__("no_input", "", insightconnect_plugin_runtime.Input({}), None)

        def run(self, params={}):  # noqa: B006
            assert isinstance(params, dict)
            return {}

    plugin = insightconnect_plugin_runtime.Plugin(name="p", vendor="v", version="1.0.0")
    plugin.add_action(NoInput())
    assert fuzz_step(plugin, "action", "no_input", max_examples=20) == []


def test_boundary_examples_try_every_enum_value_bound_and_boolean():
    from insightconnect_plugin_runtime._testing_fuzz import boundary_examples

    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["a", "b"], "default": "a"},
            "n": {"type": "integer", "minimum": -3, "maximum": 9},
            "flag": {"$ref": "#/definitions/switch"},
            "text": {"type": "string"},
        },
        "definitions": {"switch": {"type": "boolean"}},
    }
    kinds = [e["kind"] for e in boundary_examples(schema)]
    ns = [e["n"] for e in boundary_examples(schema)]
    flags = [e["flag"] for e in boundary_examples(schema)]
    assert len(boundary_examples(schema)) == 6 and kinds[:2] == ["a", "b"] and ns[2:4] == [-3, 9]
    assert flags[4:] == [True, False]
    assert boundary_examples(schema, limit=3) == boundary_examples(schema)[:3]
    assert boundary_examples(None) == [] and boundary_examples({}) == []


def test_every_enum_branch_runs_even_with_few_examples(example_plugin):
    findings = fuzz_step(example_plugin, "action", "raise_error", max_examples=1)
    crashes = {f.detail.split(":")[0] for f in findings if f.check == "crash"}
    assert crashes == {"ServerException", "ValueError", "SystemExit", "KeyboardInterrupt"}
    assert [f.example for f in findings if f.check == "output schema"] == ["{'kind': 'bad_output'}"]
    assert not [f for f in findings if f.check == "leak"]  # leak_secret: the runtime masks it
