"""The example plugin's own tests, written with icon-runtime-testing as a plugin author would.

unittest style (what public plugins use); pytest runs them too. Every step goes through the message
protocol, so validation, masking and the step log are tested along with the plugin code.
"""

import unittest
from pathlib import Path

from insightconnect_plugin_runtime.exceptions import ConnectionTestException, PluginException
from insightconnect_plugin_runtime.testing import PluginKit, assert_no_leaks, fuzz_connection, fuzz_step, load_plugin

BIN = Path(__file__).resolve().parents[1] / "bin" / "icon_example"
CONNECTION = {"api_key": {"secretKey": "example-secret-key-123"}, "greeting_prefix": "Hello"}


class TestExample(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.kit = PluginKit(load_plugin(BIN), CONNECTION)

    def test_say_hello(self):
        result = self.kit.action("say_hello", {"name": "Ann"})
        self.assertEqual(result.output, {"message": "Hello, Ann!"})
        self.assertIn("Greeting Ann", result.log)

    def test_raise_error_gives_a_plugin_exception_reply(self):
        result = self.kit.action("raise_error", {"kind": "plugin"})
        self.assertIsInstance(result.error, PluginException)
        self.assertEqual(result.status, "error")

    def test_bad_key_fails_the_connection_test(self):
        result = self.kit.connection_test({"api_key": {"secretKey": "bad-key"}})
        self.assertIsInstance(result.error, ConnectionTestException)

    def test_trigger_resumes_after_a_restart(self):
        import tempfile

        with tempfile.TemporaryDirectory() as state:
            first = self.kit.trigger("emit_greeting", {"name": "Bo", "interval": 0}, max_events=2, state_dir=state)
            again = self.kit.trigger("emit_greeting", {"name": "Bo", "interval": 0}, max_events=2, state_dir=state)
        numbers = [event["number"] for event in first.outputs + again.outputs]
        self.assertEqual(numbers, [1, 2, 3, 4])  # none lost, none repeated

    def test_trigger_restarted_at_every_checkpoint_loses_and_repeats_nothing(self):
        # a minute between greetings: the virtual clock makes the sleeps instant
        report = self.kit.restart_trigger("emit_greeting", {"name": "Cy", "interval": 60}, events=4, at="checkpoint")
        self.assertTrue(report.ok, str(report))
        self.assertEqual([event["number"] for event in report.observed], [1, 2, 3, 4])
        self.assertEqual(report.checkpoints, 4)

    def test_connection_survives_fuzzed_parameters(self):
        self.assertEqual(fuzz_connection(self.kit.plugin, max_examples=15), [])

    def test_task_pages_through_every_event(self):
        pages = list(self.kit.task_session("monitor_events", {"total": 5, "page_size": 2}).pages())
        self.assertEqual([event["id"] for page in pages for event in page.output], [1, 2, 3, 4, 5])

    def test_no_step_leaks_the_api_key(self):
        assert_no_leaks(self.kit.canary("action", "say_hello", {"name": "Ann"}))
        assert_no_leaks(self.kit.canary("task", "monitor_events", {"total": 2}))

    def test_say_hello_survives_fuzzed_input(self):
        self.assertEqual(fuzz_step(self.kit.plugin, "action", "say_hello", CONNECTION, max_examples=15), [])


if __name__ == "__main__":
    unittest.main()
