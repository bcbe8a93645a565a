"""Test kit for trigger delivery: a scripted orchestrator on 127.0.0.1 and the replay trigger's runs.

Shared by ``test_delivery.py`` and the reliability suite's delivery figures
(``reliability/check_faults.py``). The trigger is ``delivery/replay_plugin.py`` run through its CLI as
a real subprocess: it emits a list of values (repeats are identical events), checkpointing after
each. :class:`Orchestrator` answers each new event with the next scripted answer: 200, 302, 307,
400, 413, 429, 500, a dropped connection ("refuse") or a late answer ("timeout"), and deduplicates on
``Idempotency-Key`` like the real orchestrator (an event it processed is acknowledged again).
Every emitted position must end up processed under exactly one key, or in the dead letters, never
both; a redirect target is never reached.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

IDEMPOTENCY_HEADER = "Idempotency-Key"
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


# --- running the trigger --------------------------------------------------------------------------------


def start_message(url: str, values: list) -> bytes:
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


def trigger_env(cache: Path, retries: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICON_RUNTIME", "PLUGIN_RUNTIME"))}
    env.update(
        ICON_RUNTIME_CACHE_DIR=f"{cache}/",
        ICON_RUNTIME_FLAG_DIR=f"{cache.parent}/flags/",
        ICON_RUNTIME_DISPATCH_TIMEOUT=str(CLIENT_TIMEOUT),
        ICON_RUNTIME_OUTBOX_RETRIES=str(retries),
        ICON_RUNTIME_OUTBOX_BACKOFF="0.01",
    )
    return env


def checkpoint_position(cache: Path) -> int:
    path = cache / f"{TRIGGER_ID}.json"
    return json.loads(path.read_text()).get("position", 0) if path.exists() else 0


def outbox_keys(cache: Path, sql: str) -> set[str]:
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
    env = trigger_env(cache, retries)
    if kill:
        env["ICON_RUNTIME_TEST_KILL_AT"] = kill
    proc = subprocess.run(
        [sys.executable, str(PLUGIN), "run"],
        input=start_message(server.url, values),
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
    assert set(range(checkpoint_position(cache))) <= answered, (checkpoint_position(cache), sorted(answered))
    return proc


def run_until_done(server, cache: Path, values: list, kills=(), retries: int = 1, max_runs: int = 30) -> int:
    kills = list(kills)
    for run in range(max_runs):
        proc = run_trigger(server, cache, values, kills[run] if run < len(kills) else None, retries)
        if proc.returncode == 0:
            assert checkpoint_position(cache) == len(values)
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
