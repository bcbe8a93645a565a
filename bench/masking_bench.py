"""What the process-wide masking filter costs, in CPU time (stable on a loaded, shared machine).

Each figure is measured in a fresh subprocess, with the filter installed and without it
(``ICON_RUNTIME_BENCH_NO_PROCESS_MASKING=1``, a bench-only switch), alternating, and the median of
the rounds is kept. CPU time (``time.process_time``) rather than wall time, so that other load on the
machine does not decide the figure:

* ``step``: one ``say_hello`` action through ``Plugin.handle_step`` (what every HTTP action request
  runs), console logging to ``/dev/null`` as the server does to stderr;
* ``line``: one 120-character log line of a third-party logger through a ``StreamHandler``, with the
  secrets of 1 and of 8 executions in flight;
* ``hostile``: a 397 KiB message whose connection holds 8,000 secret-looking values (issue 16), refused
  with a 400 (with the filter only: the refusal does not depend on it).

``bench/http_bench.py`` shows the same switch as req/s (``ours`` vs ``ours-nomask``); on a machine
where other work runs, the CPU figures here are the ones to trust.

Environment: BENCH_ROUNDS (3), BENCH_STEPS (2000), BENCH_LINES (20000).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "example"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
STEPS = int(os.environ.get("BENCH_STEPS", "2000"))
LINES = int(os.environ.get("BENCH_LINES", "20000"))
SWITCH = "ICON_RUNTIME_BENCH_NO_PROCESS_MASKING"

CHILD = r"""
import io, json, logging, os, sys, time
sys.path.insert(0, os.getcwd())
namespace = {"__file__": "bin/icon_example", "__name__": "bench"}
exec(compile(open("bin/icon_example").read(), "bin/icon_example", "exec"), namespace)
plugin = namespace["IconExample"]()
from insightconnect_plugin_runtime._logging import configure_console
from insightconnect_plugin_runtime._in_flight import IN_FLIGHT
from insightconnect_plugin_runtime._masking import SecretMasker
from insightconnect_plugin_runtime.exceptions import LoggedException

devnull = open(os.devnull, "w")
configure_console(json_lines=False, stream=devnull)
steps, lines = int(sys.argv[1]), int(sys.argv[2])
message = json.load(open("messages/say_hello.json"))
for _ in range(200):
    plugin.handle_step(json.loads(json.dumps(message)))
started = time.process_time()
for _ in range(steps):
    plugin.handle_step(json.loads(json.dumps(message)))
step_us = (time.process_time() - started) / steps * 1e6

logger = logging.getLogger("thirdparty.bench")
logger.addHandler(logging.StreamHandler(devnull))
logger.propagate = False
line = "GET https://api.example.com/v1/items/12345?page=2 answered 200 in 35 ms; 48 items, next cursor abcdef0123"
line_us = {}
for held in (1, 8):
    maskers = [SecretMasker([f"connection-secret-{i:02d}-xyz", f"user-{i}:password-{i}"]) for i in range(held)]
    for masker in maskers:
        IN_FLIGHT.acquire(masker)
    started = time.process_time()
    for _ in range(lines):
        logger.warning("%s", line)
    line_us[held] = (time.process_time() - started) / lines * 1e6
    for masker in maskers:
        IN_FLIGHT.release(masker)

hostile = json.loads(json.dumps(message))
hostile["body"]["connection"]["extra"] = {f"k{i}": {"token": f"secret-looking-value-{i:06d}"} for i in range(8000)}
text = json.dumps(hostile)
started = time.process_time()
try:
    plugin.handle_step(json.loads(text))
    status = 200
except LoggedException as failure:
    status = 400 if "more secret values" in failure.output["body"]["error"] else 500
hostile_ms = (time.process_time() - started) * 1e3
print(json.dumps({"step_us": step_us, "line1_us": line_us[1], "line8_us": line_us[8], "hostile_ms": hostile_ms,
                  "hostile_kib": len(text) // 1024, "hostile_status": status}))
"""


def measure(filtered: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICON_RUNTIME", "PLUGIN_RUNTIME"))}
    if not filtered:
        env[SWITCH] = "1"
    output = subprocess.run(
        [sys.executable, "-c", CHILD, str(STEPS), str(LINES)],
        cwd=SAMPLE, env=env, capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    rows: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for filtered in (True, False):
            rows[filtered].append(measure(filtered))
    median = {f: {k: statistics.median(r[k] for r in rows[f]) for k in rows[f][0]} for f in rows}
    on, off = median[True], median[False]
    print(f"\nprocess-wide masking filter, CPU time, median of {ROUNDS} rounds\n")
    print(f"{'figure':<44} {'with filter':>12} {'without':>10} {'ratio':>7}")
    for key, label in (
        ("step_us", "say_hello via handle_step (us CPU/step)"),
        ("line1_us", "3rd-party log line, 1 in flight (us CPU)"),
        ("line8_us", "3rd-party log line, 8 in flight (us CPU)"),
    ):
        print(f"{label:<44} {on[key]:>12.1f} {off[key]:>10.1f} {on[key] / off[key]:>7.3f}")
    steps_per_s_on, steps_per_s_off = 1e6 / on["step_us"], 1e6 / off["step_us"]
    print(f"\nsteps per CPU second: {steps_per_s_on:.0f} with the filter, {steps_per_s_off:.0f} without "
          f"(ratio {steps_per_s_on / steps_per_s_off:.3f})")  # fmt: skip
    print(f"hostile message ({on['hostile_kib']:.0f} KiB, 8000 secret-looking values): HTTP "
          f"{on['hostile_status']:.0f} after {on['hostile_ms']:.1f} ms CPU")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
