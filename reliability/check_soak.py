"""Check 4: soak: concurrency 16 over a mix of actions, tasks, tests and failing requests, 2 workers.

Bounded by time (``--soak-seconds``) and by count. After a warm-up, each worker's RSS is sampled; its
growth to the end must stay under 10 %. Unexpected errors: a status other than the one each request
kind must get, a connection error or a timeout.
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import threading
import time
from pathlib import Path

from _kit import Figure, at_least, at_most, message, rss_kb, start_server, worker_pids

MAX_REQUESTS = 500_000


def _mix() -> list[tuple[str, bytes, int]]:
    def body(name: str, **changes) -> bytes:
        msg = message(name)
        msg["body"]["input"].update(changes)
        return json.dumps(msg).encode()

    return [
        ("/api/v1/actions/say_hello", body("say_hello"), 200),
        ("/api/v1/actions/say_goodbye", body("say_goodbye", times=3), 200),
        ("/api/v1/actions/say_hello/test", body("say_hello"), 200),
        ("/api/v1/tasks/monitor_events", json.dumps(message("monitor_events")).encode(), 200),
        ("/api/v1/actions/sleep", body("sleep", seconds=0.02), 200),
        ("/api/v1/actions/raise_error", body("raise_error", kind="plugin"), 400),
        ("/api/v1/actions/raise_error", body("raise_error", kind="value"), 500),
        ("/api/v1/actions/raise_error", body("raise_error", kind="leak_secret"), 400),
        ("/api/v1/actions/say_hello", b"{not json", 400),
        ("/api/v1/actions/no_such_action", body("say_hello").replace(b'"say_hello"', b'"no_such_action"'), 404),
        ("/api/v1/connection/test", json.dumps(message("connection_test")).encode(), 200),
    ]


def run(options) -> list[Figure]:
    check = "soak"
    work = Path(tempfile.mkdtemp(prefix="reliability-soak-"))
    server = start_server(work, {}, ("--process-workers", "2", "--threads", "4"))
    mix = _mix()
    lock = threading.Lock()
    latencies: list[float] = []
    unexpected: list[str] = []
    sent = [0]
    stop = threading.Event()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        while not stop.is_set():
            with lock:
                if sent[0] >= MAX_REQUESTS:
                    return
                sent[0] += 1
            path, data, expected = rng.choice(mix)
            started = time.monotonic()
            try:
                connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            except OSError as error:
                status = f"{type(error).__name__}"
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            elapsed = time.monotonic() - started
            with lock:
                latencies.append(elapsed)
                if status != expected:
                    unexpected.append(f"{path} -> {status} (expected {expected})")
        connection.close()

    try:
        time.sleep(1)
        workers = worker_pids(server.process.pid)
        threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(16)]
        for thread in threads:
            thread.start()
        warm_up = min(20.0, options.soak_seconds / 4)
        time.sleep(warm_up)
        workers = worker_pids(server.process.pid)
        baseline = {pid: rss_kb(pid) for pid in workers}
        peak = dict(baseline)
        deadline = time.monotonic() + options.soak_seconds - warm_up
        while time.monotonic() < deadline:
            time.sleep(2)
            for pid in workers:
                try:
                    peak[pid] = rss_kb(pid)
                except OSError:
                    peak[pid] = -1
        stop.set()
        for thread in threads:
            thread.join(40)
        final_workers = worker_pids(server.process.pid)
    finally:
        stop.set()
        server.stop()
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    growth = {pid: (peak[pid] - baseline[pid]) * 100.0 / baseline[pid] for pid in baseline if baseline[pid] > 0}
    worst = max(growth.values()) if growth else 100.0
    rate = len(latencies) / options.soak_seconds
    return [
        at_least(
            check,
            "requests (16 concurrent, 11 kinds incl. failing ones)",
            len(latencies),
            1000,
            unit=f" in {options.soak_seconds:.0f}s ({rate:.0f}/s)",
        ),  # fmt: skip
        at_most(check, "unexpected errors", len(unexpected), 0, "; ".join(sorted(set(unexpected))[:5])),
        at_most(
            check,
            "worst worker RSS growth after warm-up",
            round(worst, 1),
            10,
            json.dumps({pid: f"{baseline[pid]}->{peak[pid]} kB" for pid in baseline}),
            unit="%",
        ),  # fmt: skip
        Figure(
            check,
            "workers alive (same pids)",
            f"{len(final_workers)} {final_workers == workers}",
            "2 True",
            len(final_workers) == 2 and final_workers == workers,
        ),  # fmt: skip
        Figure(check, "latency p50/p99/max", f"{pct(0.5):.1f}/{pct(0.99):.1f}/{pct(1.0):.1f} ms", "printed", True),
    ]
