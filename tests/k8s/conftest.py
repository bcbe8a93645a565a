"""Markers of the chart tests (the repository runs pytest with --strict-markers)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "adapter_env(**env): environment of the metrics adapter a test starts")
