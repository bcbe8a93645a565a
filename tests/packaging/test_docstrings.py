"""Docstrings and comments say why the code does what it does; the comparison lives in one page.

Every deliberate difference from the runtime icon-runtime replaces is listed, with its reason, in
``docs/differences.md``. A module that explains itself by that comparison ("as the reference
does") goes stale when either side changes and says nothing to a reader who never saw the other
runtime, so no source file under ``packages/*/src`` may mention it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DIFFERENCES = REPO / "docs" / "differences.md"
#: The phrases that compare with the replaced runtime (its name as "the reference", or its version).
COMPARISON = re.compile(r"the\s+reference\b|reference's|\b6\.6\.1\b", re.IGNORECASE)
SOURCES = sorted(
    path
    for src in REPO.glob("packages/*/src")
    for path in src.rglob("*")
    if path.suffix in {".py", ".pth"} and "__pycache__" not in path.parts
)


def _comparisons(text: str) -> list[str]:
    """``line: text`` of every line that compares with the replaced runtime."""
    return [f"{number}: {line.strip()}" for number, line in enumerate(text.splitlines(), 1) if COMPARISON.search(line)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("kept as in the reference", True),
        ("the reference's flag names", True),
        ("compatible with 6.6.1", True),
        ("The\treference runtime", True),
        ("resolved through their reference path", False),
        ("reference counted registry", False),
        ("version 16.6.10", False),
    ],
)
def test_the_pattern_finds_comparisons_and_nothing_else(text, found):
    assert bool(_comparisons(text)) is found


def test_sources_are_found():
    assert len(SOURCES) > 50
    assert any(path.name == "helper.py" for path in SOURCES)


def test_no_source_explains_itself_by_the_reference():
    offenders = {
        str(path.relative_to(REPO)): hits for path in SOURCES if (hits := _comparisons(path.read_text("utf-8")))
    }
    assert not offenders, "say why, not 'as the reference'; differences go to docs/differences.md: " + repr(offenders)


def test_the_readme_links_the_differences_page():
    assert DIFFERENCES.is_file()
    assert "(docs/differences.md" in (REPO / "README.md").read_text("utf-8")
