"""Trigger delivery that neither drops nor blocks: emission identity, redirects, dead letters.

The trigger is ``tests/delivery/replay_plugin.py`` run through its CLI as a real subprocess: it emits
a list of values (repeats are identical events), checkpointing after each. It posts to
:class:`Orchestrator`, a dispatcher on 127.0.0.1 that answers each new event with the next scripted
answer: 200, 302, 307, 400, 413, 429, 500, a dropped connection ("refuse") or a late answer
("timeout"), and deduplicates on ``Idempotency-Key`` like the real orchestrator (an event it
processed is acknowledged again). The trigger is SIGKILLed at every point of the send/checkpoint
cycle and restarted, re-emitting the same sequence from its checkpoint.

Every emitted position must end up processed by the orchestrator under exactly one key, or in the
dead letters, never both; a redirect target is never reached.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from insightconnect_plugin_runtime.dispatcher import IDEMPOTENCY_HEADER

PLUGIN = Path(__file__).resolve().parent / "delivery" / "replay_plugin.py"
TRIGGER_ID = "replay-1"
CLIENT_TIMEOUT = 0.3
ANSWERS = ("200", "302", "307", "400", "413", "429", "500", "refuse", "timeout")
PERMANENT = ("400", "413")
POINTS = (
    "before_enqueue",
    "after_enqueue",
    "after_post",
    "after_reject",
    "after_ack",
    "before_checkpoint",
    "after_checkpoint",
)
FIGURES = {"runs": 0, "kills": 0, "kill_points": set(), "emitted": 0, "delivered": 0, "dead": 0, "lost": 0, "dup": 0}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(
        f"\n[delivery] runs={FIGURES['runs']} kills={FIGURES['kills']} kill_points={len(FIGURES['kill_points'])} "
        f"events emitted={FIGURES['emitted']} delivered={FIGURES['delivered']} dead-lettered={FIGURES['dead']} "
        f"lost={FIGURES['lost']} duplicated={FIGURES['dup']}"
    )


class Orchestrator:
    """Answers each new event with the next scripted answer (then 200); records every request."""

    def __init__(self, script=()):
        self.script = list(script)
        self.lock = threading.Lock()
        self.records: list[dict] = []
        self.processed: dict[str, int] = {}  # key -> position
        self.followed = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - a followed 301/302/303 arrives as a GET
                self._followed()

            def _followed(self):
                with outer.lock:
                    outer.followed += 1
                self._status(200)

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self.path.endswith("/redirected"):
                    self._followed()
                    return
                key = self.headers.get(IDEMPOTENCY_HEADER)
                positions = re.findall(r"position (\d+)", body["body"]["log"])
                position = int(positions[-1])
                with outer.lock:
                    if key in outer.processed:
                        answer = "200"  # deduplicated by key: acknowledged again
                    else:
                        answer = outer.script.pop(0) if outer.script else "200"
                    if answer in ("200", "timeout"):
                        outer.processed.setdefault(key, position)
                    outer.records.append({"key": key, "position": position, "answer": answer,
                                          "value": body["body"]["output"]["value"]})  # fmt: skip
                if answer == "refuse":
                    self.close_connection = True
                    return
                if answer == "timeout":
                    time.sleep(CLIENT_TIMEOUT * 2)
                    answer = "200"
                headers = {}
                if answer in ("302", "307"):
                    headers["Location"] = f"{outer.url}/redirected"
                if answer == "429":
                    headers["Retry-After"] = "0"
                self._status(int(answer), headers, b'{"error": "scripted"}' if answer != "200" else b"")

            def _status(self, status, headers=None, data=b""):
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def answers(self):
        with self.lock:
            return [record["answer"] for record in self.records]


@pytest.fixture
def orchestrator():
    made = []

    def make(script=()):
        made.append(Orchestrator(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


# --- running the trigger --------------------------------------------------------------------------------


def _message(url: str, values: list) -> bytes:
    return json.dumps(
        {
            "version": "v1",
            "type": "trigger_start",
            "body": {
                "trigger": "replay",
                "meta": {"triggerId": TRIGGER_ID},
                "connection": {},
                "dispatcher": {"url": url, "webhook_url": ""},
                "input": {"values": values},
            },
        }
    ).encode()


def _env(cache: Path, retries: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICON_RUNTIME", "PLUGIN_RUNTIME"))}
    env.update(
        ICON_RUNTIME_CACHE_DIR=f"{cache}/",
        ICON_RUNTIME_FLAG_DIR=f"{cache.parent}/flags/",
        ICON_RUNTIME_DISPATCH_TIMEOUT=str(CLIENT_TIMEOUT),
        ICON_RUNTIME_OUTBOX_RETRIES=str(retries),
        ICON_RUNTIME_OUTBOX_BACKOFF="0.01",
    )
    return env


def _position(cache: Path) -> int:
    path = cache / f"{TRIGGER_ID}.json"
    return json.loads(path.read_text()).get("position", 0) if path.exists() else 0


def _outbox_keys(cache: Path, sql: str) -> set[str]:
    path = cache / f"{TRIGGER_ID}.outbox.sqlite"
    if not path.exists():
        return set()
    with contextlib.closing(sqlite3.connect(path)) as db:
        return {key for (key,) in db.execute(sql)}


def dead_letters(cache: Path) -> dict[str, int]:
    """Dead-lettered key -> position (from the stored event's log)."""
    path = cache / f"{TRIGGER_ID}.outbox.sqlite"
    if not path.exists():
        return {}
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT key, msg FROM dead_letters").fetchall()
    return {key: int(re.findall(r"position (\d+)", json.loads(msg)["body"]["log"])[-1]) for key, msg in rows}


def run_trigger(server: Orchestrator, cache: Path, values: list, kill: str | None = None, retries: int = 1,
                check: bool = True):  # fmt: skip
    env = _env(cache, retries)
    if kill:
        env["ICON_RUNTIME_TEST_KILL_AT"] = kill
    proc = subprocess.run(
        [sys.executable, str(PLUGIN), "run"],
        input=_message(server.url, values),
        capture_output=True,
        env=env,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),
    )
    FIGURES["runs"] += 1
    if proc.returncode == -9:
        FIGURES["kills"] += 1
        FIGURES["kill_points"].add(kill.split(":")[0])
    else:
        assert proc.returncode in (0, 1), proc.stderr.decode()[-2000:]
    if not check:
        return proc
    # The checkpoint never passes an event still in flight: every position before it was processed
    # by the orchestrator or dead-lettered.
    answered = set(server.processed.values()) | set(dead_letters(cache).values())
    assert set(range(_position(cache))) <= answered, (_position(cache), sorted(answered))
    return proc


def run_until_done(server, cache: Path, values: list, kills=(), retries: int = 1, max_runs: int = 30) -> int:
    kills = list(kills)
    for run in range(max_runs):
        proc = run_trigger(server, cache, values, kills[run] if run < len(kills) else None, retries)
        if proc.returncode == 0:
            assert _position(cache) == len(values)
            return run + 1
    raise AssertionError(f"the trigger did not finish in {max_runs} runs")


def check_exactly_once(server: Orchestrator, cache: Path, values: list) -> dict[str, int]:
    """Each position processed under exactly one key, or dead-lettered; never both, never twice."""
    keys_by_position: dict[int, set[str]] = defaultdict(set)
    for key, position in server.processed.items():
        keys_by_position[position].add(key)
    dead = dead_letters(cache)
    dead_positions = list(dead.values())
    lost = [p for p in range(len(values)) if p not in keys_by_position and p not in dead_positions]
    duplicated = [p for p, keys in keys_by_position.items() if len(keys) > 1]
    duplicated += [p for p in dead_positions if p in keys_by_position or dead_positions.count(p) > 1]
    FIGURES["emitted"] += len(values)
    FIGURES["delivered"] += len(keys_by_position)
    FIGURES["dead"] += len(dead)
    FIGURES["lost"] += len(lost)
    FIGURES["dup"] += len(duplicated)
    assert not lost, f"lost positions {lost}"
    assert not duplicated, f"duplicated positions {duplicated}"
    assert len(keys_by_position) == len(values) - len(dead)  # delivered = emitted - dead-lettered
    for position, keys in keys_by_position.items():
        (key,) = keys
        assert [r["value"] for r in server.records if r["key"] == key][0] == values[position]
    assert server.followed == 0, "a redirect was followed"
    return dead


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
    assert server.processed == {} and server.followed == 0 and _position(cache) == 0
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
    assert _outbox_keys(cache, "SELECT key FROM events WHERE acked = 1") >= {letter["key"]}


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
