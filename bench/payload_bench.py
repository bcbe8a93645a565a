"""Large payloads: a 5 MiB string and 10,000 small objects echoed back, ours vs the reference 6.6.1.

Both runtimes run the same plugin (``bench/payload_plugin``: one ``echo`` action returning its input,
schemas shaped like generated ones) from their own virtual environments, in the same run, with the
same messages: once with an empty connection (nothing to mask) and once with a username/password
credential (the password and ``user:password`` are masked in every reply and log line).

* **HTTP**: ours with its ``fast-json`` extra (msgspec), ours with the standard library's ``json``
  (``ICON_RUNTIME_STDLIB_JSON=1``, what an install without the extra gets) and the reference; each
  server runs one gunicorn worker (gthread, 4 threads) on 127.0.0.1, so every request
  lands on the measured process. Per request: wall time from the first byte sent to the last byte of
  the reply read, and the worker's peak RSS (VmHWM, reset through ``/proc/<pid>/clear_refs`` before the
  request), next to its idle RSS. The servers are loaded in turn, round after round (median).
* **CLI**: ``bin/icon_payload run`` with the message on stdin, wall time and peak RSS of the process
  (``wait4``), the runtimes alternating (median).

Targets (issue 19): HTTP at most 0.5x the reference's time without a secret and 0.3x with one;
worker peak RSS at most 0.7x the reference's. The one-shot ``run`` of a small action and the cold
start of ``http`` are in ``core_bench.py`` and ``http_bench.py``.

Environment: BENCH_ROUNDS (5), BENCH_ONLY ("http,cli").
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _venvs import REPO, WORK, our_venv, reference_venv  # noqa: E402
from http_bench import free_port, stop  # noqa: E402

PLUGIN = REPO / "bench" / "payload_plugin"
LAUNCHER = PLUGIN / "bin" / "icon_payload"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
ONLY = set(os.environ.get("BENCH_ONLY", "http,cli").split(","))
PATH = "/api/v1/actions/echo"
TEXT_BYTES = 5 * 1024 * 1024
OBJECTS = 10_000
CREDENTIALS = {"username": "bench-user", "password": "bench-password-0123456789"}
CASES = ("no secret", "secret")


def messages() -> dict[str, bytes]:
    """The two messages (deterministic): random base64 text, as a file attachment would be."""
    rng = random.Random(19)
    text = base64.b64encode(rng.randbytes(TEXT_BYTES * 3 // 4)).decode()
    items = [{"id": i, "name": f"item-{i:05d}", "active": i % 2 == 0} for i in range(OBJECTS)]
    result = {}
    for case in CASES:
        connection = {"credentials": CREDENTIALS} if case == "secret" else {}
        body = {"action": "echo", "meta": {}, "connection": connection, "input": {"text": text, "items": items}}
        result[case] = json.dumps({"version": "v1", "type": "action_start", "body": body}).encode()
    return result


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def _post(port: int, body: bytes) -> tuple[float, int, bytes]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        data = reply.read()
    finally:
        connection.close()
    return time.perf_counter() - started, reply.status, data


class Server:
    """One runtime serving the payload plugin with a single worker."""

    def __init__(self, name: str, python: Path, workdir: Path) -> None:
        self.name, self.python, self.workdir = name, python, workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN", "PROMETHEUS", "ICON_RUNTIME"))}
        env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
        if self.name.startswith("ours"):
            if self.name == "ours-stdlib":
                env["ICON_RUNTIME_STDLIB_JSON"] = "1"
            argv = [str(self.python), str(LAUNCHER), "http", "--bind", "127.0.0.1", "--port", str(self.port)]
            argv += ["--process-workers", "1", "--threads", "4"]
        else:
            config = {"bind": f"127.0.0.1:{self.port}", "workers": 1, "threads": 4, "worker_class": "gthread"}
            (self.workdir / "gunicorn.json").write_text(json.dumps(config))
            env["GUNICORN_CONFIG_FILE"] = "gunicorn.json"
            argv = [str(self.python), str(LAUNCHER), "http"]
        self.process = subprocess.Popen(
            argv, cwd=self.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        small = json.dumps({"version": "v1", "type": "action_start", "body": {
            "action": "echo", "meta": {}, "connection": {}, "input": {"text": "x", "items": []}}}).encode()  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _post(self.port, small)[1] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not answer within 60 s")

    @property
    def worker(self) -> int:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if len(children) != 1:
            raise RuntimeError(f"{self.name}: expected one worker, found {children}")
        return int(children[0])

    def settle(self) -> None:
        """Wait until the worker is idle: its RSS unchanged over 0.3 s (at most 5 s). A worker may
        still be loading what it put off until after its first answer (ours: prometheus_client)."""
        worker, last = self.worker, -1
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rss = _status_kib(worker, "VmRSS")
            if rss == last:
                return
            last = rss
            time.sleep(0.3)

    def measure(self, body: bytes) -> dict[str, float]:
        worker = self.worker
        Path(f"/proc/{worker}/clear_refs").write_text("5")  # VmHWM := VmRSS
        idle = _status_kib(worker, "VmRSS") / 1024
        seconds, status, data = _post(self.port, body)
        if status != 200:
            raise RuntimeError(f"{self.name} answered {status}: {data[:300]!r}")
        return {"ms": seconds * 1000, "peak_mib": _status_kib(worker, "VmHWM") / 1024, "idle_mib": idle}


def _cli(python: Path, body: bytes) -> dict[str, float]:
    with tempfile.TemporaryFile() as stdin:
        stdin.write(body)
        stdin.seek(0)
        started = time.perf_counter()
        proc = subprocess.Popen([str(python), str(LAUNCHER), "run"], stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=PLUGIN)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{python} run exited with {os.waitstatus_to_exitcode(status)}")
    return {"ms": elapsed * 1000, "peak_mib": usage.ru_maxrss / 1024}


def _median(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _print_rows(title: str, results: dict[tuple[str, str], dict[str, float]], targets: dict[tuple[str, str], float]):
    print(f"\n{title}, median of {ROUNDS}")
    has_idle = "idle_mib" in next(iter(results.values()))
    print(f"{'':34}{'ours':>10}{'reference':>11}{'ratio':>8}  target")
    for case in CASES:
        mine, theirs = results[("ours", case)], results[("reference", case)]
        figures = [("wall ms", "ms"), ("peak RSS MiB", "peak_mib")] + ([("idle RSS MiB", "idle_mib")] * has_idle)
        for label, key in figures:
            value = ratio(mine[key], theirs[key])
            target = targets.get((case, key))
            verdict = "" if target is None else f"<= {target:.2f} " + ("ok" if value <= target else "MISS")
            print(f"  {case + ', ' + label:32}{mine[key]:10.1f}{theirs[key]:11.1f}{value:8.2f}  {verdict}")
        if has_idle:
            growth = mine["peak_mib"] - mine["idle_mib"]
            size = TEXT_BYTES / 2**20
            print(
                f"  {case + ', ours peak - idle':32}{growth:10.1f} MiB ({growth / size:.1f}x the {size:.0f} MiB string)"
            )


def main() -> int:
    bodies = messages()
    print(
        f"messages: {len(bodies['no secret']) / 2**20:.1f} MiB ({TEXT_BYTES // 2**20} MiB string + {OBJECTS} objects)"
    )
    ref_python = reference_venv() / "bin" / "python"
    if "http" in ONLY:
        ours_python = our_venv("http-venv", ["runtime-core", "runtime-http[fast-json]"]) / "bin" / "python"
        work = Path(tempfile.mkdtemp(prefix="payload-bench-", dir=WORK))
        servers = [Server(name, ours_python, work) for name in ("ours", "ours-stdlib")]
        servers.append(Server("reference", ref_python, work))
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        try:
            first: dict[str, dict[str, float]] = {}
            for server in servers:
                server.start()
                server.settle()
                first[server.name] = server.measure(bodies["no secret"])  # a fresh worker's first one
                for body in bodies.values():  # warm: schemas compiled, masker forms derived, pages touched
                    server.measure(body)
            for round_ in range(ROUNDS):
                for server in servers if round_ % 2 == 0 else servers[::-1]:
                    for case, body in bodies.items():
                        samples.setdefault((server.name, case), []).append(server.measure(body))
        finally:
            for server in servers:
                if server.process is not None:
                    stop(server.process)
        http_rows = {key: _median(rows) for key, rows in samples.items()}
        targets = {("no secret", "ms"): 0.5, ("secret", "ms"): 0.3, ("no secret", "peak_mib"): 0.7,
                   ("secret", "peak_mib"): 0.7}  # fmt: skip
        _print_rows("HTTP POST /api/v1/actions/echo, one worker", http_rows, targets)
        stdlib_rows = {("ours" if name == "ours-stdlib" else name, case): row for (name, case), row in http_rows.items()
                       if name != "ours"}  # fmt: skip
        _print_rows("the same, ours without msgspec (ICON_RUNTIME_STDLIB_JSON=1)", stdlib_rows, targets)
        print(
            "\nfirst large request of a fresh worker (no secret; after its start-up request, once idle):"
            " peak RSS above its idle RSS, in MiB and payloads"
        )
        payload = len(bodies["no secret"]) / 2**20
        for name, row in first.items():
            growth = row["peak_mib"] - row["idle_mib"]
            print(f"  {name:12} idle {row['idle_mib']:6.1f}  peak {row['peak_mib']:6.1f}  +{growth:5.1f} MiB = "
                  f"{growth / payload:.1f}x the {payload:.1f} MiB message")  # fmt: skip
    if "cli" in ONLY:
        ours_python = our_venv("core-venv", ["runtime-core"]) / "bin" / "python"
        pythons = {"ours": ours_python, "reference": ref_python}
        cli_samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for python in pythons.values():
            _cli(python, bodies["no secret"])  # warm the page cache
        for round_ in range(ROUNDS):
            for name in ("ours", "reference") if round_ % 2 == 0 else ("reference", "ours"):
                for case, body in bodies.items():
                    cli_samples.setdefault((name, case), []).append(_cli(pythons[name], body))
        _print_rows("CLI one-shot run < message", {key: _median(rows) for key, rows in cli_samples.items()}, {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
