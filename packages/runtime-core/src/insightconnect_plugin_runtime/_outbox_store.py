"""The outbox file of one stateful trigger: its tables, generations, queue and counters.

One SQLite database per trigger, ``CACHE_DIR/<triggerId>.outbox.sqlite`` (mode 0600, like its WAL
and shared-memory files: it holds event payloads), in WAL mode with ``synchronous=FULL`` so that a
committed row survives a crash. :class:`OutboxStore` holds what is stored and how it changes;
delivery and dead letters are in ``_outbox``.

Acknowledged keys are kept (the last ``ICON_RUNTIME_OUTBOX_SEEN``, default 10000, oldest pruned
first, in batches) so that a re-emitted event is dropped locally and logged.
``ICON_RUNTIME_OUTBOX_MAX`` pending events are allowed (default 10000; beyond it ``enqueue`` raises a
``PluginException``).

``OUTBOX_COUNTERS`` (queued, sent, retried, dropped_duplicate, dead_lettered, redriven) are
process-wide and thread-safe to read through :func:`outbox_counters`; each outbox file keeps its own.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import settings
from ._outbox_keys import Emissions

OUTBOX_COUNTERS: dict[str, int] = {
    "queued": 0,
    "sent": 0,
    "retried": 0,
    "dropped_duplicate": 0,
    "dead_lettered": 0,
    "redriven": 0,
}
_COUNTERS_LOCK = threading.Lock()
KEPT_GENERATIONS = 64
SUFFIX = ".outbox.sqlite"
#: Files SQLite keeps beside the database; all hold events and are made private like it.
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal")
FILE_MODE = 0o600

#: The outboxes' logger, named after ``_outbox`` whose log lines these are.
log = logging.getLogger("insightconnect_plugin_runtime._outbox")


def _count(name: str, amount: int = 1) -> None:
    with _COUNTERS_LOCK:
        OUTBOX_COUNTERS[name] = OUTBOX_COUNTERS.get(name, 0) + amount


def outbox_counters() -> dict[str, int]:
    """A consistent copy of :data:`OUTBOX_COUNTERS`."""
    with _COUNTERS_LOCK:
        return dict(OUTBOX_COUNTERS)


def _make_private(path: str) -> None:
    """Create ``path`` (and tighten it and its SQLite companions if they exist) as owner-only."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    for suffix in COMPANION_SUFFIXES:
        try:
            os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass


class OutboxStore:
    """One trigger's outbox file (storage only); every method is safe to call from several threads."""

    def __init__(
        self,
        path: str,
        logger: Any = None,
        trigger_id: str | None = None,
        mask: Callable[[str], str] | None = None,
    ) -> None:
        import sqlite3

        self.path = path
        self.logger = logger or log
        self.mask = mask or (lambda text: text)
        self.trigger_id = trigger_id or os.path.basename(path).removesuffix(SUFFIX)
        self.lock = threading.RLock()
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        # SQLite gives the WAL and shared-memory files it creates the mode of the database file;
        # companions an older version left behind are tightened here.
        _make_private(path)
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, msg TEXT,"
            " acked INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
            " created REAL NOT NULL, acked_at REAL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters ("
            " key TEXT PRIMARY KEY, msg TEXT NOT NULL, status INTEGER, reason TEXT NOT NULL,"
            " attempts INTEGER NOT NULL, created REAL NOT NULL, at REAL NOT NULL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS generations (number INTEGER PRIMARY KEY, state_hash TEXT NOT NULL, at REAL)"
        )
        # Counters live in the file too, so the HTTP server's /metrics can report triggers that run
        # in other processes of the container (see ``outbox_stats``).
        self.db.execute("CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)")
        self.emissions: Emissions | None = None
        self._configure()

    def _configure(self) -> None:
        """Read the settings from the environment; the delivering subclass adds its own."""
        self.max_pending = int(settings.number("ICON_RUNTIME_OUTBOX_MAX", 10000, integer=True))
        self.keep_acked = int(settings.number("ICON_RUNTIME_OUTBOX_SEEN", 10000, integer=True))
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

    def _transaction(self, *statements: tuple[str, tuple[Any, ...]], bump: str | None = None) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                self.db.execute(sql, args)
            if bump:
                self._bump(bump)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    # --- generations ------------------------------------------------------------------------------

    def _enter(self, number: int) -> int:
        self.emissions = Emissions(f"{self.trigger_id}:g{number}")
        return number

    def resume(self, state_hash: str) -> int:
        """Enter the generation of the checkpoint the trigger loaded (hash of its text)."""
        with self.lock:
            row = self.db.execute("SELECT MAX(number) FROM generations WHERE state_hash = ?", (state_hash,)).fetchone()
            if row[0] is not None:
                return self._enter(row[0])
            return self._enter(self._record_generation(state_hash))

    def _record_generation(self, state_hash: str) -> int:
        (last,) = self.db.execute("SELECT COALESCE(MAX(number), 0) FROM generations").fetchone()
        number = last + 1
        self._transaction(
            ("INSERT INTO generations (number, state_hash, at) VALUES (?, ?, ?)", (number, state_hash, time.time())),
            ("DELETE FROM generations WHERE number <= ?", (number - KEPT_GENERATIONS,)),
        )
        return number

    def begin_checkpoint(self, state_hash: str) -> tuple[Emissions | None, int]:
        """Record a new generation before the checkpoint file is replaced (the commit point)."""
        with self.lock:
            previous = self.emissions
            return previous, self._enter(self._record_generation(state_hash))

    def cancel_checkpoint(self, token: tuple[Emissions | None, int]) -> None:
        """The checkpoint file could not be written: forget its generation, continue the previous one."""
        previous, number = token
        with self.lock:
            self._transaction(("DELETE FROM generations WHERE number = ?", (number,)))
            self.emissions = previous

    def key_for(self, output: Any) -> str:
        """The emission key of ``output`` in the current generation (generation 0 before any resume)."""
        with self.lock:
            if self.emissions is None:
                self._enter(0)
            assert self.emissions is not None
            return self.emissions.key_for(output)

    # --- queue ------------------------------------------------------------------------------------

    def pending(self) -> list[tuple[int, str, str]]:
        with self.lock:
            return self.db.execute("SELECT id, key, msg FROM events WHERE acked = 0 ORDER BY id").fetchall()

    def enqueue(self, key: str, msg: Any) -> bool:
        """Store ``msg`` under ``key``; False when the key is already known (queued, acknowledged, dead)."""
        from .exceptions import PluginException

        with self.lock:
            row = self.db.execute("SELECT acked FROM events WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row[0]:
                    self._bump("dropped_duplicate")
                    self.logger.info(f"Trigger event {key} was already delivered: dropping the re-emitted copy.")
                else:
                    self.logger.info(f"Trigger event {key} is already queued: delivering the queued copy.")
                return False
            if self.db.execute("SELECT 1 FROM dead_letters WHERE key = ?", (key,)).fetchone() is not None:
                self._bump("dropped_duplicate")
                self.logger.info(f"Trigger event {key} is already a dead letter: dropping the re-emitted copy.")
                return False
            (waiting,) = self.db.execute("SELECT COUNT(*) FROM events WHERE acked = 0").fetchone()
            if waiting >= self.max_pending:
                raise PluginException(
                    cause=f"The trigger's outbox is full ({waiting} undelivered events).",
                    assistance="Check that the orchestrator accepts events, or raise ICON_RUNTIME_OUTBOX_MAX.",
                    data=self.path,
                )
            self._transaction(
                ("INSERT INTO events (key, msg, created) VALUES (?, ?, ?)", (key, json.dumps(msg), time.time())),
                bump="queued",
            )
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


def outbox_stats(cache_dir: str) -> list[dict[str, Any]]:
    """Per-trigger outbox figures read from the files in ``cache_dir`` (read-only, never blocking long).

    Returns one dict per outbox: ``trigger_id``, ``pending`` (events not yet answered for good),
    ``dead_letters`` (events parked now) and the persisted counters of :data:`OUTBOX_COUNTERS`.
    """
    import sqlite3
    from pathlib import Path

    stats = []
    for path in sorted(Path(cache_dir).glob("*" + SUFFIX)):
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1)
            try:
                (pending,) = db.execute("SELECT COUNT(*) FROM events WHERE acked = 0").fetchone()
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                dead = db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0] if "dead_letters" in tables else 0
                counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            finally:
                db.close()
        except sqlite3.Error as error:
            log.warning("Cannot read trigger outbox %s: %s", path, error)
            continue
        figures = {name: int(counters.get(name, 0)) for name in OUTBOX_COUNTERS}
        stats.append(
            {
                "trigger_id": path.name.removesuffix(SUFFIX),
                "pending": int(pending),
                "dead_letters": int(dead),
                **figures,
            }
        )
    return stats
