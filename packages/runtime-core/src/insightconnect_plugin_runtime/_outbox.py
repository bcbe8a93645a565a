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

The key of an event (its *emission identity*) is built in ``_outbox_keys``, which explains why
content alone cannot identify an emission; the file, its generations and its queue are in
``_outbox_store``. This module delivers: posting, retries, dead letters and the test kill points.

Acknowledged keys are kept (the last ``ICON_RUNTIME_OUTBOX_SEEN``, default 10000; see
``_outbox_store``) so that a re-emitted event is dropped locally and logged. Dead letters are kept
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

import json
import logging
import os
import time
from typing import Any

from . import settings
from ._outbox_keys import Emissions, content_hash, run_emissions, supplied_key, text_hash
from ._outbox_store import (
    COMPANION_SUFFIXES,
    FILE_MODE,
    KEPT_GENERATIONS,
    OUTBOX_COUNTERS,
    SUFFIX,
    OutboxStore,
    outbox_counters,
    outbox_stats,
)

__all__ = [
    "BACKOFF_CAP_SECONDS",
    "COMPANION_SUFFIXES",
    "FILE_MODE",
    "KEPT_GENERATIONS",
    "OUTBOX_COUNTERS",
    "RETRY_AFTER_CAP_SECONDS",
    "SUFFIX",
    "Emissions",
    "Outbox",
    "OutboxStore",
    "content_hash",
    "enabled",
    "kill_point",
    "outbox_counters",
    "outbox_stats",
    "run_emissions",
    "supplied_key",
    "text_hash",
]

_KILL_SEEN: dict[str, int] = {}
BACKOFF_CAP_SECONDS = 30.0
RETRY_AFTER_CAP_SECONDS = 300.0


def enabled() -> bool:
    """False when ``ICON_RUNTIME_OUTBOX`` switches the outbox off (events are then posted directly)."""
    return settings.flag("ICON_RUNTIME_OUTBOX", True)


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


class Outbox(OutboxStore):
    """One trigger's outbox: the stored queue (:class:`OutboxStore`) and its delivery; thread-safe."""

    def _configure(self) -> None:
        super()._configure()
        self.retries = int(settings.number("ICON_RUNTIME_OUTBOX_RETRIES", 5, integer=True))
        self.backoff = min(float(settings.number("ICON_RUNTIME_OUTBOX_BACKOFF", 0.5)), BACKOFF_CAP_SECONDS)
        self.keep_dead = int(settings.number("ICON_RUNTIME_OUTBOX_DEAD_MAX", 10000, integer=True))

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
