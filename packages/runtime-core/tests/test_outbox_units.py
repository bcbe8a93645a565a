"""The outbox piece by piece, in process (fast; with ``test_dispatcher.py``, the mutation suite).

The crash/restart behaviour is tested end to end in ``test_delivery.py`` and ``test_outbox.py``;
here each rule is pinned down on its own: backoff and Retry-After, dead letters, redrive,
generations, keys, counters, settings and file modes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import stat
import time
from pathlib import Path
from unittest import mock

import pytest

from insightconnect_plugin_runtime import _outbox
from insightconnect_plugin_runtime.dispatcher import DispatchError
from insightconnect_plugin_runtime.exceptions import PluginException

# --- keys ------------------------------------------------------------------------------------------------


def test_hashes():
    assert _outbox.text_hash("abc") == hashlib.sha256(b"abc").hexdigest()[:32]
    assert _outbox.content_hash({"b": 1, "a": "é"}) == _outbox.text_hash('{"a":"é","b":1}')
    when = dt.datetime(2026, 1, 2)
    assert _outbox.content_hash({"t": when}) == _outbox.text_hash(json.dumps({"t": str(when)}, separators=(",", ":")))


def test_supplied_keys():
    assert _outbox.supplied_key("abc", "t") == "t:abc"
    assert _outbox.supplied_key("abc") == "abc"
    assert _outbox.supplied_key(12, "") == "12"
    long_ok = "k" * 200
    assert _outbox.supplied_key(long_ok) == long_ok
    hashed = "sha256:" + hashlib.sha256(("k" * 201).encode()).hexdigest()
    assert _outbox.supplied_key("k" * 201) == hashed
    assert _outbox.supplied_key("tab\there").startswith("sha256:")
    assert _outbox.supplied_key("ü").startswith("sha256:")


def test_emissions_count_occurrences_per_content():
    emissions = _outbox.Emissions("L")
    digest_a, digest_b = _outbox.content_hash("a"), _outbox.content_hash("b")
    assert [emissions.key_for(x) for x in ("a", "b", "a", "a")] == [
        f"L:{digest_a}:1", f"L:{digest_b}:1", f"L:{digest_a}:2", f"L:{digest_a}:3"
    ]  # fmt: skip


def test_run_keys_are_unique_per_run():
    first, second = _outbox.run_emissions(), _outbox.run_emissions("t")
    assert first.label.startswith("run-") and len(first.label) == len("run-") + 32
    assert second.label.startswith("t:run-") and second.label[2:] != first.label


# --- settings and the test hook -------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("off", False), (" OFF ", False),
                                           ("0", False), ("false", False), ("no", False), ("yes", True)])  # fmt: skip
def test_outbox_switch(monkeypatch, value, on):
    if value is None:
        monkeypatch.delenv("ICON_RUNTIME_OUTBOX", raising=False)
    else:
        monkeypatch.setenv("ICON_RUNTIME_OUTBOX", value)
    assert _outbox.enabled() is on


def test_numbers_from_the_environment(monkeypatch, tmp_path):
    """Each outbox number comes from its variable; a negative or non-numeric one keeps the default."""
    for name, value in (("RETRIES", "3"), ("BACKOFF", "0.25"), ("DEAD_MAX", "0"), ("MAX", "7"), ("SEEN", "40")):
        monkeypatch.setenv(f"ICON_RUNTIME_OUTBOX_{name}", value)
    box = _outbox.Outbox(str(tmp_path / "a.outbox.sqlite"))
    assert (box.retries, box.backoff, box.keep_dead, box.max_pending, box.keep_acked) == (3, 0.25, 0, 7, 40)
    assert box.prune_every == 4
    box.close()
    for name, value in (("RETRIES", "-1"), ("BACKOFF", "many"), ("DEAD_MAX", "1.5"), ("MAX", "-3"), ("SEEN", "x")):
        monkeypatch.setenv(f"ICON_RUNTIME_OUTBOX_{name}", value)
    box = _outbox.Outbox(str(tmp_path / "b.outbox.sqlite"))
    assert (box.retries, box.backoff, box.keep_dead, box.max_pending, box.keep_acked) == (5, 0.5, 10000, 10000, 10000)
    box.close()
    monkeypatch.setenv("ICON_RUNTIME_OUTBOX_BACKOFF", "9999")
    box = _outbox.Outbox(str(tmp_path / "c.outbox.sqlite"))
    assert box.backoff == _outbox.BACKOFF_CAP_SECONDS
    box.close()


def test_kill_point_fires_once_at_the_nth_visit(monkeypatch):
    monkeypatch.setattr(_outbox, "_KILL_SEEN", {})
    with mock.patch("os.kill") as kill:
        monkeypatch.delenv("ICON_RUNTIME_TEST_KILL_AT", raising=False)
        _outbox.kill_point("after_post")
        monkeypatch.setenv("ICON_RUNTIME_TEST_KILL_AT", "after_post:2")
        _outbox.kill_point("after_ack")
        _outbox.kill_point("after_post")
        assert kill.call_count == 0
        _outbox.kill_point("after_post")
        assert kill.call_count == 1 and kill.call_args.args == (os.getpid(), 9)
        _outbox.kill_point("after_post")
        assert kill.call_count == 1
        monkeypatch.setenv("ICON_RUNTIME_TEST_KILL_AT", "after_ack")  # no count: the first visit
        _outbox.kill_point("after_ack")  # other points were not counted while they were not asked for
        assert kill.call_count == 2
        _outbox.kill_point("after_ack")
        assert kill.call_count == 2
        monkeypatch.setattr(_outbox, "_KILL_SEEN", {})
        _outbox.kill_point("after_ack")
        assert kill.call_count == 3


# --- the outbox ----------------------------------------------------------------------------------------


class Script:
    """A dispatcher answering from a list: None acknowledges, an exception is raised."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.posts: list[tuple] = []

    def write(self, msg, idempotency_key=None):
        self.posts.append((msg, idempotency_key))
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer


def rejected(status=400, data="bad event"):
    return DispatchError(cause=f"The orchestrator rejected the trigger event (HTTP {status}).", data=data,
                         status=status)  # fmt: skip


def failed(status=500, retry_after=None):
    return DispatchError(cause=f"HTTP {status}", status=status, retry_after=retry_after)


@pytest.fixture
def outbox(tmp_path, monkeypatch):
    for name in ("RETRIES", "BACKOFF", "MAX", "SEEN", "DEAD_MAX"):
        monkeypatch.delenv(f"ICON_RUNTIME_OUTBOX_{name}", raising=False)
    made = []

    def make(**settings):
        for name, value in settings.items():
            monkeypatch.setenv(f"ICON_RUNTIME_OUTBOX_{name.upper()}", str(value))
        box = _outbox.Outbox(str(tmp_path / "cache" / "trig.outbox.sqlite"), logging.getLogger("units"),
                             mask=lambda text: text.replace("SECRET", "********"))  # fmt: skip
        made.append(box)
        return box

    yield make
    for box in made:
        try:
            box.close()
        except Exception:  # noqa: BLE001 - closed by the test
            pass


@pytest.fixture
def sleeps(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(_outbox.time, "sleep", slept.append)
    return slept


def test_defaults_and_identity(outbox, tmp_path):
    box = outbox()
    assert (box.retries, box.backoff, box.max_pending, box.keep_acked, box.keep_dead) == (5, 0.5, 10000, 10000, 10000)
    assert box.prune_every == 1000 and box._acks_since_prune == 999
    assert box.trigger_id == "trig"
    assert _outbox.Outbox(str(tmp_path / "x.outbox.sqlite"), trigger_id="given").trigger_id == "given"
    assert _outbox.Outbox(str(tmp_path / "y.outbox.sqlite")).mask("SECRET") == "SECRET"


def test_settings_from_the_environment(outbox):
    box = outbox(retries=2, backoff=99, max=3, seen=50, dead_max=4)
    assert (box.retries, box.backoff, box.max_pending, box.keep_acked, box.keep_dead) == (2, 30.0, 3, 50, 4)
    assert box.prune_every == 5
    assert outbox(seen=0).prune_every == 1


def test_files_are_private_even_when_they_existed(tmp_path):
    path = tmp_path / "old.outbox.sqlite"
    previous = os.umask(0o022)
    try:
        _outbox.Outbox(str(path)).close()  # creates the database
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").touch()
            os.chmod(f"{path}{suffix}", 0o644)
        box = _outbox.Outbox(str(path))
    finally:
        os.umask(previous)
    for suffix in ("", "-wal", "-shm", "-journal"):
        assert stat.S_IMODE(os.stat(f"{path}{suffix}").st_mode) == 0o600, suffix
    box.close()


def test_the_database_is_private_before_sqlite_opens_it(tmp_path):
    import sqlite3

    path = tmp_path / "new.outbox.sqlite"
    seen = []
    real_connect = sqlite3.connect

    def connect(target, *args, **kwargs):
        seen.append(stat.S_IMODE(os.stat(target).st_mode))
        return real_connect(target, *args, **kwargs)

    previous = os.umask(0o022)
    try:
        with mock.patch("sqlite3.connect", connect):
            _outbox.Outbox(str(path)).close()
    finally:
        os.umask(previous)
    assert seen == [0o600]


def test_delivery_acknowledges_in_order(outbox, sleeps):
    box = outbox()
    box.enqueue("k1", {"n": 1})
    box.enqueue("k2", {"n": 2})
    sender = Script()
    assert box.deliver(sender) == 2
    assert [(msg["n"], key) for msg, key in sender.posts] == [(1, "k1"), (2, "k2")]
    assert box.pending() == [] and sleeps == []
    rows = box.db.execute("SELECT key, acked, msg, attempts, acked_at IS NOT NULL FROM events ORDER BY id").fetchall()
    assert rows == [("k1", 1, None, 0, 1), ("k2", 1, None, 0, 1)]
    assert box.replay(sender) == 0


def test_transient_failures_back_off_then_raise(outbox, sleeps, caplog):
    box = outbox(retries=3)
    box.enqueue("k1", {"n": 1})
    before = _outbox.outbox_counters()["retried"]
    with pytest.raises(DispatchError), caplog.at_level(logging.WARNING, logger="units"):
        box.deliver(Script(failed(), failed(503), OSError("refused SECRET"), failed(408)))
    messages = [r.getMessage() for r in caplog.records if r.name == "units"]
    assert messages[2] == "Trigger event k1 not delivered (refused ********); retry 3 in 2.00s."
    assert messages[-1] == (
        "Trigger event k1 not delivered after 4 attempt(s); it stays in the outbox and is sent again when the "
        "trigger restarts."
    )
    assert sleeps == [0.5, 1.0, 2.0]
    assert _outbox.outbox_counters()["retried"] - before == 3
    assert box.db.execute("SELECT attempts, acked FROM events").fetchone() == (4, 0)
    assert box.replay(Script()) == 1  # delivered at the next start


def test_backoff_is_capped_and_retry_after_is_honoured_within_bounds(outbox, sleeps):
    box = outbox(retries=4, backoff=20)
    box.enqueue("k1", {})
    box.deliver(Script(failed(), failed(429, retry_after=0), failed(429, retry_after=45), failed(429, 1e9)))
    assert sleeps == [20.0, 30.0, 45.0, 300.0]


def test_retry_after_never_shortens_the_backoff(outbox, sleeps):
    box = outbox(retries=1, backoff=2)
    box.enqueue("k1", {})
    box.deliver(Script(failed(429, retry_after=1)))
    assert sleeps == [2.0]


def test_a_permanent_rejection_is_dead_lettered_and_delivery_goes_on(outbox, sleeps, caplog):
    box = outbox()
    before = _outbox.outbox_counters()
    box.enqueue("k1", {"n": 1})
    box.enqueue("k2", {"n": 2})
    box.enqueue("k3", {"n": 3})
    sender = Script(None, rejected(413, data="too big SECRET"))
    started = time.time()
    with caplog.at_level(logging.INFO, logger="units"):
        assert box.deliver(sender) == 2
    assert [key for _, key in sender.posts] == ["k1", "k2", "k3"] and sleeps == []
    assert box.pending() == []
    (letter,) = box.dead_letters()
    assert letter["key"] == "k2" and letter["status"] == 413 and letter["msg"] == {"n": 2}
    assert letter["reason"] == "The orchestrator rejected the trigger event (HTTP 413). too big ********"
    assert letter["attempts"] == 1 and started <= letter["at"] <= time.time() and letter["created"] <= letter["at"]
    assert box.db.execute("SELECT COUNT(*) FROM events WHERE key = 'k2'").fetchone() == (0,)
    after = _outbox.outbox_counters()
    assert (after["dead_lettered"] - before["dead_lettered"], after["sent"] - before["sent"]) == (1, 2)
    lines = [r for r in caplog.records if "k2" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.ERROR
    assert lines[0].getMessage() == (
        "Trigger event k2 was rejected for good by the orchestrator (The orchestrator rejected the trigger event "
        "(HTTP 413). too big ********); it is kept as a dead letter and delivery goes on with the next event. "
        "List dead letters with 'dead-letters list', send them again with 'dead-letters redrive'."
    )


def test_a_re_emitted_dead_letter_is_dropped(outbox, sleeps):
    box = outbox()
    box.send(Script(rejected()), "k1", {"n": 1})
    before = _outbox.outbox_counters()["dropped_duplicate"]
    assert box.enqueue("k1", {"n": 1}) is False
    assert _outbox.outbox_counters()["dropped_duplicate"] - before == 1
    assert box.pending() == []


def test_enqueue_knows_queued_and_delivered_keys(outbox, sleeps):
    box = outbox()
    assert box.enqueue("k1", {"n": 1}) is True
    before = _outbox.outbox_counters()
    assert box.enqueue("k1", {"n": 1}) is False  # still queued: not counted as a drop
    assert _outbox.outbox_counters()["dropped_duplicate"] == before["dropped_duplicate"]
    box.deliver(Script())
    assert box.enqueue("k1", {"n": 1}) is False
    assert _outbox.outbox_counters()["dropped_duplicate"] - before["dropped_duplicate"] == 1
    assert _outbox.outbox_counters()["queued"] == before["queued"]


def test_the_outbox_is_bounded(outbox):
    box = outbox(max=2)
    box.enqueue("k1", {})
    box.enqueue("k2", {})
    with pytest.raises(PluginException, match="outbox is full") as full:
        box.enqueue("k3", {})
    assert full.value.cause == "The trigger's outbox is full (2 undelivered events)."
    assert full.value.assistance == "Check that the orchestrator accepts events, or raise ICON_RUNTIME_OUTBOX_MAX."
    assert full.value.data == box.path
    box.deliver(Script())
    assert box.enqueue("k3", {}) is True


def test_dead_letters_are_bounded_oldest_forgotten_first(outbox, sleeps, caplog):
    box = outbox(dead_max=2)
    for n in range(4):
        box.send(Script(rejected()), f"k{n}", {"n": n})
    assert [letter["key"] for letter in box.dead_letters()] == ["k2", "k3"]
    assert sum("dead letters of trigger trig are full" in r.getMessage() for r in caplog.records) == 2


def test_redrive_queues_dead_letters_behind_the_pending_ones_with_their_keys(outbox, sleeps):
    box = outbox()
    box.send(Script(rejected()), "k1", {"n": 1})
    box.send(Script(rejected()), "k2", {"n": 2})
    box.enqueue("k3", {"n": 3})
    before = _outbox.outbox_counters()["redriven"]
    assert box.redrive(["k2", "nope"]) == 1
    assert [letter["key"] for letter in box.dead_letters()] == ["k1"]
    assert [key for _, key, _ in box.pending()] == ["k3", "k2"]
    assert box.redrive() == 1 and box.redrive() == 0
    assert _outbox.outbox_counters()["redriven"] - before == 2
    sender = Script()
    assert box.deliver(sender) == 3
    assert [(msg["n"], key) for msg, key in sender.posts] == [(3, "k3"), (2, "k2"), (1, "k1")]


def test_redrive_replaces_a_stale_row_of_the_same_key(outbox, sleeps):
    """A dead letter whose key still has an events row (left by a file of an older layout or edited by
    hand) is queued again in place of that row, not refused by the unique key."""
    box = outbox()
    box.send(Script(rejected()), "k1", {"n": 1})
    box.db.execute("INSERT INTO events (key, msg, acked, created) VALUES ('k1', NULL, 1, 0)")
    assert box.redrive() == 1
    assert box.db.execute("SELECT key, acked FROM events").fetchall() == [("k1", 0)]
    sender = Script()
    assert box.deliver(sender) == 1
    assert sender.posts == [({"n": 1}, "k1")]


def test_send_enqueues_then_delivers_everything_earlier(outbox, sleeps):
    box = outbox(retries=0)
    with pytest.raises(DispatchError):
        box.send(Script(failed()), "k1", {"n": 1})
    sender = Script()
    box.send(sender, "k2", {"n": 2})
    assert [key for _, key in sender.posts] == ["k1", "k2"]


def test_generations(outbox):
    box = outbox()
    assert box.key_for({"a": 1}).startswith("trig:g0:")  # before any resume
    assert box.resume("h1") == 1
    assert box.resume("h1") == 1  # the same checkpoint again: the same generation
    assert box.emissions.label == "trig:g1"
    token = box.begin_checkpoint("h2")
    assert token[1] == 2 and box.emissions.label == "trig:g2"
    box.key_for("x")
    box.cancel_checkpoint(token)
    assert box.emissions is token[0] and box.emissions.label == "trig:g1"
    assert box.db.execute("SELECT number, state_hash FROM generations").fetchall() == [(1, "h1")]
    box.begin_checkpoint("h2")
    box.begin_checkpoint("h1")  # a state that comes back is still a new generation
    assert box.resume("h1") == 3 and box.resume("h2") == 2 and box.resume("h9") == 4


def test_key_for_counts_within_the_generation(outbox):
    box = outbox()
    box.resume("h")
    digest = _outbox.content_hash({"v": 1})
    assert [box.key_for({"v": 1}) for _ in range(2)] == [f"trig:g1:{digest}:1", f"trig:g1:{digest}:2"]
    box.begin_checkpoint("h2")
    assert box.key_for({"v": 1}) == f"trig:g2:{digest}:1"


def test_reason_is_one_short_line():
    assert _outbox._reason(DispatchError(cause="A\n b", data="x\ny " + "z" * 300)) == "A b x y " + "z" * 196
    assert _outbox._reason(OSError("refused")) == "refused"
    assert _outbox._reason(DispatchError(cause="only")) == "only"


def test_counters_are_copies():
    copy = _outbox.outbox_counters()
    copy["sent"] = -1
    assert _outbox.outbox_counters()["sent"] != -1
    assert set(copy) == {"queued", "sent", "retried", "dropped_duplicate", "dead_lettered", "redriven"}


def test_counters_start_at_zero_in_a_new_process():
    import subprocess
    import sys

    code = "from insightconnect_plugin_runtime import _outbox; print(sorted(_outbox.outbox_counters().items()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    names = ["dead_lettered", "dropped_duplicate", "queued", "redriven", "retried", "sent"]
    assert out.strip() == repr([(name, 0) for name in names])


def test_stats_read_the_files_and_skip_what_they_cannot_read(outbox, tmp_path, sleeps, caplog):
    box = outbox()
    box.send(Script(rejected()), "k1", {})
    box.send(Script(), "k2", {})
    box.enqueue("k3", {})
    box.close()
    cache = tmp_path / "cache"
    (cache / "broken.outbox.sqlite").write_text("not a database")
    (cache / "unrelated.sqlite").write_text("")
    stats = _outbox.outbox_stats(str(cache))
    assert [s["trigger_id"] for s in stats] == ["trig"]
    assert {k: stats[0][k] for k in ("pending", "dead_letters", "queued", "sent", "dead_lettered")} == {
        "pending": 1, "dead_letters": 1, "queued": 3, "sent": 1, "dead_lettered": 1
    }  # fmt: skip
    assert any("broken.outbox.sqlite" in r.getMessage() for r in caplog.records)
    (warning,) = [r for r in caplog.records if "broken.outbox.sqlite" in r.getMessage()]
    assert warning.name == "insightconnect_plugin_runtime._outbox"


def test_an_outbox_without_a_logger_logs_as_the_outbox(tmp_path, caplog):
    """Operators filter on the outbox's logger name; it did not change when the module was split."""
    box = _outbox.Outbox(str(tmp_path / "t.outbox.sqlite"))
    try:
        assert box.logger.name == "insightconnect_plugin_runtime._outbox"
        with caplog.at_level(logging.INFO, logger="insightconnect_plugin_runtime._outbox"):
            box.enqueue("k", {})
            box.enqueue("k", {})
        assert [r.name for r in caplog.records] == ["insightconnect_plugin_runtime._outbox"]
    finally:
        box.close()


def test_a_counter_not_seen_before_starts_at_zero(monkeypatch):
    from insightconnect_plugin_runtime import _outbox_store

    monkeypatch.setattr(_outbox_store, "OUTBOX_COUNTERS", dict(_outbox_store.OUTBOX_COUNTERS))
    _outbox_store._count("new_outcome")
    _outbox_store._count("new_outcome", 2)
    assert _outbox_store.outbox_counters()["new_outcome"] == 3


def test_stats_of_an_outbox_from_before_dead_letters(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "old.outbox.sqlite")
    db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, key TEXT, msg TEXT, acked INTEGER)")
    db.execute("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)")
    db.execute("INSERT INTO events (key, acked) VALUES ('a', 0)")
    db.execute("INSERT INTO counters VALUES ('sent', 4)")
    db.commit()
    db.close()
    (stats,) = _outbox.outbox_stats(str(tmp_path))
    assert (stats["pending"], stats["dead_letters"], stats["sent"], stats["redriven"]) == (1, 0, 4, 0)


def test_acknowledged_keys_are_pruned_in_batches_oldest_first(outbox, sleeps):
    box = outbox(seen=20)  # prune every 2 acks, keep 20
    assert (box.prune_every, box._acks_since_prune) == (2, 1)
    for n in range(25):
        box.send(Script(), f"k{n}", {})
    kept = [key for (key,) in box.db.execute("SELECT key FROM events ORDER BY id")]
    assert kept == [f"k{n}" for n in range(5, 25)]  # pruned at acks 1, 3, ..., 25: the last 20 kept
    box.send(Script(), "k25", {})  # the 26th ack does not prune
    kept = [key for (key,) in box.db.execute("SELECT key FROM events ORDER BY id")]
    assert kept == [f"k{n}" for n in range(5, 26)]
    assert box.enqueue("k5", {}) is False and box.enqueue("k4", {}) is True


def test_the_last_64_generations_are_kept(outbox):
    box = outbox()
    for n in range(70):
        box.begin_checkpoint(f"h{n}")
    numbers = [number for (number,) in box.db.execute("SELECT number FROM generations ORDER BY number")]
    assert numbers == list(range(7, 71))
    assert box.resume("h6") == 7 and box.resume("h5") == 71  # h5 (generation 6) was forgotten


def test_the_database_is_durable_and_leaks_no_descriptor(tmp_path):
    before = len(os.listdir("/proc/self/fd"))
    box = _outbox.Outbox(str(tmp_path / "d.outbox.sqlite"))
    assert box.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert box.db.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
    box.close()
    assert len(os.listdir("/proc/self/fd")) == before


class Killed(BaseException):
    """Stands in for the SIGKILL of the test hook."""


@pytest.mark.parametrize(
    ("point", "answer", "posted", "rows", "dead"),
    [
        ("before_enqueue", None, 0, [], 0),
        ("after_enqueue", None, 0, [(0,)], 0),
        ("after_post", None, 1, [(0,)], 0),
        ("after_reject", "reject", 1, [(0,)], 0),
        ("after_ack", None, 1, [(1,)], 0),
        ("after_ack", "reject", 1, [], 1),
    ],
)
def test_each_kill_point_is_where_the_cycle_says(
    outbox, sleeps, monkeypatch, caplog, point, answer, posted, rows, dead
):
    monkeypatch.setattr(_outbox, "_KILL_SEEN", {})
    monkeypatch.setenv("ICON_RUNTIME_TEST_KILL_AT", f"{point}:1")
    box = outbox()
    sender = Script(rejected() if answer else None)
    with (
        mock.patch("os.kill", side_effect=Killed),
        pytest.raises(Killed),
        caplog.at_level(logging.WARNING, logger="insightconnect_plugin_runtime._outbox"),
    ):
        box.send(sender, "k1", {"n": 1})
    assert f"Test hook: killing the trigger at {point} #1." in [r.getMessage() for r in caplog.records]
    assert len(sender.posts) == posted
    assert box.db.execute("SELECT acked FROM events").fetchall() == rows
    assert len(box.dead_letters()) == dead


def test_threads_the_plugin_starts_can_send(outbox, sleeps):
    import threading

    box = outbox()
    sender = Script()
    errors = []

    def emit(n):
        try:
            box.send(sender, f"k{n}", {"n": n})
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    workers = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == [] and sorted(key for _, key in sender.posts) == sorted(f"k{n}" for n in range(8))


def test_log_lines_for_known_keys_and_replays(outbox, sleeps, caplog):
    box = outbox()
    box.send(Script(rejected()), "k2", {})
    with caplog.at_level(logging.INFO, logger="units"):
        box.enqueue("k1", {})
        box.enqueue("k1", {})
        box.enqueue("k2", {})
        box.enqueue("k3", {})
        box.replay(Script())
    messages = [r.getMessage() for r in caplog.records if r.name == "units" and r.levelno == logging.INFO]
    assert messages == [
        "Trigger event k1 is already queued: delivering the queued copy.",
        "Trigger event k2 is already a dead letter: dropping the re-emitted copy.",
        "Resending 2 trigger event(s) left undelivered by a previous run.",
    ]


def test_a_failure_inside_a_transaction_rolls_it_back(outbox, sleeps):
    box = outbox()
    real_bump = box._bump
    failing = {"queued", "sent", "redriven"}

    def bump(name):
        if name in failing:
            failing.discard(name)
            raise OSError("disk gone")
        real_bump(name)

    box._bump = bump
    with pytest.raises(OSError):
        box.enqueue("k1", {})
    assert box.pending() == []  # the insert was rolled back
    assert box.enqueue("k1", {}) is True
    with pytest.raises(OSError):
        box.deliver(Script())
    assert box.db.execute("SELECT acked FROM events").fetchall() == [(0,)]  # rolled back
    assert box.deliver(Script()) == 1  # and the connection is usable again
    box.send(Script(rejected()), "k2", {})
    with pytest.raises(OSError):
        box.redrive()
    assert [letter["key"] for letter in box.dead_letters()] == ["k2"] and box.pending() == []
    assert box.redrive() == 1 and [key for _, key, _ in box.pending()] == ["k2"]


def test_a_bare_file_name_lives_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    box = _outbox.Outbox("bare.outbox.sqlite")
    box.close()
    assert (tmp_path / "bare.outbox.sqlite").is_file()


def test_pruning_runs_at_most_every_1000_acks(outbox):
    assert outbox(seen=20000).prune_every == 1000


def test_every_name_the_outbox_exports_is_the_one_its_parts_define():
    """``_outbox`` re-exports the keys and the store; callers (trigger, outbox, tests) use it alone."""
    from insightconnect_plugin_runtime import _outbox_keys, _outbox_store

    assert len(_outbox.__all__) == len(set(_outbox.__all__)) == 18
    for name in _outbox.__all__:
        value = getattr(_outbox, name)
        for part in (_outbox_keys, _outbox_store):
            if hasattr(part, name):
                assert getattr(part, name) is value, name
    assert issubclass(_outbox.Outbox, _outbox_store.OutboxStore)
    assert _outbox.SUFFIX == ".outbox.sqlite" and _outbox.FILE_MODE == 0o600
    assert _outbox.COMPANION_SUFFIXES == ("", "-wal", "-shm", "-journal") and _outbox.KEPT_GENERATIONS == 64
    assert (_outbox.BACKOFF_CAP_SECONDS, _outbox.RETRY_AFTER_CAP_SECONDS) == (30.0, 300.0)
