"""Public view of the stateful triggers' outboxes: delivery figures, dead letters to list and re-drive.

The outbox itself is private (``_outbox``); sibling distributions and operators use this module:
the HTTP server's ``/metrics`` reads :func:`stats`, and ``bin/<plugin> dead-letters list|redrive``
(:func:`add_command` / :func:`run_command`) lists the events the orchestrator rejected for good and
queues them again. A re-driven event keeps its key and is posted behind the pending events by the
trigger's next ``send`` or its next start.

The same can be done by hand with ``sqlite3 CACHE_DIR/<triggerId>.outbox.sqlite``:
``SELECT key, status, reason, datetime(at, 'unixepoch') FROM dead_letters ORDER BY at``.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from ._outbox import OUTBOX_COUNTERS, SUFFIX, outbox_counters, outbox_stats

__all__ = ["OUTCOMES", "add_command", "dead_letters", "outbox_counters", "redrive", "run_command", "stats"]

#: Outcomes counted per trigger (the ``outcome`` label of ``icon_trigger_outbox_events_total``).
OUTCOMES: tuple[str, ...] = tuple(OUTBOX_COUNTERS)


def _cache_dir(cache_dir: str | None) -> str:
    from .trigger import cache_dir as current

    return cache_dir or current()


def stats(cache_dir: str | None = None) -> list[dict[str, Any]]:
    """One dict per trigger outbox in ``cache_dir`` (default: the trigger cache directory).

    Keys: ``trigger_id``, ``pending``, ``dead_letters`` and one count per :data:`OUTCOMES`.
    """
    directory = _cache_dir(cache_dir)
    return outbox_stats(directory) if os.path.isdir(directory) else []


def _outboxes(trigger_id: str | None, cache_dir: str | None) -> list[Any]:
    """Open the existing outboxes (one trigger's, or all); never creates one."""
    from ._outbox import Outbox
    from .paths import safeguard_and_return_file_path

    directory = _cache_dir(cache_dir)
    if trigger_id is not None:
        path = safeguard_and_return_file_path(directory, trigger_id + SUFFIX)
        return [Outbox(path)] if os.path.isfile(path) else []
    return [Outbox(str(path)) for path in sorted(_glob(directory))]


def _glob(directory: str) -> list[Any]:
    from pathlib import Path

    return list(Path(directory).glob("*" + SUFFIX)) if os.path.isdir(directory) else []


def dead_letters(trigger_id: str | None = None, cache_dir: str | None = None) -> list[dict[str, Any]]:
    """Dead letters, oldest first per trigger: trigger_id, key, status, reason, attempts, created, at, msg."""
    found = []
    for outbox in _outboxes(trigger_id, cache_dir):
        try:
            found += [{"trigger_id": outbox.trigger_id, **letter} for letter in outbox.dead_letters()]
        finally:
            outbox.close()
    return found


def redrive(trigger_id: str | None = None, keys: list[str] | None = None, cache_dir: str | None = None) -> int:
    """Queue dead letters again (one trigger's or all; all keys or ``keys``); returns how many."""
    total = 0
    for outbox in _outboxes(trigger_id, cache_dir):
        try:
            total += outbox.redrive(keys)
        finally:
            outbox.close()
    return total


# --- bin/<plugin> dead-letters ------------------------------------------------------------------------


def add_command(commands: Any) -> None:
    """Add ``dead-letters list|redrive`` to the CLI's sub-command parsers."""
    parser = commands.add_parser("dead-letters", help="list or re-drive trigger events the orchestrator rejected")
    parser.add_argument("action", choices=("list", "redrive"))
    parser.add_argument("--trigger-id", dest="trigger_id", help="only this trigger's outbox")
    parser.add_argument("--key", dest="keys", action="append", help="only this event key (repeatable)")
    parser.add_argument("--cache-dir", dest="cache_dir", help="the trigger cache directory (default: CACHE_DIR)")


def run_command(args: Any, stdout: TextIO) -> int:
    """``list`` prints one JSON line per dead letter; ``redrive`` prints ``{"redriven": n}``."""
    if args.action == "list":
        for letter in dead_letters(args.trigger_id, args.cache_dir):
            if args.keys and letter["key"] not in args.keys:
                continue
            msg = letter.pop("msg")
            body = msg.get("body") if isinstance(msg, dict) else None
            letter["output"] = body.get("output") if isinstance(body, dict) else None
            stdout.write(json.dumps(letter, sort_keys=True) + "\n")
        return 0
    stdout.write(json.dumps({"redriven": redrive(args.trigger_id, args.keys, args.cache_dir)}) + "\n")
    return 0
