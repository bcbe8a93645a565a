"""Steps run through the message protocol: reply envelopes, step logs, trigger events, task state."""

from __future__ import annotations

import unittest

import pytest

from insightconnect_plugin_runtime.exceptions import ClientException, ConnectionTestException
from insightconnect_plugin_runtime.testing import (
    PluginKit,
    TaskSession,
    run_action,
    run_connection_test,
    run_task,
    run_trigger,
)

from .conftest import CONNECTION


def test_an_action_returns_the_reply_envelope_and_the_step_log(example_plugin):
    result = run_action(example_plugin, "say_hello", {"name": "Ann"}, CONNECTION)
    assert result.reply["type"] == "action_event" and result.reply["version"] == "v1"
    assert result.status == "ok" and result.error is None
    assert result.output == {"message": "Hi, Ann!"}
    assert "Greeting Ann" in result.log.splitlines()
    assert result.message["body"]["connection"] == CONNECTION  # what was sent, as JSON


def test_invalid_input_is_rejected_by_the_runtime_as_in_production(example_plugin):
    result = run_action(example_plugin, "say_hello", {"name": 5}, CONNECTION)
    assert result.status == "error" and not result.ok
    assert isinstance(result.error, ClientException)
    assert "name" in result.error_message


def test_the_connection_secret_is_masked_in_the_reply(example_plugin):
    secret = CONNECTION["api_key"]["secretKey"]
    result = run_action(example_plugin, "say_hello", {"name": secret}, CONNECTION)
    assert secret not in result.output["message"] and "********" in result.output["message"]


def test_a_trigger_run_collects_events_and_a_restart_resumes_from_the_checkpoint(example_plugin, tmp_path):
    first = run_trigger(example_plugin, "emit_greeting", {"name": "Bo", "interval": 0}, CONNECTION,
                        max_events=3, state_dir=tmp_path)  # fmt: skip
    assert first.stopped and first.ok and first.error is None
    assert [event["number"] for event in first.outputs] == [1, 2, 3]
    assert all(event["type"] == "trigger_event" for event in first.events)
    second = run_trigger(example_plugin, "emit_greeting", {"name": "Bo", "interval": 0}, CONNECTION,
                         max_events=2, state_dir=tmp_path)  # fmt: skip
    assert [event["number"] for event in second.outputs] == [4, 5]
    fresh = run_trigger(example_plugin, "emit_greeting", {"name": "Bo", "interval": 0}, CONNECTION, max_events=1)
    assert [event["number"] for event in fresh.outputs] == [1]  # its own temporary state dir


def test_a_trigger_that_returns_ends_the_run_with_its_reply(example_plugin):
    result = run_trigger(example_plugin, "emit_greeting", {"name": "C", "interval": 0, "count": 2}, CONNECTION)
    assert not result.stopped and result.status == "ok"
    assert len(result.events) == 2 and result.output == {"message": "Sent 2 greetings", "number": 2}


def test_a_task_session_carries_state_between_runs(example_plugin):
    session = TaskSession(example_plugin, "monitor_events", {"total": 7, "page_size": 3}, CONNECTION)
    pages = list(session.pages())
    assert [[event["id"] for event in page.output] for page in pages] == [[1, 2, 3], [4, 5, 6], [7]]
    assert [page.state for page in pages] == [{"cursor": 3}, {"cursor": 6}, {"cursor": 7}]
    assert [page.has_more_pages for page in pages] == [True, True, False]
    assert pages[1].message["body"]["state"] == {"cursor": 3}  # sent as the orchestrator would


def test_a_task_without_state_starts_from_an_empty_one(example_plugin):
    result = run_task(example_plugin, "monitor_events", {"total": 2}, CONNECTION)
    assert result.message["body"]["state"] == {} and result.state == {"cursor": 2}


def test_a_failing_connection_test_reports_the_connection_test_exception(example_plugin):
    result = run_connection_test(example_plugin, {"api_key": {"secretKey": "bad-key"}})
    assert isinstance(result.error, ConnectionTestException)
    assert result.body["exception"]["cause"]


def test_the_pytest_fixture_runs_the_conftest_plugin(icon_kit):
    assert icon_kit.action("say_goodbye", {"name": "Di"}).ok


def test_through_the_http_app_the_reply_and_status_match(example_plugin):
    pytest.importorskip("insightconnect_plugin_runtime.server")
    kit = PluginKit(example_plugin, CONNECTION, via="http")
    ok = kit.action("say_hello", {"name": "Ann"})
    assert ok.http_status == 200 and ok.output == {"message": "Hi, Ann!"}
    assert "Greeting Ann" in ok.log
    rejected = kit.action("say_hello", {"name": 5})
    assert rejected.http_status == 400 and rejected.status == "error"
    assert kit.task("monitor_events", {"total": 1}, state={}).state == {"cursor": 1}


class UnittestStyle(unittest.TestCase):
    """Public plugins' suites are unittest classes: the plain functions work there unchanged."""

    def test_say_hello(self):
        from insightconnect_plugin_runtime.testing import load_plugin

        from .conftest import SAMPLE_BIN

        result = run_action(load_plugin(SAMPLE_BIN), "say_hello", {"name": "Eve"}, CONNECTION)
        self.assertEqual(result.output, {"message": "Hi, Eve!"})
