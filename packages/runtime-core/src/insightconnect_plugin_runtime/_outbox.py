"""Durable outbox for stateful triggers: effectively-once delivery of trigger events.

``Trigger.send`` of a stateful trigger (one with a trigger id) posting over HTTP goes through an
:class:`Outbox` kept next to the checkpoint, in ``CACHE_DIR/<triggerId>.outbox.sqlite``:

1. the masked event message is stored with a deterministic idempotency key (the trigger id plus the
   key the plugin passed to ``send(event, idempotency_key=...)``, else the SHA-256 of the canonical
   JSON of the event output) and committed with ``synchronous=FULL`` before anything is posted;
2. every unacknowledged event, oldest first, is posted with its key in the ``Idempotency-Key`` header,
   with bounded retries and exponential backoff; a 2xx answer marks the row acknowledged;
3. ``send`` returns only once its event and every earlier one are acknowledged, and raises
   :class:`~insightconnect_plugin_runtime.dispatcher.DispatchError` otherwise, so the checkpoint the
   plugin saves after ``send`` never passes an event that the orchestrator has not acknowledged.

When the trigger starts again, the events a previous run left unacknowledged are posted first, in
order, with their original keys. Acknowledged keys are kept (the last ``ICON_RUNTIME_OUTBOX_SEEN``,
default 10000, oldest pruned first, in batches), so an event the plugin emits again after a restart (because it
crashed between the acknowledgement and its checkpoint) is dropped as a duplicate and logged. Two
events with the same output are therefore the same event unless the plugin passes its own key.

Settings (environment): ``ICON_RUNTIME_OUTBOX=off`` bypasses the outbox (events are posted directly,
still with the key header); ``ICON_RUNTIME_OUTBOX_RETRIES`` (default 5) retries after the first
attempt; ``ICON_RUNTIME_OUTBOX_BACKOFF`` first delay in seconds (default 0.5, doubled per retry,
at most 30 s); ``ICON_RUNTIME_OUTBOX_MAX`` unacknowledged events allowed (default 10000; beyond it
``send`` raises a ``PluginException``).

Test hook: ``ICON_RUNTIME_TEST_KILL_AT=<point>:<n>`` makes the process SIGKILL itself the n-th time
(1-based, counted per process) it reaches ``<point>``: ``before_enqueue``, ``after_enqueue`` (row
committed, nothing posted), ``after_post`` (the orchestrator answered 2xx, the row is not yet marked;
replayed posts count too) or ``after_ack`` (``send`` is about to return, before the plugin's
checkpoint). It exists for the crash/restart tests and must never be set in production.

``OUTBOX_COUNTERS`` (queued, sent, retried, dropped_duplicate) are process-wide and thread-safe to
read through :func:`outbox_counters`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

OUTBOX_COUNTERS: dict[str, int] = {"queued": 0, "sent": 0, "retried": 0, "dropped_duplicate": 0}
_COUNTERS_LOCK = threading.Lock()
_KILL_SEEN: dict[str, int] = {}
BACKOFF_CAP_SECONDS = 30.0

log = logging.getLogger(__name__)


def _count(name: str, amount: int = 1) -> None:
    with _COUNTERS_LOCK:
        OUTBOX_COUNTERS[name] = OUTBOX_COUNTERS.get(name, 0) + amount


def outbox_counters() -> dict[str, int]:
    """A consistent copy of :data:`OUTBOX_COUNTERS`."""
    with _COUNTERS_LOCK:
        return dict(OUTBOX_COUNTERS)


def enabled() -> bool:
    return os.environ.get("ICON_RUNTIME_OUTBOX", "on").strip().lower() not in ("off", "0", "false", "no")


def _env_number(name: str, default: float, kind: type = float) -> Any:
    try:
        value = kind(os.environ.get(name, default))
    except ValueError:
        return kind(default)
    return value if value >= 0 else kind(default)


def kill_point(point: str) -> None:
    """Test hook: SIGKILL this process at ``point`` as ``ICON_RUNTIME_TEST_KILL_AT`` asks."""
    spec = os.environ.get("ICON_RUNTIME_TEST_KILL_AT")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    seen = _KILL_SEEN[point] = _KILL_SEEN.get(point, 0) + 1
    if seen == int(nth or 1):
        import signal

        logging.getLogger(__name__).warning(f"Test hook: killing the trigger at {point} #{seen}.")
        os.kill(os.getpid(), signal.SIGKILL)


def event_key(output: Any, supplied: str | None = None, trigger_id: str | None = None) -> str:
    """The idempotency key of an event: the plugin's own key, else a hash of the output."""
    import hashlib

    if supplied is None:
        canonical = json.dumps(output, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
        supplied = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    else:
        supplied = str(supplied)
        if len(supplied) > 200 or not (supplied.isascii() and supplied.isprintable()):
            # Keep the header valid whatever the plugin passed: hash keys HTTP cannot carry as is.
            supplied = "sha256:" + hashlib.sha256(supplied.encode()).hexdigest()
    return f"{trigger_id}:{supplied}" if trigger_id else str(supplied)


class Outbox:
    """One trigger's outbox file; every method is safe to call from several threads."""

    def __init__(self, path: str, logger: Any = None) -> None:
        import sqlite3

        self.path = path
        self.logger = logger or log
        self.lock = threading.RLock()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, msg TEXT,"
            " acked INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
            " created REAL NOT NULL, acked_at REAL)"
        )
        # Counters live in the file too, so the HTTP server's /metrics can report triggers that run
        # in other processes of the container (see ``outbox_stats``).
        self.db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.retries = int(_env_number("ICON_RUNTIME_OUTBOX_RETRIES", 5, int))
        self.backoff = min(float(_env_number("ICON_RUNTIME_OUTBOX_BACKOFF", 0.5)), BACKOFF_CAP_SECONDS)
        self.max_pending = int(_env_number("ICON_RUNTIME_OUTBOX_MAX", 10000, int))
        self.keep_acked = int(_env_number("ICON_RUNTIME_OUTBOX_SEEN", 10000, int))
        # Pruning walks the kept keys, so it runs once per tenth of them (at most 1000 acks):
        # the outbox holds at most keep_acked + prune_every acknowledged keys.
        self.prune_every = max(1, min(1000, self.keep_acked // 10))
        self._acks_since_prune = self.prune_every - 1  # prune at the first ack of a run

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def _bump(self, name: str) -> None:
        """Count ``name`` in this process and in the file (inside the caller's transaction, if any)."""
        _count(name)
        self.db.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
            (name,),
        )

    # --- queue ------------------------------------------------------------------------------------

    def pending(self) -> list[tuple[int, str, str]]:
        with self.lock:
            return self.db.execute("SELECT id, key, msg FROM events WHERE acked = 0 ORDER BY id").fetchall()

    def enqueue(self, key: str, msg: Any) -> bool:
        """Store ``msg`` under ``key``; False when the key is already known (queued or acknowledged)."""
        from .exceptions import PluginException

        with self.lock:
            row = self.db.execute("SELECT acked FROM events WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row[0]:
                    self._bump("dropped_duplicate")
                    self.logger.info(f"Trigger event {key} was already delivered: dropping the duplicate.")
                else:
                    self.logger.info(f"Trigger event {key} is already queued: delivering the queued copy.")
                return False
            (waiting,) = self.db.execute("SELECT COUNT(*) FROM events WHERE acked = 0").fetchone()
            if waiting >= self.max_pending:
                raise PluginException(
                    cause=f"The trigger's outbox is full ({waiting} undelivered events).",
                    assistance="Check that the orchestrator accepts events, or raise ICON_RUNTIME_OUTBOX_MAX.",
                    data=self.path,
                )
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT INTO events (key, msg, created) VALUES (?, ?, ?)", (key, json.dumps(msg), time.time())
                )
                self._bump("queued")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return True

    def _mark_acked(self, row_id: int) -> None:
        """Mark the row acknowledged; every ``prune_every`` acks, forget the oldest acknowledged keys."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE events SET acked = 1, msg = NULL, acked_at = ? WHERE id = ?", (time.time(), row_id))
            self._bump("sent")
            self._acks_since_prune += 1
            if self._acks_since_prune >= self.prune_every:
                self._acks_since_prune = 0
                cutoff = self.db.execute(
                    "SELECT id FROM events WHERE acked = 1 ORDER BY id DESC LIMIT 1 OFFSET ?", (self.keep_acked,)
                ).fetchone()
                if cutoff is not None:
                    self.db.execute("DELETE FROM events WHERE acked = 1 AND id <= ?", (cutoff[0],))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # --- delivery ---------------------------------------------------------------------------------

    def deliver(self, dispatcher: Any) -> int:
        """Post every unacknowledged event in order; raise ``DispatchError`` at the first that fails."""
        delivered = 0
        with self.lock:
            for row_id, key, text in self.pending():
                self._post(dispatcher, row_id, key, json.loads(text))
                kill_point("after_post")
                self._mark_acked(row_id)
                delivered += 1
        return delivered

    def _post(self, dispatcher: Any, row_id: int, key: str, msg: Any) -> None:
        attempt = 0
        while True:
            try:
                dispatcher.write(msg, idempotency_key=key)
                return
            except Exception as error:
                self.db.execute("UPDATE events SET attempts = attempts + 1 WHERE id = ?", (row_id,))
                if attempt >= self.retries:
                    self.logger.error(
                        f"Trigger event {key} not delivered after {attempt + 1} attempt(s); it stays in the outbox "
                        "and is sent again when the trigger restarts."
                    )
                    raise
                delay = min(self.backoff * (2**attempt), BACKOFF_CAP_SECONDS)
                attempt += 1
                self._bump("retried")
                self.logger.warning(f"Trigger event {key} not delivered ({error}); retry {attempt} in {delay:.2f}s.")
                time.sleep(delay)

    def send(self, dispatcher: Any, key: str, msg: Any) -> None:
        """Enqueue ``msg`` and return once it and every earlier event are acknowledged."""
        with self.lock:
            kill_point("before_enqueue")
            self.enqueue(key, msg)
            kill_point("after_enqueue")
            self.deliver(dispatcher)
        kill_point("after_ack")

    def replay(self, dispatcher: Any) -> int:
        """Post what a previous run left unacknowledged (at trigger start)."""
        with self.lock:
            waiting = len(self.pending())
            if not waiting:
                return 0
            self.logger.info(f"Resending {waiting} trigger event(s) left undelivered by a previous run.")
            return self.deliver(dispatcher)


def outbox_stats(cache_dir: str) -> list[dict[str, Any]]:
    """Per-trigger outbox figures read from the files in ``cache_dir`` (read-only, never blocking long).

    Returns one dict per outbox: ``trigger_id``, ``pending`` (unacknowledged events) and the
    persisted counters ``queued``, ``sent``, ``retried``, ``dropped_duplicate``.
    """
    import sqlite3
    from pathlib import Path

    stats = []
    for path in sorted(Path(cache_dir).glob("*.outbox.sqlite")):
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
            try:
                (pending,) = db.execute("SELECT COUNT(*) FROM events WHERE acked = 0").fetchone()
                counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            finally:
                db.close()
        except sqlite3.Error as error:
            log.warning("Cannot read trigger outbox %s: %s", path, error)
            continue
        figures = {name: int(counters.get(name, 0)) for name in OUTBOX_COUNTERS}
        stats.append({"trigger_id": path.name.removesuffix(".outbox.sqlite"), "pending": int(pending), **figures})
    return stats
