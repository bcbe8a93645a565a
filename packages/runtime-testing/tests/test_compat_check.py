"""make compat-check's parsing of `check` output and its classification of findings."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "compat_check.py"
spec = importlib.util.spec_from_file_location("compat_check", SCRIPT)
compat_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat_check)

OUTPUT = """step              | check | finding        | example input
------------------+-------+----------------+--------------
action lookup     | crash | KeyError: 'id' | {'id': 3}
connection        | leak  | api_key.secretKey leaked into reply (core): ...x... | {}

4 step(s) checked, 2 finding(s).
"""


def test_check_output_is_parsed_into_steps_and_rows():
    steps, rows = compat_check.parse(OUTPUT)
    assert steps == 4
    assert rows == [
        ["action lookup", "crash", "KeyError: 'id'", "{'id': 3}"],
        ["connection", "leak", "api_key.secretKey leaked into reply (core): ...x...", "{}"],
    ]
    assert compat_check.parse("garbage") == (None, [])


def test_findings_are_classified_by_the_reviewed_rules(monkeypatch):
    rule = ("zoom", r"^action ", "crash", r"^KeyError", "plugin bug", "reads a field the API may omit")
    monkeypatch.setattr(compat_check, "REVIEWED", [rule])
    assert compat_check.classify("zoom", "action lookup", "crash", "KeyError: 'id'") == ("plugin bug", rule[5])
    assert compat_check.classify("zoom", "task x", "crash", "KeyError: 'id'")[0] == "unreviewed"
    assert compat_check.classify("jamf", "action lookup", "crash", "KeyError: 'id'")[0] == "unreviewed"


def test_tables_are_aligned_and_long_cells_cut():
    text = compat_check.render([["plugin", "n"], ["a" * 80, "1"]])
    header, rule, row = text.splitlines()
    assert header.startswith("plugin") and set(rule) <= {"-", "+"} and row.endswith("… | 1")
