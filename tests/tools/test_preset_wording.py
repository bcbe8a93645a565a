"""tools/preset_wording.py: finds tests comparing literal preset sentences, explains compat failures.

The "reference" here is a wheel built in the test with invented sentences, so no reference text is
needed; the plugin is a git repository made in the test, read the way the harness's mirror is.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "preset_wording.py"
spec = importlib.util.spec_from_file_location("preset_wording", TOOL)
preset_wording = importlib.util.module_from_spec(spec)
sys.modules["preset_wording"] = preset_wording
spec.loader.exec_module(preset_wording)

EXCEPTIONS = """
class ConnectionTestException(Exception):
    class Preset:
        API_KEY = "api_key"
        TIMEOUT = "timeout"
        UNKNOWN = "unknown"

    causes = {
        Preset.API_KEY: "The invented key sentence was rejected.",
        Preset.TIMEOUT: "The invented service took far too long.",
        Preset.UNKNOWN: "Short one.",
    }
    assistances = {
        Preset.API_KEY: "Invent a better key and try it again.",
        Preset.TIMEOUT: "Wait an invented while and try again.",
        Preset.UNKNOWN: "Nope.",
    }


class PluginException(ConnectionTestException):
    pass
"""

TEST_MODULE = """
from unittest import TestCase
from parameterized import parameterized
from insightconnect_plugin_runtime.exceptions import PluginException

MODULE_LEVEL = "The invented service took far too long."


class TestLookup(TestCase):
    @parameterized.expand([["key", "The invented key sentence was rejected."]])
    def test_errors(self, name, cause):
        pass

    def test_assistance_inside(self):
        self.assertEqual("x", "Error: Invent a better key and try it again. Response was: {}")

    def test_compares_with_the_dictionary(self):
        self.assertEqual("x", PluginException.causes[PluginException.Preset.API_KEY])

    def test_short_sentence(self):
        self.assertEqual("x", "Short one.")
"""


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> list:
    wheel = tmp_path_factory.mktemp("ref") / "insightconnect_plugin_runtime-6.6.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("insightconnect_plugin_runtime/exceptions.py", EXCEPTIONS)
    return preset_wording.reference_sentences(wheel)


def test_sentences_are_read_without_running_the_module(sentences: list) -> None:
    found = {(s.owner, s.preset, s.kind) for s in sentences}
    assert found == {
        ("ConnectionTestException", "API_KEY", "causes"),
        ("ConnectionTestException", "TIMEOUT", "causes"),
        ("ConnectionTestException", "API_KEY", "assistances"),
        ("ConnectionTestException", "TIMEOUT", "assistances"),
    }  # the two short sentences are left out: too likely to be a plugin's own words


def test_hits_name_the_test_the_preset_and_the_replacement(sentences: list) -> None:
    hits = preset_wording.find_hits({"test_lookup.py": TEST_MODULE}, sentences)
    found = sorted((h.line, h.test_id, h.sentence.preset, h.sentence.kind, h.replacement) for h in hits)
    assert found == [
        (6, None, "TIMEOUT", "causes", "PluginException.causes[PluginException.Preset.TIMEOUT]"),
        (10, "test_lookup.TestLookup.test_errors", "API_KEY", "causes",
         "PluginException.causes[PluginException.Preset.API_KEY]"),
        (15, "test_lookup.TestLookup.test_assistance_inside", "API_KEY", "assistances",
         "PluginException.assistances[PluginException.Preset.API_KEY]"),
    ]  # fmt: skip


def test_parameterized_expansions_belong_to_their_function() -> None:
    assert preset_wording.belongs_to("m.C.test_errors_0_key", "m.C.test_errors")
    assert preset_wording.belongs_to("m.C.test_errors", "m.C.test_errors")
    assert not preset_wording.belongs_to("m.C.test_errorsome", "m.C.test_errors_x")
    assert not preset_wording.belongs_to("m.C.test_other", "m.C.test_errors")


def _mirror(tmp_path: Path) -> str:
    work = tmp_path / "work"
    (work / "plugins" / "demo" / "unit_test").mkdir(parents=True)
    (work / "plugins" / "demo" / "unit_test" / "test_lookup.py").write_text(TEST_MODULE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "demo"], check=True)
    return str(work / ".git")


def _results(tmp_path: Path, outcomes: dict[str, str], details: dict[str, str]) -> Path:
    path = tmp_path / "compat.json"
    result = {"name": "demo", "passed": 1, "expected": len(outcomes), "outcomes": outcomes, "details": details}
    path.write_text(json.dumps({"results": [result]}))
    return path


def test_compat_failures_comparing_wording_are_named_and_do_not_fail(
    tmp_path: Path, sentences: list, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = {"test_lookup.TestLookup.test_errors_0_key": "failed", "test_lookup.TestLookup.test_short": "passed"}
    details = {
        "test_lookup.TestLookup.test_errors_0_key": "AssertionError: 'Ours.' != "
        "'The invented key sentence was rejected.'"
    }
    status = preset_wording.explain_compat(_results(tmp_path, outcomes, details), _mirror(tmp_path), "HEAD", sentences)
    out = capsys.readouterr().out
    assert status == 0
    assert "preset wording  demo: test_lookup.TestLookup.test_errors_0_key: PluginException.Preset.API_KEY" in out
    assert "1 compare the reference's preset wording" in out and "0 fail for another reason" in out


def test_compat_failures_for_other_reasons_fail(
    tmp_path: Path, sentences: list, capsys: pytest.CaptureFixture[str]
) -> None:
    outcomes = {
        # compares a sentence, but fails with something else: not a wording failure
        "test_lookup.TestLookup.test_errors_0_key": "error",
        "test_lookup.TestLookup.test_compares_with_the_dictionary": "failed",
    }
    details = {
        "test_lookup.TestLookup.test_errors_0_key": "ImportError: cannot import name 'x'",
        "test_lookup.TestLookup.test_compares_with_the_dictionary": "AssertionError: 'x' != 'y'",
    }
    status = preset_wording.explain_compat(_results(tmp_path, outcomes, details), _mirror(tmp_path), "HEAD", sentences)
    out = capsys.readouterr().out
    assert status == 1
    assert "OTHER FAILURE   demo: test_lookup.TestLookup.test_errors_0_key" in out
    assert "OTHER FAILURE   demo: test_lookup.TestLookup.test_compares_with_the_dictionary" in out
    assert "0 compare the reference's preset wording" in out and "2 fail for another reason" in out
