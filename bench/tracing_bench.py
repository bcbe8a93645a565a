"""What tracing costs an HTTP action: package absent, installed but disabled, enabled and exporting.

Three servers of the same plugin (samples/example) with the same workers and threads, loaded in turn
with wrk (the load generator and helpers of ``http_bench``). "enabled" exports every span over
OTLP/HTTP to a local receiver on 127.0.0.1 that accepts and discards them. Target (tracing issue):
installed-but-disabled within 3 % of absent.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _venvs import our_venv  # noqa: E402
from http_bench import MESSAGE, THREADS, WORKERS, WRK_SCRIPT, Target, free_port, stop, wrk  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
DURATION = int(os.environ.get("BENCH_DURATION", "3"))
CONCURRENCY = 8


class _Sink(BaseHTTPRequestHandler):
    spans_posts = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).spans_posts += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class TracedTarget(Target):
    def __init__(self, name: str, python: Path, workdir: Path, extra_env: dict[str, str]) -> None:
        super().__init__("ours", python, workdir)
        self.label = name
        self.extra_env = extra_env

    def command(self, port: int):  # type: ignore[no-untyped-def]
        argv, env, cwd = super().command(port)
        env = {k: v for k, v in env.items() if not k.startswith("OTEL_") and k != "otel_tracing"}
        return argv, {**env, **self.extra_env}, cwd


def main() -> int:
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}/v1/traces"
    absent = our_venv("http-venv", ["runtime-core", "runtime-http[fast-json]"]) / "bin" / "python"
    traced = (
        our_venv("traced-venv", ["runtime-core", "runtime-http[fast-json]", "runtime-tracing[otlp]"]) / "bin" / "python"
    )
    work = Path(tempfile.mkdtemp(prefix="tracing-bench-"))
    script = work / "post.lua"
    (work / "message.json").write_bytes(MESSAGE)
    script.write_text(WRK_SCRIPT.replace("{path}", str(work / "message.json")))
    targets = [
        TracedTarget("absent", absent, work, {}),
        TracedTarget("installed, disabled", traced, work, {}),
        TracedTarget(
            "enabled, exporting",
            traced,
            work,
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"},
        ),
    ]
    running = []
    samples: dict[str, list[float]] = {t.label: [] for t in targets}
    try:
        for target in targets:
            port = free_port()
            running.append((target, target.start(port)[0], port))
            wrk(port, CONCURRENCY, 1, script)  # warm up every worker
        for _ in range(ROUNDS):
            for target, _process, port in running:
                samples[target.label].append(wrk(port, CONCURRENCY, DURATION, script)["rps"])
    finally:
        for _target, process, _port in running:
            stop(process)
        sink.shutdown()
    base = statistics.median(samples["absent"])
    print(f"tracing cost, action say_hello, {WORKERS} workers x {THREADS} threads, c={CONCURRENCY}, "
          f"median of {ROUNDS} x {DURATION}s")  # fmt: skip
    print(f"{'':24}{'req/s':>10}{'vs absent':>11}")
    for label, values in samples.items():
        rps = statistics.median(values)
        print(f"{label:24}{rps:10.0f}{rps / base - 1:+10.1%}")
    disabled = statistics.median(samples["installed, disabled"])
    verdict = "ok" if disabled >= base * 0.97 else "MISS"
    print(f"installed-but-disabled within 3% of absent: {verdict}; OTLP posts received: {_Sink.spans_posts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
