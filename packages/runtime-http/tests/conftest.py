"""Fixtures: the sample plugin under a real gunicorn on 127.0.0.1 (see ``icon_http_testkit``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from icon_http_testkit import Server, start_server  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One on-prem server (2 workers) shared by the read-mostly tests of a module."""
    running = start_server(
        tmp_path_factory.mktemp("server"),
        {"ICON_RUNTIME_MAX_BODY_BYTES": "65536"},
        ("--process-workers", "2", "--threads", "4"),
    )
    yield running
    running.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Any]:
    """Factory for servers a test may stop, kill or shut down; all are stopped afterwards."""
    started: list[Server] = []

    def make(extra_env: dict[str, str] | None = None, args: tuple[str, ...] = (), **kwargs: Any) -> Server:
        running = start_server(tmp_path, extra_env, args, **kwargs)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()
