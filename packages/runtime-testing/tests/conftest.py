"""The kit's subject: samples/example (a real plugin with an action, a stateful trigger and a task)."""

from __future__ import annotations

from pathlib import Path

import pytest

from insightconnect_plugin_runtime.testing import load_plugin

REPO = Path(__file__).resolve().parents[3]
SAMPLE_BIN = REPO / "samples" / "example" / "bin" / "icon_example"
CONNECTION = {"api_key": {"secretKey": "kit-test-key-0451"}, "greeting_prefix": "Hi"}


@pytest.fixture(scope="session")
def example_plugin():
    return load_plugin(SAMPLE_BIN)


@pytest.fixture
def icon_plugin(example_plugin):
    """What a plugin author defines in their conftest: the plugin under test."""
    return example_plugin


@pytest.fixture
def icon_connection():
    return dict(CONNECTION)
