"""Prometheus metrics for ``/metrics``, correct across every gunicorn worker.

prometheus_client's multiprocess mode is used rather than home-made counters: it is the format
Prometheus users know, and it already solves aggregation across processes (one memory-mapped file
per process and metric, summed on scrape). ``serve()`` creates a private temporary directory for it
and points ``PROMETHEUS_MULTIPROC_DIR`` at it *before* prometheus_client is imported (the library
reads the variable at import). When a worker dies the master marks it dead, so the in-flight gauge
(``livesum``) forgets it while counters keep what it counted.

Importing prometheus_client takes a process 20 to 30 ms, which a cold server would spend before its
first answer. So it is loaded only once a process has answered its first request (or that request
has run for :data:`LOAD_DELAY_SECONDS`), in a thread, or by the first scrape; until then the process
keeps what it counts in plain Python (:class:`Metrics` replays it into the series on loading). A
scrape waits (at most :data:`SCRAPE_WAIT_SECONDS`) for the processes that still hold counts in plain
Python, each of which says so with a marker file in the multiprocess directory, so that it reports
everything answered before it started, as when the library was loaded at start. Only a worker killed
in the few milliseconds between its first answer and the loading loses what it counted.

Label values are bounded: the step label is a registered step name or ``-``, never a raw URL.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from insightconnect_plugin_runtime.settings import text

#: Request duration buckets (seconds): plugin steps range from microseconds to minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
#: A process whose first request is still running after this long loads prometheus_client anyway,
#: so that a scrape elsewhere never waits for a long action to finish.
LOAD_DELAY_SECONDS = 0.05
#: Longest a scrape waits for other processes to load the library and write what they counted.
SCRAPE_WAIT_SECONDS = 2.0
#: Name of the marker file of a process that holds counts in plain Python (``{pid}`` is its id).
PENDING_MARKER = "icon_metrics_pending_{pid}"


def multiprocess_dir() -> str | None:
    return text("PROMETHEUS_MULTIPROC_DIR") or text("prometheus_multiproc_dir") or None


class _Series:
    """The three prometheus_client series the server maintains, in one registry."""

    def __init__(self, multiprocess: bool) -> None:
        import prometheus_client

        self.client = prometheus_client
        self.registry = prometheus_client.CollectorRegistry(auto_describe=True)
        self.requests = prometheus_client.Counter(
            "icon_runtime_requests",
            "HTTP requests answered, by step kind, step name, endpoint and status code.",
            ("kind", "step", "endpoint", "status"),
            registry=self.registry,
        )
        self.duration = prometheus_client.Histogram(
            "icon_runtime_request_duration_seconds",
            "Time to answer an HTTP request, by step kind and step name.",
            ("kind", "step"),
            buckets=BUCKETS,
            registry=self.registry,
        )
        gauge_options: dict[str, Any] = {"multiprocess_mode": "livesum"} if multiprocess else {}
        self.in_flight = prometheus_client.Gauge(
            "icon_runtime_requests_in_flight",
            "HTTP requests being answered right now, across all workers.",
            registry=self.registry,
            **gauge_options,
        )
        self.registry.register(OutboxCollector())
        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    def observe(self, key: tuple[str, str, str, str], seconds: float) -> None:
        children = self._children.get(key)
        if children is None:  # labels() is the slow part: resolve each label set once
            kind, step, endpoint, status = key
            children = (self.requests.labels(kind, step, endpoint, status), self.duration.labels(kind, step))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


class Metrics:
    """The server's series and the scrape; counts are kept in plain Python until :meth:`load`."""

    def __init__(self) -> None:
        self.directory = multiprocess_dir()
        self.multiprocess = bool(self.directory)
        self._series: _Series | None = None
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        #: Before loading: requests answered (labels, seconds) and requests being answered.
        self._pending: list[tuple[tuple[str, str, str, str], float]] = []
        self._pending_in_flight = 0
        self._loader: threading.Thread | None = None
        self._answered = threading.Event()

    @property
    def loaded(self) -> bool:
        return self._series is not None

    def load(self) -> _Series:
        """Import prometheus_client and create the series (once per process), then replay what was
        counted before; the marker file goes once the counts are in the series."""
        series = self._series
        if series is not None:
            return series
        with self._load_lock:  # the import, outside the counting lock: requests go on meanwhile
            if self._series is None:
                built = _Series(self.multiprocess)
                with self._lock:
                    for key, seconds in self._pending:
                        built.observe(key, seconds)
                    if self._pending_in_flight:
                        built.in_flight.inc(self._pending_in_flight)
                    self._pending.clear()
                    self._pending_in_flight = 0
                    self._series = built
                    if self._loader is not None:
                        self._remove_marker()
            return self._series  # type: ignore[return-value]

    def started(self) -> None:
        """A request is being answered (the in-flight gauge)."""
        series = self._series
        if series is None:
            with self._lock:
                series = self._series
                if series is None:
                    self._pending_in_flight += 1
                    if self._loader is None:
                        self._start_loader()
                    return
        series.in_flight.inc()

    def finished(self, kind: str, step: str, endpoint: str, status: str, seconds: float) -> None:
        """A request was answered: counted by its labels, timed, and out of the in-flight gauge."""
        key = (kind, step, endpoint, status)
        series = self._series
        if series is None:
            with self._lock:
                series = self._series
                if series is None:
                    self._pending_in_flight -= 1
                    self._pending.append((key, seconds))
                    return
        series.in_flight.dec()
        series.observe(key, seconds)

    def answered(self) -> None:
        """The first answer left (its body is written): the loader need not wait any longer."""
        self._answered.set()

    def _start_loader(self) -> None:
        """Called once, under the lock, by the first request of a process that has not loaded."""
        if self.directory is not None:
            marker = os.path.join(self.directory, PENDING_MARKER.format(pid=os.getpid()))
            os.close(os.open(marker, os.O_CREAT | os.O_WRONLY, 0o600))
        self._loader = threading.Thread(target=self._load_later, name="icon-metrics-loader", daemon=True)
        self._loader.start()

    def _load_later(self) -> None:
        self._answered.wait(LOAD_DELAY_SECONDS)
        self.load()

    def _remove_marker(self) -> None:
        if self.directory is not None:
            remove_marker(self.directory, os.getpid())

    def _wait_for_other_processes(self) -> None:
        """Until no other process holds counts in plain Python (bounded: a stuck one is left out)."""
        directory = self.directory
        if directory is None:
            return
        prefix = PENDING_MARKER.format(pid="")
        deadline = time.monotonic() + SCRAPE_WAIT_SECONDS
        while any(name.startswith(prefix) for name in os.listdir(directory)) and time.monotonic() < deadline:
            time.sleep(0.005)

    def scrape(self) -> tuple[bytes, str]:
        series = self.load()
        client = series.client
        if self.multiprocess:
            from prometheus_client import multiprocess

            self._wait_for_other_processes()
            registry = client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(OutboxCollector())
        else:
            registry = series.registry
        return client.generate_latest(registry), client.CONTENT_TYPE_LATEST


def remove_marker(directory: str, pid: int) -> None:
    try:
        os.remove(os.path.join(directory, PENDING_MARKER.format(pid=pid)))
    except FileNotFoundError:
        pass


class OutboxCollector:
    """Durable trigger outboxes of this container, read from their files on every scrape.

    Triggers run as separate one-shot processes, so their delivery figures cannot live in the
    server's memory: core's outbox persists them next to each trigger's checkpoint.
    """

    def describe(self) -> list[Any]:
        return []  # no fixed series: one per trigger found at scrape time

    def collect(self) -> Any:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        from insightconnect_plugin_runtime import outbox

        stats = outbox.stats()
        pending = GaugeMetricFamily(
            "icon_trigger_outbox_pending",
            "Trigger events stored in the durable outbox and not yet acknowledged by the orchestrator.",
            labels=["trigger_id"],
        )
        dead = GaugeMetricFamily(
            "icon_trigger_outbox_dead_letters",
            "Trigger events the orchestrator rejected for good, parked in the outbox's dead letters.",
            labels=["trigger_id"],
        )
        events = CounterMetricFamily(
            "icon_trigger_outbox_events",
            "Trigger outbox events by outcome: " + ", ".join(outbox.OUTCOMES) + ".",
            labels=["trigger_id", "outcome"],
        )
        for trigger in stats:
            pending.add_metric([trigger["trigger_id"]], trigger["pending"])
            dead.add_metric([trigger["trigger_id"]], trigger["dead_letters"])
            for outcome in outbox.OUTCOMES:
                events.add_metric([trigger["trigger_id"], outcome], trigger[outcome])
        yield dead
        yield pending
        yield events


def mark_process_dead(pid: int) -> None:
    """Master-side cleanup of a dead worker's live gauges, and of its marker (a worker killed before
    it loaded the library must not keep scrapes waiting)."""
    directory = multiprocess_dir()
    if directory:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
        remove_marker(directory, pid)


class MetricsMiddleware:
    """WSGI wrapper that times every request and counts it by step and status.

    Working at the WSGI level costs no Flask hooks or context-local lookups on the hot path. Step
    views put ``(kind, step, rule)`` into ``environ["icon.step"]``; other requests are labelled by
    their URL rule, resolved only for them.
    """

    def __init__(self, app: Any, metrics: Metrics, url_map_of: Any) -> None:
        """``url_map_of`` returns the app's werkzeug ``Map``; it is asked only once a request went
        through the app, so an app built later (``_deferred_app``) is not built for it."""
        self.app = app
        self.metrics = metrics
        self.url_map_of = url_map_of

    def _rule(self, environ: dict[str, Any]) -> str:
        try:
            rule, _ = self.url_map_of().bind_to_environ(environ).match(return_rule=True)
            return str(rule.rule)
        except Exception:  # 404 and 405 have no rule
            return "<unmatched>"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        seen: list[str] = []

        def record_status(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(status)
            if exc_info is None:
                return start_response(status, headers)
            return start_response(status, headers, exc_info)

        metrics = self.metrics
        metrics.started()
        try:
            body = self.app(environ, record_status)
        finally:
            labels = environ.get("icon.step")
            kind, step, rule = labels if labels is not None else ("api", "-", self._rule(environ))
            status = seen[-1].split(" ", 1)[0] if seen else "500"
            metrics.finished(kind, step, rule, status, time.perf_counter() - started)
        if metrics.loaded:
            return body
        return _ClosingBody(body, metrics.answered)


class _ClosingBody:
    """A response body that calls ``on_close`` once the server has written it (WSGI ``close()``)."""

    def __init__(self, body: Any, on_close: Any) -> None:
        self._body = body
        self._on_close = on_close

    def __iter__(self) -> Any:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._on_close()
