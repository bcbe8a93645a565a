"""samples/example/tests (written with the kit, unittest style) run as part of make test."""

from __future__ import annotations

import unittest

from .conftest import REPO


def test_the_example_plugins_kit_suite_passes():
    folder = str(REPO / "samples" / "example" / "tests")
    suite = unittest.defaultTestLoader.discover(folder, pattern="test_icon_example_kit.py", top_level_dir=folder)
    result = unittest.TextTestRunner(verbosity=0).run(suite)
    assert result.testsRun == 9
    assert result.wasSuccessful(), result.failures + result.errors
