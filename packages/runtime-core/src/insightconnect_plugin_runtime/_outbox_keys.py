"""Emission identity: the key under which a trigger event is stored, posted and deduplicated.

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
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any


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
