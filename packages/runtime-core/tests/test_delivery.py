"""Trigger delivery that neither drops nor blocks: emission identity, redirects, dead letters.

Real subprocess runs of the replay trigger against a scripted orchestrator on 127.0.0.1 (see
``icon_delivery_testkit``), SIGKILLed at every point of the send/checkpoint cycle and restarted.
"""

from __future__ import annotations

import contextlib
import io
import json
import stat
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

from icon_delivery_testkit import (  # noqa: E402
    ANSWERS,
    FIGURES,
    PERMANENT,
    PLUGIN,
    POINTS,
    TRIGGER_ID,
    Orchestrator,
    check_exactly_once,
    checkpoint_position,
    dead_letters,
    outbox_keys,
    run_trigger,
    run_until_done,
)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(
        f"\n[delivery] runs={FIGURES['runs']} kills={FIGURES['kills']} kill_points={len(FIGURES['kill_points'])} "
        f"events emitted={FIGURES['emitted']} delivered={FIGURES['delivered']} dead-lettered={FIGURES['dead']} "
        f"lost={FIGURES['lost']} duplicated={FIGURES['dup']}"
    )


@pytest.fixture
def orchestrator():
    made = []

    def make(script=()):
        made.append(Orchestrator(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


# --- the scenarios the issue names --------------------------------------------------------------------


def test_identical_payload_emitted_three_times_arrives_three_times(orchestrator, tmp_path):
    server = orchestrator()
    run_until_done(server, tmp_path / "cache", [7, 7, 7])
    check_exactly_once(server, tmp_path / "cache", [7, 7, 7])
    assert len({r["key"] for r in server.records}) == 3


@pytest.mark.parametrize("nth", [1, 2, 3])
@pytest.mark.parametrize("point", [p for p in POINTS if p != "after_reject"])
def test_kill_at_every_point_then_restart_loses_and_duplicates_nothing(orchestrator, tmp_path, point, nth):
    values = ["same", "same", "other", "same"]
    server = orchestrator()
    assert run_until_done(server, tmp_path / "cache", values, kills=[f"{point}:{nth}"]) == 2
    check_exactly_once(server, tmp_path / "cache", values)
    posted_twice = len(server.records) - len({r["key"] for r in server.records})
    # Only a kill between the orchestrator's answer and its record posts one event again (same key).
    assert posted_twice == (1 if point == "after_post" else 0)


@pytest.mark.parametrize("redirect", ["302", "307"])
def test_a_redirect_is_never_counted_as_delivered(orchestrator, tmp_path, redirect):
    server = orchestrator([redirect, redirect])
    cache = tmp_path / "cache"
    proc = run_trigger(server, cache, ["a"], retries=1)
    assert proc.returncode == 1
    reply = json.loads(proc.stdout)
    assert f"HTTP {redirect}" in reply["body"]["error"] and f"{server.url}/redirected" in reply["body"]["error"]
    assert server.processed == {} and server.followed == 0 and checkpoint_position(cache) == 0
    run_until_done(server, cache, ["a"])  # the orchestrator accepts it on the next start
    check_exactly_once(server, cache, ["a"])


@pytest.mark.parametrize("rejection", PERMANENT)
def test_a_rejected_event_is_dead_lettered_and_the_next_100_arrive(orchestrator, tmp_path, rejection):
    values = ["bad", *range(100)]
    server = orchestrator([rejection])
    cache = tmp_path / "cache"
    assert run_until_done(server, cache, values) == 1  # never blocked, never crashed
    dead = check_exactly_once(server, cache, values)
    assert list(dead.values()) == [0]
    assert server.answers() == [rejection] + ["200"] * 100


@pytest.mark.parametrize("kill", ["after_ack:40", "before_checkpoint:40", "after_post:1"])
def test_restart_after_a_dead_letter_replays_nothing_twice(orchestrator, tmp_path, kill):
    values = [*range(30), "bad", *range(30)]
    server = orchestrator(["200"] * 30 + ["400"])
    cache = tmp_path / "cache"
    assert run_until_done(server, cache, values, kills=[kill]) == 2
    dead = check_exactly_once(server, cache, values)
    assert list(dead.values()) == [30]
    assert [r["position"] for r in server.records].count(30) == 1
    posted_twice = len(server.records) - len({r["key"] for r in server.records})
    assert posted_twice == (1 if kill.startswith("after_post") else 0)


def test_a_kill_after_the_rejection_rejects_it_once_more_and_no_more(orchestrator, tmp_path):
    values = [1, "bad", 1, 2]
    server = orchestrator(["200", "400", "400"])
    cache = tmp_path / "cache"
    run_until_done(server, cache, values, kills=["after_reject:1"])
    dead = check_exactly_once(server, cache, values)
    assert list(dead.values()) == [1]
    assert [r["position"] for r in server.records if r["answer"] == "400"] == [1, 1]


def test_transient_answers_are_retried_then_raised_and_resent(orchestrator, tmp_path):
    values = [1, 1, 2]
    server = orchestrator(["429", "500", "refuse", "timeout", "500", "500", "408"])
    cache = tmp_path / "cache"
    runs = run_until_done(server, cache, values, retries=1)
    assert runs >= 2
    check_exactly_once(server, cache, values)
    assert dead_letters(cache) == {}


def test_files_holding_events_and_state_are_private(orchestrator, tmp_path):
    server = orchestrator(["400"])
    cache = tmp_path / "cache"
    # Killed with the database open, so that the WAL and shared-memory files are still there.
    proc = run_trigger(server, cache, [1, 2], kill="after_checkpoint:2", check=False)
    assert proc.returncode == -9, proc.stderr.decode()[-3000:]
    names = {path.name for path in cache.iterdir()}
    outbox = f"{TRIGGER_ID}.outbox.sqlite"
    assert names == {f"{TRIGGER_ID}.json", outbox, f"{outbox}-wal", f"{outbox}-shm"}
    for path in cache.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (path.name, oct(path.stat().st_mode))


def test_dead_letters_are_listed_and_redriven_from_the_command_line(orchestrator, tmp_path):
    import importlib.util

    from insightconnect_plugin_runtime import CLI

    spec = importlib.util.spec_from_file_location("replay_plugin", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ReplayPlugin = module.ReplayPlugin  # noqa: N806 - a class

    server = orchestrator(["413"])
    cache = tmp_path / "cache"
    run_until_done(server, cache, ["big", "small"])

    def cli(*args: str) -> tuple[int, list[dict]]:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = CLI(ReplayPlugin(), args=["dead-letters", *args, "--cache-dir", str(cache)]).main()
        return code, [json.loads(line) for line in out.getvalue().splitlines()]

    code, listed = cli("list")
    assert code == 0 and len(listed) == 1
    (letter,) = listed
    assert letter["trigger_id"] == TRIGGER_ID and letter["status"] == 413 and letter["output"] == {"value": "big"}
    assert "HTTP 413" in letter["reason"] and "scripted" in letter["reason"]
    assert letter["at"] >= letter["created"] > 0 and letter["attempts"] == 1
    assert cli("redrive", "--key", "not-a-key") == (0, [{"redriven": 0}])
    assert cli("redrive", "--trigger-id", TRIGGER_ID) == (0, [{"redriven": 1}])
    assert cli("list") == (0, [])
    # The trigger's next start posts the re-driven event with its original key.
    run_until_done(server, cache, ["big", "small"])
    assert server.records[-1]["key"] == letter["key"] and server.records[-1]["answer"] == "200"
    assert outbox_keys(cache, "SELECT key FROM events WHERE acked = 1") >= {letter["key"]}


# --- the property ---------------------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.sampled_from([1, 2, "x"]), min_size=1, max_size=6),
    script=st.lists(st.sampled_from(ANSWERS), max_size=8),
    kills=st.lists(
        st.one_of(st.none(), st.builds("{}:{}".format, st.sampled_from(POINTS), st.integers(1, 4))), max_size=3
    ),
    retries=st.integers(min_value=0, max_value=1),
)
def test_property_delivered_is_emitted_minus_dead_lettered_each_exactly_once(values, script, kills, retries):
    server = Orchestrator(script)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "cache"
            run_until_done(server, cache, values, kills=kills, retries=retries)
            dead = check_exactly_once(server, cache, values)
            rejected = {r["position"] for r in server.records if r["answer"] in PERMANENT}
            assert set(dead.values()) <= rejected
    finally:
        server.close()
