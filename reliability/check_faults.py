"""Check 5: faults: worker kill -9 and SIGTERM under load, config service down/slow/garbage (cloud),
the trigger's dispatcher refusing/timing out/answering 500, a full disk for the trigger state, and
trigger delivery under kills, redirects and rejections (``check_delivery``)."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _kit import BIN, SAMPLE, Figure, at_most, message, start_server, worker_pids


def _post(port: int, path: str, body: dict, timeout: float = 10) -> int | str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError as error:
        return type(error).__name__
    finally:
        connection.close()


def _load(port: int, stop: threading.Event, results: list, body: dict, path: str, threads: int = 8) -> list:
    def loop() -> None:
        for _ in range(10_000):
            if stop.is_set():
                return
            results.append((time.monotonic(), _post(port, path, body)))

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    return workers


def kill_worker(work: Path) -> list[Figure]:
    server = start_server(work, {}, ("--process-workers", "2", "--threads", "4"))
    stop, results = threading.Event(), []
    sleepy = message("sleep")
    sleepy["body"]["input"]["seconds"] = 0.05
    try:
        time.sleep(1)
        before = worker_pids(server.process.pid)
        threads = _load(server.port, stop, results, sleepy, "/api/v1/actions/sleep")
        time.sleep(2)
        victim = before[0]
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        recovered = None
        while time.monotonic() - killed_at < 10:
            pids = worker_pids(server.process.pid)
            if len(pids) == 2 and victim not in pids and _post(server.port, "/api/v1/actions/say_hello",
                                                               message("say_hello"), 2) == 200:  # fmt: skip
                recovered = time.monotonic() - killed_at
                break
            time.sleep(0.05)
        time.sleep(2)
        stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        server.stop()
    failed_after = [r for t, r in results if r != 200 and t > killed_at + 2.5]
    failed_during = [r for t, r in results if r != 200 and t <= killed_at + 2.5]
    return [
        at_most(
            "faults",
            "kill -9 worker: recovery (2 workers, one answering a new request)",
            round(recovered, 2) if recovered is not None else 99,
            2,
            unit="s",
        ),  # fmt: skip
        at_most(
            "faults",
            "kill -9 worker: failed requests (only in-flight in that worker; <= 8 clients)",
            len(failed_during),
            8,
            repr(failed_during[:5]),
        ),  # fmt: skip
        at_most("faults", "kill -9 worker: failures after recovery", len(failed_after), 0, repr(failed_after[:5])),
    ]


def sigterm(work: Path) -> list[Figure]:
    server = start_server(work, {}, ("--process-workers", "2", "--threads", "4", "--graceful-timeout", "10"))
    slow = message("sleep")
    slow["body"]["input"]["seconds"] = 2
    inflight: list = []
    threads = [threading.Thread(target=lambda: inflight.append(_post(server.port, "/api/v1/actions/sleep", slow, 20)))
               for _ in range(4)]  # fmt: skip
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    # A kept-alive connection opened before SIGTERM: its next request must get 503 (or a closed socket).
    keep = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    keep.request("GET", "/api/v1/health/live")
    keep.getresponse().read()
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        keep.request("POST", "/api/v1/actions/say_hello", body=json.dumps(message("say_hello")))
        late = keep.getresponse().status
    except OSError as error:
        late = type(error).__name__
    fresh = _post(server.port, "/api/v1/actions/say_hello", message("say_hello"), 3)
    try:
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        server.stop()
    exited = time.monotonic() - started
    for thread in threads:
        thread.join(20)
    return [
        Figure(
            "faults",
            "SIGTERM: in-flight 2 s requests completing",
            f"{inflight.count(200)}/4",
            "4/4",
            inflight.count(200) == 4,
            repr(inflight),
        ),  # fmt: skip
        Figure(
            "faults",
            "SIGTERM: new request on a kept-alive / new connection",
            f"{late} / {fresh}",
            "503 or refused",
            late in (503, "RemoteDisconnected", "ConnectionResetError", "BrokenPipeError") and fresh != 200,
        ),  # fmt: skip
        at_most("faults", "SIGTERM: exit (graceful timeout 10 s)", round(exited, 1), 10, unit="s"),
        Figure("faults", "SIGTERM: exit code", server.process.returncode, "== 0", server.process.returncode == 0),
    ]


class Fake(ThreadingHTTPServer):
    """A config service or dispatcher on 127.0.0.1 that answers with ``behaviour``."""

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.posts: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                if self.command == "POST":
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                    fake.posts.append(body)
                if fake.behaviour == "refuse":
                    self.close_connection = True
                    return
                if fake.behaviour == "slow":
                    time.sleep(5)
                status = 500 if fake.behaviour == "500" else 200
                data = b"<html>garbage" if fake.behaviour == "garbage" else b"{}"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = _answer  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server_address[1]}/"
        threading.Thread(target=self.serve_forever, daemon=True).start()


def config_service(work: Path) -> list[Figure]:
    figures = []
    for behaviour in ("down", "slow", "garbage", "500"):
        if behaviour == "down":
            url = "http://127.0.0.1:9/config"  # discard port: refused
        else:
            fake = Fake(behaviour)
            url = fake.url
        started = time.monotonic()
        server = start_server(work, {"PLUGIN_RUNTIME_ENVIRONMENT": "cloud", "CPS_ENDPOINT": url}, ())
        took = time.monotonic() - started
        task = _post(server.port, "/api/v1/tasks/monitor_events", message("monitor_events"))
        server.stop()
        log = server.log()
        clear = "config" in log.lower() and ("Traceback" not in log)
        figures.append(at_most("faults", f"config service {behaviour}: start until live", round(took, 1), 8,
                               log[-800:], unit="s"))  # fmt: skip
        figures.append(Figure("faults", f"config service {behaviour}: task status / clear log, no traceback",
                              f"{task} / {clear}", "200 / True", task == 200 and clear, log[-800:]))  # fmt: skip
    return figures


def _trigger(work: Path, url: str, count: int, env_extra: dict, fsize: int | None = None):
    msg = message("emit_greeting")
    msg["body"]["dispatcher"]["url"] = url
    msg["body"]["input"].update(count=count, interval=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL", "PLUGIN_RUNTIME", "ICON_RUNTIME"))}
    env.update(ICON_RUNTIME_CACHE_DIR=str(work) + "/", ICON_RUNTIME_DISPATCH_TIMEOUT="0.5",
               ICON_RUNTIME_OUTBOX_RETRIES="1", ICON_RUNTIME_OUTBOX_BACKOFF="0.01", **env_extra)  # fmt: skip

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = subprocess.run([sys.executable, str(BIN), "run"], input=json.dumps(msg).encode(), capture_output=True,
                          timeout=60, cwd=SAMPLE, env=env, preexec_fn=limit)  # fmt: skip
    state_file = work / "example-trigger-1.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    return proc, state


def dispatcher_faults(work: Path) -> list[Figure]:
    figures = []
    for behaviour in ("refuse", "slow", "500"):
        fake = Fake(behaviour)
        cache = work / f"trigger-{behaviour}"
        cache.mkdir()
        proc, state = _trigger(cache, fake.url, 3, {})
        reply = proc.stdout.decode(errors="replace")
        ok = proc.returncode == 1 and "deliver" in reply.lower() or "orchestrator" in reply.lower()
        advanced = (state or {}).get("last_number", 0)
        figures.append(Figure("faults", f"dispatcher {behaviour}: trigger fails clearly / state not advanced",
                              f"exit {proc.returncode} / last_number={advanced}", "exit 1 / 0",
                              ok and proc.returncode == 1 and advanced == 0, reply[-400:]))  # fmt: skip
    return figures


def disk_full(work: Path) -> list[Figure]:
    ok_dispatcher = Fake("ok")
    cache = work / "trigger-disk"
    cache.mkdir()
    proc, state = _trigger(cache, ok_dispatcher.url, 2, {"ICON_RUNTIME_OUTBOX": "off"})
    before = (state or {}).get("last_number")
    # The state file now exists; the next run may not write more than a few bytes.
    proc, state = _trigger(cache, ok_dispatcher.url, 5, {"ICON_RUNTIME_OUTBOX": "off"}, fsize=8)
    reply = proc.stdout.decode(errors="replace")
    clear = proc.returncode == 1 and ("File too large" in reply or "space" in reply.lower() or "Errno" in reply)
    return [
        Figure(
            "faults",
            "state file under RLIMIT_FSIZE=8: clear error / old state kept",
            f"exit {proc.returncode} / last_number {before}->{(state or {}).get('last_number')}",
            "exit 1 / unchanged or advanced only by whole writes",
            clear and state is not None and "last_number" in state,
            reply[-500:],
        ),  # fmt: skip
    ]


def run(options) -> list[Figure]:
    work = Path(tempfile.mkdtemp(prefix="reliability-faults-"))
    figures: list[Figure] = []
    from check_delivery import delivery

    def delivery_figures(work: Path) -> list[Figure]:
        return delivery(work, getattr(options, "seed", 20261129))

    for part in (kill_worker, sigterm, config_service, dispatcher_faults, disk_full, delivery_figures):
        try:
            figures += part(work)
        except Exception as error:  # noqa: BLE001
            figures.append(Figure("faults", f"{part.__name__} ran", "crashed", "completes", False, repr(error)))
    return figures
