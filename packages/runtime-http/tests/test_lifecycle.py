"""Graceful shutdown (SIGTERM and admin), worker management, worker crashes and metrics across workers."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from icon_http_testkit import Reply, Server, message

SLEEP = "/api/v1/actions/sleep"


def sleep_message(seconds: float) -> dict:
    msg = message("sleep")
    msg["body"]["input"]["seconds"] = seconds
    return msg


def in_background(server: Server, count: int, seconds: float) -> tuple[list[threading.Thread], list[object]]:
    results: list[object] = []

    def one() -> None:
        try:
            results.append(server.post(SLEEP, sleep_message(seconds), timeout=30))
        except (OSError, http.client.HTTPException) as error:
            results.append(error)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def worker_pids(server: Server) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def keepalive_request(connection: http.client.HTTPConnection, path: str, body: dict | None = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    connection.request("POST" if data else "GET", path, body=data)
    response = connection.getresponse()
    return Reply(response.status, dict(response.getheaders()), response.read())


def test_sigterm_lets_running_work_finish_and_refuses_new_work(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(args=("--graceful-timeout", "10", "--threads", "8"))
    kept = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    assert keepalive_request(kept, "/api/v1/status").status == 200
    threads, results = in_background(server, 3, 1.5)
    wait_for(lambda: server.get("/api/v1/admin/status").json()["active_work"] == 3)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    late = keepalive_request(kept, SLEEP, sleep_message(0.1))  # on a connection accepted before SIGTERM
    assert late.status == 503
    assert json.loads(late.body)["body"]["status"] == "error"
    for thread in threads:
        thread.join(30)
    assert [getattr(r, "status", r) for r in results] == [200, 200, 200]
    server.process.wait(15)
    assert time.monotonic() - started < 10
    assert server.process.returncode == 0
    kept.close()


def test_admin_shutdown_drains_then_stops_every_worker(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(args=("--graceful-timeout", "10", "--process-workers", "2"))
    threads, results = in_background(server, 2, 1.5)
    wait_for(lambda: server.get("/api/v1/admin/status").json()["active_work"] == 2)
    reply = server.post("/api/v1/admin/shutdown")
    assert reply.status == 200 and reply.json()["message"]
    # Every worker sees the flag: several new connections, none may start work.
    for _ in range(6):
        refused = server.post(SLEEP, sleep_message(0.1))
        assert refused.status == 503
        assert refused.json()["body"]["error"]
    assert server.get("/api/v1/health/ready").status == 503
    status = server.get("/api/v1/admin/status").json()
    assert status["shutdown_initiated"] is True and status["shutdown_safe"] is False
    for thread in threads:
        thread.join(30)
    assert [getattr(r, "status", r) for r in results] == [200, 200]
    server.process.wait(15)
    assert server.process.returncode == 0
    assert "drained" in server.log()


def test_admin_shutdown_can_keep_the_reference_flag_only_behaviour(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_SHUTDOWN_STOPS_SERVER": "false"})
    assert server.post("/api/v1/admin/shutdown").status == 200
    assert server.post(SLEEP, sleep_message(0)).status == 503
    time.sleep(0.5)
    assert server.process.poll() is None
    assert server.get("/api/v1/admin/status").json() == {
        "shutdown_initiated": True,
        "shutdown_safe": True,
        "active_work": 0,
    }


def test_admin_shutdown_delay_keeps_serving_unready_before_it_stops(fresh_server) -> None:  # type: ignore[no-untyped-def]
    # ICON_RUNTIME_SHUTDOWN_DELAY: idle, the server still waits, answering readiness 503 and liveness 200,
    # so a Kubernetes readiness probe takes the pod out of its Service before the listener closes.
    server = fresh_server({"ICON_RUNTIME_SHUTDOWN_DELAY": "2"})
    started = time.monotonic()
    assert server.post("/api/v1/admin/shutdown").status == 200
    time.sleep(1)
    assert server.process.poll() is None
    assert server.get("/api/v1/health/ready").status == 503
    assert server.get("/api/v1/health/live").status == 200
    server.process.wait(15)
    assert time.monotonic() - started >= 2
    assert server.process.returncode == 0


def test_workers_add_and_remove(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server()
    assert server.get("/api/v1/workers").json() == {"num_workers": 1}
    assert server.post("/api/v1/workers/remove").status == 400
    assert server.post("/api/v1/workers/add").json() == {"num_workers": 2}
    wait_for(lambda: server.get("/api/v1/workers").json()["num_workers"] == 2)
    wait_for(lambda: len(worker_pids(server)) == 2)
    assert server.post("/api/v1/workers/remove").json() == {"num_workers": 1}
    wait_for(lambda: server.get("/api/v1/workers").json()["num_workers"] == 1)


def test_killed_worker_is_replaced_under_load(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server(args=("--process-workers", "2"))
    stop = threading.Event()
    outcomes: list[int | str] = []

    def load() -> None:
        for _ in range(150):  # bounded
            if stop.is_set():
                return
            try:
                outcomes.append(server.post("/api/v1/actions/say_hello", message("say_hello"), timeout=10).status)
            except (OSError, http.client.HTTPException) as error:  # the killed worker's connections
                outcomes.append(type(error).__name__)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(outcomes) > 20)
    victim = worker_pids(server)[0]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: victim not in worker_pids(server) and len(worker_pids(server)) == 2, timeout=15)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert outcomes.count(200) > 20
    for _ in range(20):
        assert server.post("/api/v1/actions/say_hello", message("say_hello")).status == 200
    wait_for(lambda: server.get("/api/v1/workers").json()["num_workers"] == 2)
    # The dead worker's slot was released: nothing is reported as still running.
    wait_for(lambda: server.get("/api/v1/admin/status").json()["active_work"] == 0)


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_aggregate_every_worker(server: Server) -> None:
    before = server.get("/metrics").body.decode()
    done: list[int] = []

    def burst() -> None:
        for _ in range(10):
            done.append(server.post("/api/v1/actions/say_hello", message("say_hello")).status)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert done == [200] * 40
    bad = server.post("/api/v1/actions/say_hello", b"{")
    assert bad.status == 400
    after = server.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.body.decode()
    labels = {"kind": "action", "step": "say_hello", "status": "200"}
    assert (
        _sample(text, "icon_runtime_requests_total", **labels)
        - _sample(before, "icon_runtime_requests_total", **labels)
        == 40
    )
    assert _sample(text, "icon_runtime_requests_total", kind="action", step="say_hello", status="400") >= 1
    count = _sample(text, "icon_runtime_request_duration_seconds_count", kind="action", step="say_hello")
    assert count >= 41
    assert re.search(r'icon_runtime_request_duration_seconds_bucket\{.*le="\+Inf"', text)


def test_in_flight_gauge_counts_requests_on_other_workers(server: Server) -> None:
    threads, results = in_background(server, 3, 1.0)
    wait_for(lambda: server.get("/api/v1/admin/status").json()["active_work"] == 3)
    text = server.get("/metrics").body.decode()
    assert _sample(text, "icon_runtime_requests_in_flight") >= 4  # three sleeps and the scrape itself
    for thread in threads:
        thread.join(30)
    assert [getattr(r, "status", r) for r in results] == [200, 200, 200]


def test_metrics_report_trigger_outboxes_of_the_container(fresh_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from insightconnect_plugin_runtime._outbox import Outbox

    cache = tmp_path / "trigger-cache"

    class Accepting:
        def write(self, msg, idempotency_key=None):  # type: ignore[no-untyped-def]
            return None

    class Rejecting:
        def write(self, msg, idempotency_key=None):  # type: ignore[no-untyped-def]
            from insightconnect_plugin_runtime.dispatcher import DispatchError

            raise DispatchError(cause="too large", status=413)

    outbox = Outbox(str(cache / "trigger-42.outbox.sqlite"))
    outbox.send(Accepting(), "k1", {"n": 1})
    outbox.send(Rejecting(), "k0", {"n": 0})
    outbox.enqueue("k2", {"n": 2})
    outbox.close()
    server = fresh_server(extra_env={"ICON_RUNTIME_CACHE_DIR": f"{cache}/"})
    text = server.get("/metrics").body.decode()
    assert _sample(text, "icon_trigger_outbox_dead_letters", trigger_id="trigger-42") == 1
    assert _sample(text, "icon_trigger_outbox_events_total", trigger_id="trigger-42", outcome="dead_lettered") == 1
    assert _sample(text, "icon_trigger_outbox_pending", trigger_id="trigger-42") == 1
    assert _sample(text, "icon_trigger_outbox_events_total", trigger_id="trigger-42", outcome="sent") == 1
    assert _sample(text, "icon_trigger_outbox_events_total", trigger_id="trigger-42", outcome="queued") == 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_shutdown_flag_is_raised_in_the_signal_handler(sig: int) -> None:
    """Not when the master's loop gets to the signal: it may still be busy with its start-up tasks."""
    import queue

    from insightconnect_plugin_runtime.api._gunicorn import PluginArbiter
    from insightconnect_plugin_runtime.api._shared import SharedState

    arbiter = PluginArbiter.__new__(PluginArbiter)  # only the handler is under test: no gunicorn set-up
    arbiter.SIG_QUEUE = queue.SimpleQueue()
    arbiter.state = SharedState(slots=4)
    arbiter.signal(signal.SIGHUP, None)
    assert not arbiter.state.shutting_down
    arbiter.signal(sig, None)
    assert arbiter.state.shutting_down
    assert [arbiter.SIG_QUEUE.get_nowait() for _ in range(2)] == [signal.SIGHUP, sig]  # still queued for gunicorn
