"""Effectively-once trigger delivery: the durable outbox, idempotency keys and checkpoint-after-ack.

The crash tests run the example plugin's ``emit_greeting`` trigger through the CLI as a subprocess,
against a local dispatcher that can refuse, time out, answer 500 or acknowledge, and SIGKILL the
trigger at every point of the send/checkpoint cycle (``ICON_RUNTIME_TEST_KILL_AT``). Across all runs
every event must reach the dispatcher, exactly once after deduplication by key, and the checkpoint
must never pass an event the dispatcher did not acknowledge.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import insightconnect_plugin_runtime as icon
from insightconnect_plugin_runtime import _outbox, constants
from insightconnect_plugin_runtime.dispatcher import IDEMPOTENCY_HEADER, DispatchError, Http, Stdout
from insightconnect_plugin_runtime.exceptions import PluginException

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "example"
BIN = SAMPLE / "bin" / "icon_example"
TRIGGER_ID = "example-trigger-1"
CLIENT_TIMEOUT = 0.3
POINTS = ("before_enqueue", "after_enqueue", "after_post", "after_ack", "before_checkpoint", "after_checkpoint")
SUMMARY = {"scenarios": 0, "runs": 0, "kills": 0, "kill_points": set(), "lost": 0, "duplicated": 0, "resent": 0}


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    points = sorted(SUMMARY["kill_points"])
    print(
        f"\n[outbox] scenarios={SUMMARY['scenarios']} runs={SUMMARY['runs']} kills={SUMMARY['kills']} "
        f"kill_points={len(points)} {points} lost={SUMMARY['lost']} duplicated={SUMMARY['duplicated']} "
        f"same-key redeliveries={SUMMARY['resent']}"
    )


# --- a dispatcher that misbehaves on request ---------------------------------------------------------


class Dispatcher:
    """Answers each POST with the next scripted behaviour (then ``ack``) and records what it processed."""

    def __init__(self, script=()):
        self.script = list(script)
        self.lock = threading.Lock()
        self.records: list[dict] = []  # every request: key, number, outcome
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with outer.lock:
                    behaviour = outer.script.pop(0) if outer.script else "ack"
                    outer.records.append(
                        {
                            "key": self.headers.get(IDEMPOTENCY_HEADER),
                            "number": body["body"]["output"]["number"],
                            "outcome": behaviour,
                        }
                    )
                if behaviour == "refuse":
                    self.close_connection = True  # drop the connection without an answer
                    return
                if behaviour == "timeout":
                    time.sleep(CLIENT_TIMEOUT * 2)  # processed, but answered after the client gave up
                status = 500 if behaviour == "500" else 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
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

    def delivered(self):
        """Requests the orchestrator processed: acknowledged ones and late answers (timeouts)."""
        with self.lock:
            return [r for r in self.records if r["outcome"] in ("ack", "timeout")]

    def acknowledged_numbers(self):
        with self.lock:
            return {r["number"] for r in self.records if r["outcome"] == "ack"}

    def keys_by_number(self):
        found = defaultdict(set)
        with self.lock:
            for record in self.records:
                found[record["number"]].add(record["key"])
        return found


# --- running the trigger until it finishes ------------------------------------------------------------


def _message(url: str, count: int) -> str:
    message = json.loads((SAMPLE / "messages" / "emit_greeting.json").read_text())
    message["body"]["dispatcher"]["url"] = url
    message["body"]["input"].update(count=count, interval=0)
    return json.dumps(message)


def _env(cache: Path, retries: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
    env.pop("ICON_RUNTIME_TEST_KILL_AT", None)
    env.pop("ICON_RUNTIME_OUTBOX", None)
    env.update(
        ICON_RUNTIME_CACHE_DIR=str(cache) + "/",
        ICON_RUNTIME_FLAG_DIR=str(cache.parent / "flags") + "/",
        ICON_RUNTIME_DISPATCH_TIMEOUT=str(CLIENT_TIMEOUT),
        ICON_RUNTIME_OUTBOX_RETRIES=str(retries),
        ICON_RUNTIME_OUTBOX_BACKOFF="0.01",
    )
    return env


def _checkpoint(cache: Path) -> int:
    path = cache / f"{TRIGGER_ID}.json"
    return json.loads(path.read_text()).get("last_number", 0) if path.exists() else 0


def _acked_in_outbox(cache: Path) -> set[str]:
    path = cache / f"{TRIGGER_ID}.outbox.sqlite"
    if not path.exists():
        return set()
    with sqlite3.connect(path) as db:
        return {key for (key,) in db.execute("SELECT key FROM events WHERE acked = 1")}


def run_until_done(dispatcher: Dispatcher, cache: Path, count: int, kills=(), retries: int = 1, max_runs: int = 25):
    """Run (and restart) the trigger until it returns; check the checkpoint after every run."""
    env = _env(cache, retries)
    message = _message(dispatcher.url, count)
    kills = list(kills)
    for run in range(max_runs):
        run_env = dict(env)
        kill = kills[run] if run < len(kills) else None
        if kill:
            run_env["ICON_RUNTIME_TEST_KILL_AT"] = kill
        proc = subprocess.run(
            [sys.executable, str(BIN), "run"],
            input=message.encode(),
            capture_output=True,
            env=run_env,
            cwd=SAMPLE,
            timeout=60,
        )
        SUMMARY["runs"] += 1
        if proc.returncode == -9:
            SUMMARY["kills"] += 1
            SUMMARY["kill_points"].add(kill.split(":")[0])
        else:
            assert proc.returncode in (0, 1), proc.stderr.decode()[-2000:]
            if proc.returncode == 1:
                assert "DispatchError" in proc.stderr.decode() or "deliver" in proc.stdout.decode(), proc.stdout
        # The cursor never passes an event the dispatcher did not acknowledge, nor one the outbox
        # did not record as acknowledged.
        cursor = _checkpoint(cache)
        acked = dispatcher.acknowledged_numbers()
        acked_keys = _acked_in_outbox(cache)
        keys_by_number = dispatcher.keys_by_number()
        for number in range(1, cursor + 1):
            assert number in acked, (cursor, sorted(acked))
            assert keys_by_number[number] & acked_keys, (cursor, number)
        if proc.returncode == 0:
            assert cursor == count
            return run + 1
    raise AssertionError(f"the trigger did not finish in {max_runs} runs")


def check_exactly_once(dispatcher: Dispatcher, count: int) -> None:
    by_number: dict[int, set[str]] = defaultdict(set)
    deliveries = dispatcher.delivered()
    for record in deliveries:
        assert record["key"], record
        by_number[record["number"]].add(record["key"])
    lost = [n for n in range(1, count + 1) if n not in by_number]
    duplicated = [n for n, keys in by_number.items() if len(keys) > 1]
    SUMMARY["lost"] += len(lost)
    SUMMARY["duplicated"] += len(duplicated)
    SUMMARY["resent"] += len(deliveries) - len(by_number)
    SUMMARY["scenarios"] += 1
    assert not lost, f"lost events {lost}"
    assert not duplicated, f"events delivered under several keys {duplicated}"
    assert set(by_number) == set(range(1, count + 1))
    every_key = [key for keys in by_number.values() for key in keys]
    assert len(every_key) == len(set(every_key)), "two events delivered under one key"
    for keys in by_number.values():
        (key,) = keys
        assert key.startswith(f"{TRIGGER_ID}:g"), key


@pytest.fixture
def dispatcher():
    made = []

    def make(script=()):
        made.append(Dispatcher(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


# --- crash/restart at every kill point -----------------------------------------------------------------


@pytest.mark.parametrize("nth", [1, 2, 3])
@pytest.mark.parametrize("point", POINTS)
def test_kill_at_every_point_loses_and_duplicates_nothing(dispatcher, tmp_path, point, nth):
    server = dispatcher()
    # Four events, so that a kill after the third checkpoint still leaves an event to emit.
    runs = run_until_done(server, tmp_path / "cache", count=4, kills=[f"{point}:{nth}"])
    assert runs == 2
    check_exactly_once(server, 4)
    numbers = [r["number"] for r in server.delivered()]
    if point == "after_post":
        # The orchestrator acknowledged the event the trigger died on: it comes again with the same key.
        assert numbers == [*range(1, nth + 1), nth, *range(nth + 1, 5)]
    else:
        # Otherwise nothing is posted twice: an event re-emitted after its ack is dropped locally.
        assert numbers == [1, 2, 3, 4]


def test_every_dispatcher_failure_then_restarts(dispatcher, tmp_path):
    script = ["refuse", "refuse", "timeout", "timeout", "500", "500", "ack", "500", "refuse", "timeout"]
    server = dispatcher(script)
    run_until_done(server, tmp_path / "cache", count=4, kills=["after_post:2", None, "after_enqueue:1"], retries=1)
    check_exactly_once(server, 4)
    outcomes = {r["outcome"] for r in server.records}
    assert outcomes == {"refuse", "timeout", "500", "ack"}


def test_resent_events_come_first_and_in_order(dispatcher, tmp_path):
    server = dispatcher(["500"] * 6)
    cache = tmp_path / "cache"
    run_until_done(server, cache, count=3, kills=["after_enqueue:2"], retries=0)
    numbers = [r["number"] for r in server.records if r["outcome"] == "ack"]
    assert numbers == [1, 2, 3]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(min_value=1, max_value=4),
    kills=st.lists(
        st.one_of(st.none(), st.builds("{}:{}".format, st.sampled_from(POINTS), st.integers(1, 4))),
        max_size=3,
    ),
    script=st.lists(st.sampled_from(["ack", "refuse", "timeout", "500"]), max_size=6),
    retries=st.integers(min_value=0, max_value=2),
)
def test_property_random_kills_and_failures(count, kills, script, retries):
    server = Dispatcher(script)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run_until_done(server, Path(tmp) / "cache", count=count, kills=kills, retries=retries)
            check_exactly_once(server, count)
    finally:
        server.close()


# --- in-process behaviour ---------------------------------------------------------------------------


class RecordingHttp(Http):
    """An Http dispatcher that records instead of posting; fails for the scripted calls."""

    def __init__(self, failures=()):
        super().__init__({"url": "http://127.0.0.1:9/x"})
        self.failures = list(failures)
        self.sent: list[tuple] = []

    def write(self, msg, idempotency_key=None):
        if self.failures and self.failures.pop(0):
            raise DispatchError(cause="scripted failure")
        self.sent.append((msg["body"]["output"], idempotency_key))


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "CACHE_DIR", str(tmp_path / "cache") + "/")
    monkeypatch.setattr(constants, "FLAG_DIR", str(tmp_path / "flags") + "/")
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_BACKOFF", "0")
    monkeypatch.delenv("ICON_RUNTIME_OUTBOX", raising=False)
    return tmp_path


def _trigger(dispatcher, trigger_id="t-1"):
    trigger = icon.Trigger("t", "t", icon.Input({}), icon.Output({}))
    trigger.logger = logging.getLogger("test-outbox")
    trigger.meta = {"triggerId": trigger_id} if trigger_id else {}
    trigger.dispatcher = dispatcher
    trigger.load_state()
    return trigger


def _position_key(trigger_id, generation, output, occurrence=1):
    return f"{trigger_id}:g{generation}:{_outbox.content_hash(output)}:{occurrence}"


def test_supplied_key_and_counters(dirs):
    before = _outbox.outbox_counters()
    http = RecordingHttp(failures=[True])
    trigger = _trigger(http)
    trigger.send({"n": 1}, idempotency_key="cursor-1")
    trigger.send({"n": 1}, idempotency_key="cursor-1")  # the plugin says: the same event again: dropped
    trigger.send({"n": 2})
    assert [key for _, key in http.sent] == ["t-1:cursor-1", _position_key("t-1", 1, {"n": 2})]
    after = _outbox.outbox_counters()
    assert after["queued"] - before["queued"] == 2
    assert after["sent"] - before["sent"] == 2
    assert after["retried"] - before["retried"] == 1
    assert after["dropped_duplicate"] - before["dropped_duplicate"] == 1


def test_failed_send_raises_and_the_event_is_resent_on_restart(dirs, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_RETRIES", "1")
    trigger = _trigger(RecordingHttp(failures=[True, True]))
    with pytest.raises(DispatchError):
        trigger.send({"n": 1})
    trigger._outbox.close()
    http = RecordingHttp()
    restarted = _trigger(http)
    restarted._start_outbox()
    assert http.sent == [({"n": 1}, _position_key("t-1", 1, {"n": 1}))]
    restarted.send({"n": 1})  # re-emitted from the same checkpoint: the same emission, already delivered
    assert len(http.sent) == 1
    restarted.send({"n": 1})  # a second identical event of this run: a new emission
    assert http.sent[-1] == ({"n": 1}, _position_key("t-1", 1, {"n": 1}, occurrence=2))


def test_identical_events_of_one_run_are_all_delivered(dirs):
    http = RecordingHttp()
    trigger = _trigger(http)
    for _ in range(3):
        trigger.send({"alert": "disk full"})
    keys = [key for _, key in http.sent]
    assert keys == [_position_key("t-1", 1, {"alert": "disk full"}, n) for n in (1, 2, 3)]


def test_each_checkpoint_is_a_new_generation_and_restart_resumes_it(dirs):
    http = RecordingHttp()
    trigger = _trigger(http)
    trigger.send({"beat": 1})
    trigger.state["cursor"] = 1
    trigger._save_state()
    trigger.send({"beat": 1})  # same content after a checkpoint: a new event
    trigger._save_state()  # same state again: still a new generation
    trigger.send({"beat": 1})
    assert [key for _, key in http.sent] == [_position_key("t-1", g, {"beat": 1}) for g in (1, 2, 3)]
    trigger._outbox.close()
    restarted = _trigger(http)  # resumes from the last checkpoint: generation 3
    restarted.send({"beat": 1})  # the replay of the third event: dropped
    restarted.send({"beat": 1})  # then a new one
    assert [key for _, key in http.sent][3:] == [_position_key("t-1", 3, {"beat": 1}, 2)]


def test_a_checkpoint_that_dies_before_its_rename_falls_back_to_the_previous_generation(dirs):
    http = RecordingHttp()
    trigger = _trigger(http)
    trigger.state["cursor"] = 1
    trigger._save_state()  # generation 2
    trigger.send({"n": 1})
    trigger.state["cursor"] = 2

    with mock.patch.object(os, "replace", side_effect=OSError(5, "I/O error")), pytest.raises(OSError):
        trigger._save_state()
    # The failed save withdrew its generation: this process goes on in generation 2 ...
    trigger.send({"n": 1})
    assert http.sent[-1][1] == _position_key("t-1", 2, {"n": 1}, 2)
    rows = trigger._outbox.db.execute("SELECT number FROM generations ORDER BY number").fetchall()
    assert rows == [(1,), (2,)]
    # ... and a crash between the record and the rename resumes the generation of the file on disk.
    trigger._outbox.begin_checkpoint(_outbox.text_hash('{"cursor": 2}'))
    trigger._outbox.close()
    restarted = _trigger(http)
    assert restarted.state == {"cursor": 1}
    restarted.send({"n": 1})
    restarted.send({"n": 1})
    assert len(http.sent) == 2


def test_a_checkpoint_the_outbox_never_saw_opens_a_new_generation(dirs):
    http = RecordingHttp()
    trigger = _trigger(http)
    trigger.send({"n": 1})
    trigger._outbox.close()
    with open(trigger.state_file, "w") as handle:
        handle.write('{"edited": true}')
    restarted = _trigger(http)
    restarted.send({"n": 1})
    assert [key for _, key in http.sent] == [_position_key("t-1", g, {"n": 1}) for g in (1, 2)]


def test_old_generations_are_pruned(dirs):
    trigger = _trigger(RecordingHttp())
    for cursor in range(69):
        trigger.state["cursor"] = cursor
        trigger._save_state()
    (count, low, high) = trigger._outbox.db.execute(
        "SELECT COUNT(*), MIN(number), MAX(number) FROM generations"
    ).fetchone()
    assert (count, low, high) == (64, 7, 70)  # the last 64 of 70 generations


def test_full_outbox_is_a_clear_error(dirs, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_MAX", "2")
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_RETRIES", "0")
    trigger = _trigger(RecordingHttp(failures=[True] * 10))
    for n in range(2):
        with pytest.raises(DispatchError):
            trigger.send({"n": n})
    with pytest.raises(PluginException, match="outbox is full"):
        trigger.send({"n": 3})


def test_acknowledged_keys_are_pruned_oldest_first(dirs, monkeypatch):
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_SEEN", "3")
    http = RecordingHttp()
    trigger = _trigger(http)
    for n in range(6):
        trigger.send({"n": n}, idempotency_key=f"c{n}")
    rows = trigger._outbox.db.execute("SELECT COUNT(*), MIN(id) FROM events").fetchone()
    assert rows == (3, 4)
    trigger.send({"n": 0}, idempotency_key="c0")  # forgotten: sent again
    trigger.send({"n": 5}, idempotency_key="c5")  # remembered: dropped
    assert [key for _, key in http.sent] == ["t-1:c0", "t-1:c1", "t-1:c2", "t-1:c3", "t-1:c4", "t-1:c5", "t-1:c0"]


def test_opt_out_and_stateless_triggers_post_directly_with_run_keys(dirs, monkeypatch):
    http = RecordingHttp()
    stateless = _trigger(http, trigger_id=None)
    stateless.send({"n": 1})
    stateless.send({"n": 1})
    again = _trigger(http, trigger_id=None)  # another run of the stateless trigger
    again.send({"n": 1})
    keys = [key for _, key in http.sent]
    digest = _outbox.content_hash({"n": 1})
    assert keys[0].startswith("run-") and keys[0].endswith(f":{digest}:1")
    assert keys[1] == keys[0][: -len("1")] + "2"  # same run, second occurrence
    assert keys[2].endswith(f":{digest}:1") and keys[2] != keys[0]  # a new run never collides
    assert stateless._outbox is None
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX", "off")
    off = _trigger(http)
    off.send({"n": 2})
    assert off._outbox is None
    assert http.sent[-1][1].startswith("t-1:run-") and http.sent[-1][1].endswith(":1")
    assert not os.path.exists(os.path.join(constants.CACHE_DIR, "t-1.outbox.sqlite"))


def test_stdout_dispatcher_bypasses_the_outbox(dirs, capsys):
    trigger = _trigger(Stdout())
    trigger.send({"n": 1})
    assert json.loads(capsys.readouterr().out)["body"]["output"] == {"n": 1}
    assert trigger._outbox is None


def test_keys_http_cannot_carry_are_hashed():
    assert _outbox.supplied_key("cursor-7", "t") == "t:cursor-7"
    assert _outbox.supplied_key(7) == "7"
    assert _outbox.supplied_key("x" * 200, "t") == "t:" + "x" * 200
    for odd in ("clé", "a\nb", "x" * 201):
        key = _outbox.supplied_key(odd, "t")
        assert key.startswith("t:sha256:") and len(key) == len("t:sha256:") + 64
        assert key == _outbox.supplied_key(odd, "t")


def test_content_hash_ignores_key_order_and_spacing():
    assert _outbox.content_hash({"a": 1, "b": [1, 2]}) == _outbox.content_hash({"b": [1, 2], "a": 1})
    assert _outbox.content_hash({"a": 1}) != _outbox.content_hash({"a": "1"})
    assert len(_outbox.content_hash({})) == 32


def test_outbox_figures_are_readable_from_the_files(tmp_path):
    from insightconnect_plugin_runtime._outbox import Outbox, outbox_stats

    class Flaky:
        calls = 0

        def write(self, msg, idempotency_key=None):
            type(self).calls += 1
            if type(self).calls == 1:
                raise OSError("refused")

    outbox = Outbox(str(tmp_path / "trig-1.outbox.sqlite"))
    outbox.backoff = 0
    outbox.send(Flaky(), "k1", {"n": 1})
    outbox.enqueue("k1", {"n": 1})  # a re-emitted, already delivered event
    outbox.enqueue("k2", {"n": 2})  # queued, not yet delivered
    outbox.close()
    (stats,) = outbox_stats(str(tmp_path))
    assert stats == {
        "trigger_id": "trig-1",
        "pending": 1,
        "dead_letters": 0,
        "queued": 2,
        "sent": 1,
        "retried": 1,
        "dropped_duplicate": 1,
        "dead_lettered": 0,
        "redriven": 0,
    }
