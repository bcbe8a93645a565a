"""What one hostile request costs a worker at the default limits (issue 16: bounded cost per request).

A server with one worker (so every request lands on the measured process) serves samples/example on
127.0.0.1. Each hostile body is sent once per round; the figures are the worker's peak RSS growth
(VmHWM after resetting it through /proc/<pid>/clear_refs, against VmRSS before) and its CPU time
(utime + stime from /proc/<pid>/stat), the median of the rounds. Besides the bodies the limits refuse
before parsing, "worst accepted" is the most a body can cost that passes every limit: just under the
body limit, with the most containers and values allowed, parsed in full and then refused by the route
(a trigger_start sent to an action).

Environment: BENCH_ROUNDS (3).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "packages" / "runtime-http" / "tests"))
from icon_http_testkit import ProcessCost, message, post_raw, start_server, worker_pids  # noqa: E402

from insightconnect_plugin_runtime.api._limits import (  # noqa: E402
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_CONTAINERS,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_JSON_VALUES,
)

HELLO = "/api/v1/actions/say_hello"
MB = 1_000_000


def refused_by_route(extra: dict[str, object], size: int) -> bytes:
    template = message("say_hello")
    template["type"] = "trigger_start"
    template["body"]["input"] = {"name": "@", **extra}
    text = json.dumps(template, separators=(",", ":")).encode()
    return text.replace(b'"@"', b'"' + b"A" * (size - len(text) + 1) + b'"')


def worst_accepted() -> bytes:
    """Most containers and values the limits let through, padded to just under the body limit."""
    objects = DEFAULT_MAX_JSON_CONTAINERS - 10
    members = (DEFAULT_MAX_JSON_VALUES - 50) // objects - 1
    rows = [{f"k{m}": f"v{i}-{m}" for m in range(members)} for i in range(objects)]
    return refused_by_route({"rows": rows}, DEFAULT_MAX_BODY_BYTES)


def bodies() -> dict[str, tuple[Callable[[object], object], int]]:
    connection = message("say_hello")
    connection["body"]["connection"].update({f"password_{i}": f"hunter-{i:06d}" for i in range(100_000)})
    connection["body"]["input"] = {}
    return {
        "deep nesting (50,000 levels)": (
            b"[" * (DEFAULT_MAX_JSON_CONTAINERS // 2) + b"]" * (DEFAULT_MAX_JSON_CONTAINERS // 2),
            400,
        ),
        "1,000,000 empty arrays": (b"[" + b"[]," * 999_999 + b"[]]", 413),
        f"{DEFAULT_MAX_JSON_VALUES + 1:,} short strings": (b"[" + b'"ab",' * DEFAULT_MAX_JSON_VALUES + b'"ab"]', 413),
        "100,000 secret-looking connection keys": (json.dumps(connection).encode(), 400),
        "just under the body limit (one string)": (refused_by_route({}, DEFAULT_MAX_BODY_BYTES), 400),
        "worst accepted (limits reached, parsed)": (worst_accepted(), 400),
        "declared length over the limit": (None, 413),
    }


def main() -> int:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    print(
        f"defaults: body {DEFAULT_MAX_BODY_BYTES / 2**20:.0f} MiB, depth {DEFAULT_MAX_JSON_DEPTH}, "
        f"containers {DEFAULT_MAX_JSON_CONTAINERS:,}, values {DEFAULT_MAX_JSON_VALUES:,}; median of {rounds} rounds"
    )
    server = start_server(Path(tempfile.mkdtemp(prefix="hostile-bench-")), {}, ("--process-workers", "1"))
    try:
        [pid] = worker_pids(server)
        server.post(HELLO, message("say_hello"))
        print(f"{'request':44} {'body MB':>8} {'status':>6} {'RSS +MB':>8} {'CPU ms':>7} {'wall ms':>8}")
        for name, (body, expected) in bodies().items():
            growth, cpu, wall, statuses = [], [], [], set()
            for _ in range(rounds):
                started = time.perf_counter()
                with ProcessCost(pid) as cost:
                    if body is None:
                        size = DEFAULT_MAX_BODY_BYTES + 1
                        headers = {"Content-Type": "application/json", "Content-Length": str(size)}
                        reply = post_raw(server, HELLO, iter([b"A" * 65536]), headers)
                    else:
                        reply = server.post(HELLO, body, timeout=120)
                wall.append((time.perf_counter() - started) * 1000)
                statuses.add(reply.status)
                growth.append(cost.rss_growth / MB)
                cpu.append(cost.cpu_seconds * 1000)
            size_mb = (len(body) if body is not None else DEFAULT_MAX_BODY_BYTES + 1) / MB
            status = "/".join(map(str, sorted(statuses)))
            flag = "" if statuses == {expected} else f"  (expected {expected})"
            print(
                f"{name:44} {size_mb:8.1f} {status:>6} {statistics.median(growth):8.1f} "
                f"{statistics.median(cpu):7.0f} {statistics.median(wall):8.0f}{flag}"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
