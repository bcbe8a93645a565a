"""Durable outbox for stateful triggers: every event delivered once, none dropped, none blocking.

``Trigger.send`` of a stateful trigger (one with a trigger id) posting over HTTP goes through an
:class:`Outbox` kept next to the checkpoint, in ``CACHE_DIR/<triggerId>.outbox.sqlite`` (mode 0600,
like its WAL and shared-memory files: it holds event payloads):

1. the masked event message is stored under its emission key (below) and committed with
   ``synchronous=FULL`` before anything is posted;
2. every pending event, oldest first, is posted with its key in the ``Idempotency-Key`` header; a 2xx
   answer marks it acknowledged; a permanent rejection (a 4xx other than 408, 409, 425 and 429)
   moves it to the ``dead_letters`` table and delivery goes on with the next event; any other
   failure (5xx, 408, 409, 425, 429 with its ``Retry-After``, a redirect, a timeout, a refused
   connection) is retried with exponential backoff and finally raised as ``DispatchError``;
3. ``send`` returns only once its event and every earlier one were answered for good (acknowledged
   or dead-lettered), so the checkpoint the plugin saves after ``send`` never passes an event that
   is still in flight. A dead letter was answered: the checkpoint may pass it, and it can be listed
   and re-driven (``bin/<plugin> dead-letters list|redrive``, :mod:`insightconnect_plugin_runtime.outbox`).

Emission identity
-----------------
Deduplication must remove a *re-emission of the same emission* after a restart and never a new event
that happens to look like an earlier one (a repeated alert, a heartbeat, a counter that comes back to
a value). Content alone cannot tell the two apart; the event's position in the trigger's run can,
because a trigger resumed from a checkpoint replays what followed that checkpoint. So the key of an
event is

* ``<triggerId>:<the plugin's key>`` when the plugin passes ``send(event, idempotency_key=...)``
  (the plugin knows best: a source record id or cursor), else
* ``<triggerId>:g<generation>:<content hash>:<occurrence>``: the checkpoint generation the event was
  emitted after, the SHA-256 (128 bits) of the canonical JSON of its output, and how many times that
  same content was emitted since that checkpoint (1, 2, ...).

Every checkpoint save is a new generation, recorded in the outbox (``generations`` table, with the
hash of the checkpoint text) *before* the checkpoint file is replaced: the record is the commit
point. At start the trigger resumes the most recent generation whose hash matches the checkpoint
file (a save that died before its rename falls back to the generation before it), or opens a new
one when none matches. Occurrences count from zero again in every generation and in every run, so a
restart that resumes from checkpoint C and emits the same sequence gets the same keys (deduplicated),
while two identical events of one run, or of two generations, get different keys (both delivered).
The rule assumes what every checkpointing trigger already assumes: from a given checkpoint the
trigger emits the same sequence again. A trigger that never saves its state stays in its first
generation, so after a restart its emissions are treated as the replay they are.

Stateless triggers (no trigger id), and every trigger when ``ICON_RUNTIME_OUTBOX=off``, keep nothing
between runs; their keys are ``run-<random run id>:<content hash>:<occurrence>``, unique per run: no
event is ever dropped as a duplicate, and a retry of one post carries the same key.

Acknowledged keys are kept (the last ``ICON_RUNTIME_OUTBOX_SEEN``, default 10000, oldest pruned
first, in batches) so that a re-emitted event is dropped locally and logged. Dead letters are kept
up to ``ICON_RUNTIME_OUTBOX_DEAD_MAX`` (default 10000, the oldest is forgotten first, logged).

Settings (environment): ``ICON_RUNTIME_OUTBOX=off`` bypasses the outbox (events are posted directly,
still with a key); ``ICON_RUNTIME_OUTBOX_RETRIES`` (default 5) retries after the first attempt;
``ICON_RUNTIME_OUTBOX_BACKOFF`` first delay in seconds (default 0.5, doubled per retry, at most
30 s; a ``Retry-After`` answer waits at least what it asks, at most 300 s);
``ICON_RUNTIME_OUTBOX_MAX`` pending events allowed (default 10000; beyond it ``send`` raises a
``PluginException``).

Test hook: ``ICON_RUNTIME_TEST_KILL_AT=<point>:<n>`` makes the process SIGKILL itself the n-th time
(1-based, counted per process) it reaches ``<point>``: ``before_enqueue``, ``after_enqueue`` (row
committed, nothing posted), ``after_post`` (the orchestrator answered 2xx, the row is not yet
marked; replayed posts count too), ``after_reject`` (the orchestrator rejected the event for good,
it is not yet a dead letter), ``after_ack`` (``send`` is about to return, before the plugin's
checkpoint), ``before_checkpoint`` (new generation recorded, checkpoint file not yet replaced) and
``after_checkpoint``. It exists for the crash/restart tests and must never be set in production.

``OUTBOX_COUNTERS`` (queued, sent, retried, dropped_duplicate, dead_lettered, redriven) are
process-wide and thread-safe to read through :func:`outbox_counters`; each outbox file keeps its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

OUTBOX_COUNTERS: dict[str, int] = {
    "queued": 0,
    "sent": 0,
    "retried": 0,
    "dropped_duplicate": 0,
    "dead_lettered": 0,
    "redriven": 0,
}
_COUNTERS_LOCK = threading.Lock()
_KILL_SEEN: dict[str, int] = {}
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 300.0
KEPT_GENERATIONS = 64
SUFFIX = ".outbox.sqlite"
#: Files SQLite keeps beside the database; all hold events and are made private like it.
COMPANION_SUFFIXES = ("", "-wal", "-shm", "-journal")
FILE_MODE = 0o600

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


# --- keys ----------------------------------------------------------------------------------------------


def text_hash(text: str) -> str:
    """SHA-256 of ``text``, 128 bits in hex (identity, not security: collisions are not a concern)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def content_hash(output: Any) -> str:
    """Hash of an event output's canonical JSON (key order and spacing do not matter)."""
    canonical = json.dumps(output, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return text_hash(canonical)


def supplied_key(supplied: Any, trigger_id: str | None = None) -> str:
    """The key a plugin passed, prefixed with the trigger id; hashed when HTTP could not carry it."""
    key = str(supplied)
    if len(key) > 200 or not (key.isascii() and key.isprintable()):
        key = "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{trigger_id}:{key}" if trigger_id else key


class Emissions:
    """Counts emissions per content within one generation: ``<label>:<content hash>:<occurrence>``."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.counts: dict[str, int] = {}

    def key_for(self, output: Any) -> str:
        digest = content_hash(output)
        occurrence = self.counts[digest] = self.counts.get(digest, 0) + 1
        return f"{self.label}:{digest}:{occurrence}"


def run_emissions(trigger_id: str | None = None) -> Emissions:
    """Keys for a trigger that keeps nothing between runs: unique to this run."""
    label = f"run-{uuid.uuid4().hex}"
    return Emissions(f"{trigger_id}:{label}" if trigger_id else label)


# --- files ----------------------------------------------------------------------------------------------


def _make_private(path: str) -> None:
    """Create ``path`` (and tighten it and its SQLite companions if they exist) as owner-only."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    os.close(fd)
    for suffix in COMPANION_SUFFIXES:
        try:
            os.chmod(path + suffix, FILE_MODE)
        except FileNotFoundError:
            pass


class Outbox:
    """One trigger's outbox file; every method is safe to call from several threads."""

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
        self.retries = int(_env_number("ICON_RUNTIME_OUTBOX_RETRIES", 5, int))
        self.backoff = min(float(_env_number("ICON_RUNTIME_OUTBOX_BACKOFF", 0.5)), BACKOFF_CAP_SECONDS)
        self.max_pending = int(_env_number("ICON_RUNTIME_OUTBOX_MAX", 10000, int))
        self.keep_acked = int(_env_number("ICON_RUNTIME_OUTBOX_SEEN", 10000, int))
        self.keep_dead = int(_env_number("ICON_RUNTIME_OUTBOX_DEAD_MAX", 10000, int))
        # Pruning walks the kept keys, so it runs once per tenth of them (at most 1000 acks):
        # the outbox holds at most keep_acked + prune_every acknowledged keys.
        self.prune_every = max(1, min(1000, self.keep_acked // 10))
        self._acks_since_prune = self.prune_every - 1  # prune at the first ack of a run
        self.emissions: Emissions | None = None

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

    def _dead_letter(self, row_id: int, key: str, text: str, error: Any) -> None:
        """Park a rejected event in ``dead_letters`` (one transaction) and say so once, masked."""
        status = getattr(error, "status", None)
        reason = self.mask(_reason(error))
        attempts, created = self.db.execute("SELECT attempts, created FROM events WHERE id = ?", (row_id,)).fetchone()
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT OR REPLACE INTO dead_letters (key, msg, status, reason, attempts, created, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, text, status, reason, attempts, created, time.time()),
            ),
            ("DELETE FROM events WHERE id = ?", (row_id,)),
        ]
        (dead,) = self.db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
        overflow = dead + 1 - self.keep_dead
        if overflow > 0:
            statements.insert(
                0,
                (
                    "DELETE FROM dead_letters WHERE key IN (SELECT key FROM dead_letters ORDER BY at LIMIT ?)",
                    (overflow,),
                ),
            )
            self.logger.warning(f"The dead letters of trigger {self.trigger_id} are full: forgetting the oldest.")
        self._transaction(*statements, bump="dead_lettered")
        self.logger.error(
            f"Trigger event {key} was rejected for good by the orchestrator ({reason}); it is kept as a dead "
            "letter and delivery goes on with the next event. List dead letters with "
            "'dead-letters list', send them again with 'dead-letters redrive'."
        )

    # --- delivery ---------------------------------------------------------------------------------

    def deliver(self, dispatcher: Any) -> int:
        """Post every pending event in order; raise ``DispatchError`` at the first that stays undelivered.

        Returns how many were acknowledged; rejected events become dead letters on the way.
        """
        delivered = 0
        with self.lock:
            for row_id, key, text in self.pending():
                rejection = self._post(dispatcher, row_id, key, json.loads(text))
                if rejection is None:
                    kill_point("after_post")
                    self._mark_acked(row_id)
                    delivered += 1
                else:
                    kill_point("after_reject")
                    self._dead_letter(row_id, key, text, rejection)
        return delivered

    def _post(self, dispatcher: Any, row_id: int, key: str, msg: Any) -> Exception | None:
        """Post one event with retries; return the error of a permanent rejection, None once acknowledged."""
        attempt = 0
        while True:
            try:
                dispatcher.write(msg, idempotency_key=key)
                return None
            except Exception as error:
                self.db.execute("UPDATE events SET attempts = attempts + 1 WHERE id = ?", (row_id,))
                if getattr(error, "permanent", False):
                    return error
                if attempt >= self.retries:
                    self.logger.error(
                        f"Trigger event {key} not delivered after {attempt + 1} attempt(s); it stays in the outbox "
                        "and is sent again when the trigger restarts."
                    )
                    raise
                delay = min(self.backoff * (2**attempt), BACKOFF_CAP_SECONDS)
                asked = getattr(error, "retry_after", None)
                if asked is not None:
                    delay = max(delay, min(float(asked), RETRY_AFTER_CAP_SECONDS))
                attempt += 1
                self._bump("retried")
                self.logger.warning(
                    f"Trigger event {key} not delivered ({self.mask(str(error))}); retry {attempt} in {delay:.2f}s."
                )
                time.sleep(delay)

    def send(self, dispatcher: Any, key: str, msg: Any) -> None:
        """Enqueue ``msg`` and return once it and every earlier event were acknowledged or dead-lettered."""
        with self.lock:
            kill_point("before_enqueue")
            self.enqueue(key, msg)
            kill_point("after_enqueue")
            self.deliver(dispatcher)
        kill_point("after_ack")

    def replay(self, dispatcher: Any) -> int:
        """Post what a previous run left pending (at trigger start)."""
        with self.lock:
            waiting = len(self.pending())
            if not waiting:
                return 0
            self.logger.info(f"Resending {waiting} trigger event(s) left undelivered by a previous run.")
            return self.deliver(dispatcher)

    # --- dead letters -----------------------------------------------------------------------------

    def dead_letters(self) -> list[dict[str, Any]]:
        """Dead letters, oldest first: key, status, reason, attempts, created, at, msg."""
        with self.lock:
            rows = self.db.execute(
                "SELECT key, status, reason, attempts, created, at, msg FROM dead_letters ORDER BY at, key"
            ).fetchall()
        names = ("key", "status", "reason", "attempts", "created", "at", "msg")
        return [{**dict(zip(names[:-1], row[:-1], strict=True)), "msg": json.loads(row[-1])} for row in rows]

    def redrive(self, keys: list[str] | None = None) -> int:
        """Queue dead letters again (all, or those in ``keys``) behind the pending events, same keys."""
        with self.lock:
            chosen = [letter for letter in self.dead_letters() if keys is None or letter["key"] in keys]
            if not chosen:
                return 0
            self.db.execute("BEGIN IMMEDIATE")
            try:
                for letter in chosen:
                    self.db.execute("DELETE FROM dead_letters WHERE key = ?", (letter["key"],))
                    self.db.execute("DELETE FROM events WHERE key = ?", (letter["key"],))
                    self.db.execute(
                        "INSERT INTO events (key, msg, created) VALUES (?, ?, ?)",
                        (letter["key"], json.dumps(letter["msg"]), time.time()),
                    )
                    self._bump("redriven")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            return len(chosen)


def _reason(error: Any) -> str:
    """One line saying why the orchestrator refused an event."""
    text = " ".join(str(getattr(error, "cause", "") or error).split())
    detail = " ".join(str(getattr(error, "data", "") or "").split())
    return f"{text} {detail[:200]}".strip()


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
