"""HTTP serving: icon-runtime-http vs the reference 6.6.1 vs a bare Flask-on-gunicorn ceiling.

All three serve on 127.0.0.1 with the same gunicorn workers and threads (gthread). The runtimes serve
the same plugin (samples/example) and are loaded with the same action (say_hello); the ceiling is a
one-route Flask app answering a constant JSON body. Measured with wrk (``apt-get install -y wrk``):
requests/s and p50/p99 latency at each concurrency, RSS per worker after the load, and the time from
process start to the first successful action. Each runtime lives in its own venv under bench/.work.

Targets (the HTTP issue): at c=8 >= 3x the reference's requests/s and >= half the Flask ceiling;
p99 <= half the reference's; RSS per worker <= 70 %; cold start to the first 200 <= 0.4 (issue 19).

The servers are loaded in turn, round after round, and the median of the rounds is reported: on a
shared machine this keeps background load from favouring one of them.

A fourth server, ``ours-nomask``, is ours with the process-wide masking filter switched off
(``ICON_RUNTIME_BENCH_NO_PROCESS_MASKING=1``, a bench-only switch: replies and step logs are still
masked per execution, but other loggers, threads, handleError and excepthooks are not). The ratio
``ours/ours-nomask`` is what the filter costs on the action path, measured in the same run, as
req/s and as worker CPU time per request (the steadier figure on a shared machine).

Environment: BENCH_DURATION (s per run, default 3), BENCH_ROUNDS (3), BENCH_WORKERS (2),
BENCH_THREADS (4), BENCH_CONCURRENCY ("1,8,64"), BENCH_COLD_RUNS (3),
BENCH_ONLY (ours,ours-nomask,reference,flask), BENCH_PARTS (cold,load: ``cold`` alone measures only the
cold starts, for instance ``BENCH_ONLY=ours,reference BENCH_PARTS=cold BENCH_COLD_RUNS=9``).

Cold starts are interleaved too: each run starts every server once, in turn, so that a busy moment of
the machine does not fall on one server's runs only. Every run's figure is printed with the median.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _venvs import REPO, WORK, our_venv, reference_venv  # noqa: E402

SAMPLE = REPO / "samples" / "example"
MESSAGE = (SAMPLE / "messages" / "say_hello.json").read_bytes()
ACTION_PATH = "/api/v1/actions/say_hello"
DURATION = int(os.environ.get("BENCH_DURATION", "3"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,8,64").split(",")]
COLD_RUNS = int(os.environ.get("BENCH_COLD_RUNS", "3"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
ONLY = set(os.environ.get("BENCH_ONLY", "ours,ours-nomask,reference,flask").split(","))
PARTS = set(os.environ.get("BENCH_PARTS", "cold,load").split(","))
#: The bench-only switch that turns the process-wide masking filter off (see core's _process_masking).
NO_PROCESS_MASKING = {"ICON_RUNTIME_BENCH_NO_PROCESS_MASKING": "1"}

FLASK_HELLO = """
from flask import Flask

app = Flask(__name__)


@app.route("/api/v1/actions/say_hello", methods=["POST"])
def hello():
    return {"message": "Hello, World!"}
"""

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{path}", "r")
wrk.body = f:read("*a")
f:close()
"""


@dataclass
class Result:
    name: str
    cold_start: float = 0.0
    cold_starts: list[float] = field(default_factory=list)
    rss_per_worker_mib: float = 0.0
    load: dict[int, dict[str, float]] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post_ok(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{ACTION_PATH}", data=MESSAGE, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class Target:
    """How to start one of the three servers on a given port."""

    def __init__(self, name: str, python: Path, workdir: Path) -> None:
        self.name, self.python, self.workdir = name, python, workdir

    def command(self, port: int) -> tuple[list[str], dict[str, str], Path]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "PROMETHEUS", "ICON_RUNTIME"))}
        env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
        bin_script = str(SAMPLE / "bin" / "icon_example")
        if self.name in ("ours", "ours-nomask"):
            if self.name == "ours-nomask":
                env.update(NO_PROCESS_MASKING)
            args = ["--bind", "127.0.0.1", "--port", str(port), "--process-workers", str(WORKERS)]
            return [str(self.python), bin_script, "http", *args, "--threads", str(THREADS)], env, self.workdir
        config = {"bind": f"127.0.0.1:{port}", "workers": WORKERS, "threads": THREADS, "worker_class": "gthread"}
        if self.name == "reference":
            (self.workdir / "gunicorn.json").write_text(json.dumps({**config, "loglevel": "info"}))
            env["GUNICORN_CONFIG_FILE"] = "gunicorn.json"
            return [str(self.python), bin_script, "http"], env, self.workdir
        gunicorn = [str(self.python), "-m", "gunicorn", "-b", config["bind"], "-w", str(WORKERS), "--threads"]
        return [*gunicorn, str(THREADS), "-k", "gthread", "hello_app:app"], env, self.workdir

    def start(self, port: int) -> tuple[subprocess.Popen[bytes], float]:
        argv, env, cwd = self.command(port)
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = started + 60
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {process.returncode}")
            if post_ok(port):
                return process, time.perf_counter() - started
            time.sleep(0.005)
        stop(process)
        raise RuntimeError(f"{self.name} did not answer within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def worker_rss_mib(master: int) -> float:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    sizes = []
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match:
            sizes.append(int(match.group(1)) / 1024)
    return statistics.mean(sizes) if sizes else 0.0


TICKS = os.sysconf("SC_CLK_TCK")


def worker_cpu_ticks(master: int) -> int:
    """User + system CPU ticks of the master's workers so far (CPU per request does not depend on
    what else the machine runs, unlike req/s)."""
    total = 0
    for child in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    if match is None:
        return float("nan")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}[unit]


def wrk(port: int, concurrency: int, seconds: int, script: Path) -> dict[str, float]:
    threads = min(concurrency, 2)
    url = f"http://127.0.0.1:{port}{ACTION_PATH}"
    argv = ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    output = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50_match, p99_match = re.search(r"50%\s+(\S+)", output), re.search(r"99%\s+(\S+)", output)
    p50 = _ms(p50_match.group(1)) if p50_match else float("nan")
    p99 = _ms(p99_match.group(1)) if p99_match else float("nan")
    if p99 != p99:
        print(f"unparsed wrk output:\n{output}", file=sys.stderr)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    count = re.search(r"(\d+) requests in", output)
    return {
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "requests": float(count.group(1)) if count else 0.0,
    }


def cold_starts(targets: list[Target]) -> dict[str, list[float]]:
    """Seconds from process start to the first 200 of an action, ``COLD_RUNS`` times per server, the
    servers taking turns run after run (the order alternates like the load rounds')."""
    colds: dict[str, list[float]] = {target.name: [] for target in targets}
    for run in range(COLD_RUNS):
        for target in targets if run % 2 == 0 else list(reversed(targets)):
            process, seconds = target.start(free_port())
            colds[target.name].append(seconds)
            stop(process)
    return colds


def measure_all(targets: list[Target], script: Path) -> dict[str, Result]:
    """Interleave the servers round by round so that background load hits all of them alike.

    Every server runs at once (idle ones cost no CPU); for each round and concurrency the servers are
    loaded one after the other, and the median over the rounds is kept.
    """
    results = {target.name: Result(target.name) for target in targets}
    if "cold" in PARTS:
        for name, colds in cold_starts(targets).items():
            results[name].cold_starts = colds
            results[name].cold_start = statistics.median(colds)
    if "load" not in PARTS:
        return results
    running: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    samples: dict[tuple[str, int], list[dict[str, float]]] = {}
    try:
        for target in targets:
            port = free_port()
            running[target.name] = (target.start(port)[0], port)
            wrk(port, 8, 1, script)  # warm every worker
        for round_ in range(ROUNDS):
            for concurrency in CONCURRENCY:
                # Alternate the order: on a shared machine, going first or last in a round is not neutral.
                for target in targets if round_ % 2 == 0 else list(reversed(targets)):
                    process, port = running[target.name]
                    before = worker_cpu_ticks(process.pid)
                    row = wrk(port, concurrency, DURATION, script)
                    row["cpu_us"] = (worker_cpu_ticks(process.pid) - before) * 1e6 / TICKS / max(row["requests"], 1)
                    samples.setdefault((target.name, concurrency), []).append(row)
        for (name, concurrency), rows in samples.items():
            results[name].load[concurrency] = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        for name, (process, _) in running.items():
            results[name].rss_per_worker_mib = worker_rss_mib(process.pid)
    finally:
        for process, _ in running.values():
            stop(process)
    return results


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(results: dict[str, Result]) -> None:
    print(f"\nworkers={WORKERS} threads={THREADS} {ROUNDS} rounds x {DURATION}s (median), say_hello, 127.0.0.1\n")
    print(f"{'server':<10} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, result in results.items():
        for concurrency, row in result.load.items():
            print(
                f"{name:<10} {concurrency:>3} {row['rps']:>9.1f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f}"
                f" {int(row['non_2xx']):>8}"
            )
    print(f"\n{'server':<10} {'cold start s':>13} {'RSS/worker MiB':>15}  cold start of each run (ms)")
    for name, result in results.items():
        runs = " ".join(f"{seconds * 1000:.0f}" for seconds in result.cold_starts)
        print(f"{name:<10} {result.cold_start:>13.3f} {result.rss_per_worker_mib:>15.1f}  {runs}")
    ours, ref, flask = results.get("ours"), results.get("reference"), results.get("flask")
    if ours is None:
        return
    print("\nratios (target in brackets):")
    if ref is not None and "cold" in PARTS:
        per_run = " ".join(f"{ratio(a, b):.2f}" for a, b in zip(ours.cold_starts, ref.cold_starts, strict=True))
        print(f"  cold start ours/ref [<= 0.4]: {ratio(ours.cold_start, ref.cold_start):.2f} (runs: {per_run})")
    if "load" not in PARTS:
        return
    unmasked = results.get("ours-nomask")
    if unmasked is not None:
        for concurrency in CONCURRENCY:
            mine, other = ours.load[concurrency], unmasked.load[concurrency]
            print(
                f"  process-wide masking filter c={concurrency}: "
                f"req/s with/without {ratio(mine['rps'], other['rps']):.3f}, "
                f"worker CPU per request {mine['cpu_us']:.0f} vs {other['cpu_us']:.0f} us "
                f"({ratio(mine['cpu_us'], other['cpu_us']):.3f})"
            )
    if ref is not None:
        for concurrency in CONCURRENCY:
            speedup = ratio(ours.load[concurrency]["rps"], ref.load[concurrency]["rps"])
            print(f"  req/s ours/ref c={concurrency}: {speedup:.2f}x")
            print(
                f"  p99 ours/ref c={concurrency}: "
                f"{ratio(ours.load[concurrency]['p99_ms'], ref.load[concurrency]['p99_ms']):.2f} [<= 0.5]"
            )
        print(f"  req/s ours/ref c=8 [>= 3]: {ratio(ours.load[8]['rps'], ref.load[8]['rps']):.2f}")
        print(f"  RSS/worker ours/ref [<= 0.7]: {ratio(ours.rss_per_worker_mib, ref.rss_per_worker_mib):.2f}")
    if flask is not None:
        for concurrency in CONCURRENCY:
            share = ratio(ours.load[concurrency]["rps"], flask.load[concurrency]["rps"])
            print(
                f"  req/s ours/flask ceiling c={concurrency}: {share:.2f}" + (" [>= 0.5]" if concurrency == 8 else "")
            )


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    if 8 not in CONCURRENCY:
        CONCURRENCY.append(8)
    work = Path(tempfile.mkdtemp(prefix="http-bench-", dir=WORK if WORK.exists() else None))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.replace("{path}", str(SAMPLE / "messages" / "say_hello.json")))
    (work / "hello_app.py").write_text(FLASK_HELLO)
    ours_venv = our_venv("http-venv", ["runtime-core", "runtime-http[fast-json]"])
    # The venv is reused between runs: always install the current sources (no dependency changes).
    sources = [str(REPO / "packages" / name) for name in ("runtime-core", "runtime-http")]
    pip = [str(ours_venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", "--force-reinstall", *sources], check=True, capture_output=True)
    targets = []
    if "ours" in ONLY:
        targets.append(Target("ours", ours_venv / "bin" / "python", work))
    if "ours-nomask" in ONLY:
        targets.append(Target("ours-nomask", ours_venv / "bin" / "python", work))
    if "reference" in ONLY:
        targets.append(Target("reference", reference_venv() / "bin" / "python", work))
    if "flask" in ONLY:
        targets.append(Target("flask", ours_venv / "bin" / "python", work))
    try:
        print(f"measuring {', '.join(t.name for t in targets)}...", file=sys.stderr, flush=True)
        results = measure_all(targets, script)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results)
    out = WORK / "http_bench.json"
    out.write_text(json.dumps({name: vars(result) for name, result in results.items()}, indent=2))
    print(f"\nraw figures: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
