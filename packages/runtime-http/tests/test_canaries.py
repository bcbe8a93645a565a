"""No canary secret leaves a real process, whatever thread, logger or path carries it (issue 14).

16 concurrent clients, each with its own canary, against the sample plugin under gunicorn with 2
workers x 4 threads (on-prem plain logs and cloud JSON logs), then the same calls as one-shot CLI
runs with a trigger delivering events; tracing exports to a local OTLP receiver in both. Every byte
of replies, stdout, stderr, server log, ``/metrics``, trigger events and span strings is searched for
every form of every canary (see ``icon_canary_kit``), and each call's ``body.log`` must hold its own
masked lines from the request thread, an executor and a bare thread, and no other client's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from icon_canary_kit import find_leaks, make_canaries, run_cli, run_http

pytest.importorskip("opentelemetry.proto")


@pytest.mark.parametrize("cloud", [False, True], ids=["on-prem", "cloud"])
def test_http_concurrent_clients_leak_nothing(tmp_path: Path, cloud: bool) -> None:
    canaries = make_canaries(16)
    outcome = run_http(tmp_path, canaries, cloud)
    assert outcome.problems == []
    assert outcome.requests == 32
    assert outcome.spans >= 32  # server, step and outgoing-request spans were exported and searched
    assert find_leaks(outcome.places, canaries) == {}
    log = outcome.places[f"http/{'cloud' if cloud else 'on-prem'}/server-log"]
    assert "bare-thread third-party: ********" in log  # a logger not ours, from a thread, masked
    assert "its arguments are not shown" in log  # handleError reported the unrenderable extra


@pytest.mark.parametrize("cloud", [False, True], ids=["on-prem", "cloud"])
def test_one_shot_runs_leak_nothing(tmp_path: Path, cloud: bool) -> None:
    canaries = make_canaries(6)
    outcome = run_cli(tmp_path, canaries, cloud)
    assert outcome.problems == []
    assert outcome.events == 12  # two events per trigger run, all searched
    assert outcome.spans >= 6
    assert find_leaks(outcome.places, canaries) == {}
