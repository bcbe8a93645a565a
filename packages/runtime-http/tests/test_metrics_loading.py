"""prometheus_client is loaded after a process's first answer, and no count is lost meanwhile.

Requests answered before the library is loaded are kept in plain Python and replayed into the
series: ``/metrics`` then says exactly what it says when the library was loaded first (checked in
fresh interpreters, with a fixed clock, in multiprocess mode and without). A scrape waits for the
processes that still hold plain counts; a real server whose first requests are long actions reports
them in flight and counted, whichever worker is scraped.

prometheus_client picks its value store when it is first imported, by ``PROMETHEUS_MULTIPROC_DIR``:
this module imports it before any test sets the variable, so that the in-process tests that set it
(to a directory that goes away) cannot leave the rest of the session writing there.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import prometheus_client  # noqa: F401 - imported here, without PROMETHEUS_MULTIPROC_DIR: see below
import pytest
from icon_http_testkit import Server, message, start_server, wait_for

from insightconnect_plugin_runtime.api import _metrics
from insightconnect_plugin_runtime.api._metrics import Metrics, MetricsMiddleware, mark_process_dead

PROBE = """
import json, sys
from insightconnect_plugin_runtime.api import _metrics

ticks = iter(range(0, 10_000))
_metrics.time.perf_counter = lambda: next(ticks) * 0.0015  # each request lasts 1.5 ms
metrics = _metrics.Metrics()
if sys.argv[1] == "first":
    metrics.load()


def app(environ, start_response):
    status = environ["status"]
    if environ.get("step"):
        environ["icon.step"] = ("action", environ["step"], "/api/v1/actions/<name>")
    start_response(status, [("Content-Type", "application/json")])
    return [b"{}"]


class Map:
    def bind_to_environ(self, environ):
        raise LookupError("no rule")


middleware = _metrics.MetricsMiddleware(app, metrics, Map)
calls = [("200 OK", "say_hello")] * 3 + [("400 BAD REQUEST", "say_hello"), ("404 NOT FOUND", None)]
calls += [("500 INTERNAL SERVER ERROR", "-"), ("200 OK", "sleep")]
loaded_during = []
for status, step in calls:
    body = middleware({"status": status, "step": step, "PATH_INFO": "/x"}, lambda *args: None)
    loaded_during.append("prometheus_client" in sys.modules)
    getattr(body, "close", lambda: None)()
text = metrics.scrape()[0].decode()
lines = [line for line in text.splitlines() if "_created" not in line]  # a timestamp: differs by nature
print(json.dumps({"lines": lines, "loaded_during": loaded_during}))
"""


def _probe(tmp_path: Path, order: str, multiprocess: bool) -> dict[str, Any]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROMETHEUS", "ICON_RUNTIME"))}
    if multiprocess:
        directory = tmp_path / f"metrics-{order}"
        directory.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    argv = [sys.executable, str(script), order]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("multiprocess", [True, False])
def test_counts_made_before_loading_show_as_if_it_was_loaded_first(tmp_path: Path, multiprocess: bool) -> None:
    later = _probe(tmp_path, "later", multiprocess)
    first = _probe(tmp_path, "first", multiprocess)
    assert later["loaded_during"][0] is False  # the first answer left before the library was imported
    assert first["loaded_during"] == [True] * 7
    if multiprocess:  # families and samples come in the order of the files, which the pids decide
        assert sorted(later["lines"]) == sorted(first["lines"])
    else:
        assert later["lines"] == first["lines"]
    text = "\n".join(later["lines"])
    assert 'icon_runtime_requests_total{endpoint="/api/v1/actions/<name>",kind="action",' in text
    assert 'status="200",step="say_hello"} 3.0' in text
    assert 'icon_runtime_requests_total{endpoint="<unmatched>",kind="api",status="404",step="-"} 1.0' in text
    assert 'icon_runtime_request_duration_seconds_bucket{kind="action",le="0.0025",step="say_hello"} 4.0' in text
    assert "icon_runtime_requests_in_flight 0.0" in text


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    environ["icon.step"] = ("action", "say_hello", "/api/v1/actions/<name>")
    start_response("200 OK", [])
    return [b"{}"]


def test_the_library_loads_once_the_first_answer_is_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setattr(_metrics, "LOAD_DELAY_SECONDS", 30.0)
    metrics = Metrics()
    body = MetricsMiddleware(_hello, metrics, object)({}, lambda *args: None)
    time.sleep(0.1)
    assert not metrics.loaded  # written but not closed yet: the loader still waits
    body.close()
    wait_for(lambda: metrics.loaded, timeout=10)
    series = metrics.load()
    assert series.requests.labels("action", "say_hello", "/api/v1/actions/<name>", "200")._value.get() == 1
    assert series.in_flight._value.get() == 0


def test_a_long_first_request_does_not_keep_the_library_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = Metrics()
    release = threading.Event()

    def slow(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(10)
        return _hello(environ, start_response)

    middleware = MetricsMiddleware(slow, metrics, object)
    worker = threading.Thread(target=lambda: middleware({}, lambda *args: None))
    worker.start()
    try:
        wait_for(lambda: metrics.loaded, timeout=10)  # after LOAD_DELAY_SECONDS, mid-request
        assert metrics.load().in_flight._value.get() == 1
    finally:
        release.set()
        worker.join(10)
    series = metrics.load()
    assert series.in_flight._value.get() == 0
    assert series.requests.labels("action", "say_hello", "/api/v1/actions/<name>", "200")._value.get() == 1


def _marker(directory: Path, pid: int) -> Path:
    return directory / _metrics.PENDING_MARKER.format(pid=pid)


def test_a_scrape_waits_for_processes_holding_plain_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    metrics = Metrics()
    _marker(tmp_path, 4242).touch()
    scraped: list[bytes] = []
    scrape = threading.Thread(target=lambda: scraped.append(metrics.scrape()[0]))
    scrape.start()
    scrape.join(0.5)
    assert scrape.is_alive() and not scraped
    _marker(tmp_path, 4242).unlink()
    scrape.join(5)
    assert not scrape.is_alive() and scraped


def test_a_scrape_waits_only_so_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(_metrics, "SCRAPE_WAIT_SECONDS", 0.3)
    _marker(tmp_path, 4242).touch()
    metrics = Metrics()
    metrics.load()
    started = time.monotonic()
    metrics.scrape()
    assert 0.25 < time.monotonic() - started < 5


def test_the_first_request_leaves_a_marker_until_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(_metrics, "LOAD_DELAY_SECONDS", 30.0)
    metrics = Metrics()
    metrics.started()
    assert _marker(tmp_path, os.getpid()).exists()
    metrics.finished("action", "say_hello", "/api/v1/actions/<name>", "200", 0.01)
    metrics.answered()
    wait_for(lambda: not _marker(tmp_path, os.getpid()).exists(), timeout=10)
    assert metrics.loaded


def test_a_dead_worker_leaves_no_marker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    _marker(tmp_path, 4242).touch()
    mark_process_dead(4242)
    assert not _marker(tmp_path, 4242).exists()
    mark_process_dead(4242)  # nothing left to remove: no error


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and all(
            f'{key}="{value}"' in line for key, value in labels.items()
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_first_requests_of_a_cold_server_are_counted_whichever_worker_is_scraped(tmp_path: Path) -> None:
    server: Server = start_server(tmp_path, None, ("--process-workers", "2", "--threads", "4"), wait=False)
    try:
        sleep = message("sleep")
        sleep["body"]["input"]["seconds"] = 1.5
        results: list[int] = []
        wait_for(lambda: _accepts(server.port), timeout=20)  # listening: no request before the sleeps

        def one() -> None:
            results.append(server.post("/api/v1/actions/sleep", sleep, timeout=30).status)

        threads = [threading.Thread(target=one) for _ in range(3)]
        for thread in threads:
            thread.start()
        wait_for(lambda: server.get("/api/v1/admin/status").json()["active_work"] == 3, timeout=10)
        during = server.get("/metrics").body.decode()
        assert _sample(during, "icon_runtime_requests_in_flight") == 4  # three sleeps and the scrape
        for thread in threads:
            thread.join(30)
        assert results == [200, 200, 200]
        after = server.get("/metrics").body.decode()
        assert _sample(after, "icon_runtime_requests_total", kind="action", step="sleep", status="200") == 3
        assert _sample(after, "icon_runtime_request_duration_seconds_count", kind="action", step="sleep") == 3
        assert _sample(after, "icon_runtime_requests_in_flight") == 1
    finally:
        server.stop()
