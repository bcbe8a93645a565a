"""Prometheus metrics for ``/metrics``, correct across every gunicorn worker.

prometheus_client's multiprocess mode is used rather than home-made counters: it is the format
Prometheus users know, and it already solves aggregation across processes (one memory-mapped file
per process and metric, summed on scrape). ``serve()`` creates a private temporary directory for it
and points ``PROMETHEUS_MULTIPROC_DIR`` at it *before* prometheus_client is imported (the library
reads the variable at import). When a worker dies the master marks it dead, so the in-flight gauge
(``livesum``) forgets it while counters keep what it counted.

Label values are bounded: the step label is a registered step name or ``-``, never a raw URL.
"""

from __future__ import annotations

import time
from typing import Any

from insightconnect_plugin_runtime.settings import text

#: Request duration buckets (seconds): plugin steps range from microseconds to minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def multiprocess_dir() -> str | None:
    return text("PROMETHEUS_MULTIPROC_DIR") or text("prometheus_multiproc_dir") or None


class Metrics:
    """The three series the server maintains, and the scrape."""

    def __init__(self) -> None:
        import prometheus_client

        self._client = prometheus_client
        self.multiprocess = bool(multiprocess_dir())
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
        gauge_options: dict[str, Any] = {"multiprocess_mode": "livesum"} if self.multiprocess else {}
        self.in_flight = prometheus_client.Gauge(
            "icon_runtime_requests_in_flight",
            "HTTP requests being answered right now, across all workers.",
            registry=self.registry,
            **gauge_options,
        )

        self._children: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}
        self.registry.register(OutboxCollector())

    def observe(self, kind: str, step: str, endpoint: str, status: str, seconds: float) -> None:
        key = (kind, step, endpoint, status)
        children = self._children.get(key)
        if children is None:  # labels() is the slow part: resolve each label set once
            children = (self.requests.labels(kind, step, endpoint, status), self.duration.labels(kind, step))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def scrape(self) -> tuple[bytes, str]:
        client = self._client
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            registry.register(OutboxCollector())
        else:
            registry = self.registry
        return client.generate_latest(registry), client.CONTENT_TYPE_LATEST


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
    """Master-side cleanup of a dead worker's live gauges."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


class MetricsMiddleware:
    """WSGI wrapper that times every request and counts it by step and status.

    Working at the WSGI level costs no Flask hooks or context-local lookups on the hot path. Step
    views put ``(kind, step, rule)`` into ``environ["icon.step"]``; other requests are labelled by
    their URL rule, resolved only for them.
    """

    def __init__(self, app: Any, metrics: Metrics, url_map: Any = None, url_map_of: Any = None) -> None:
        """``url_map`` is the app's werkzeug ``Map``; ``url_map_of`` a callable returning it when the
        app is built later (it is asked only once a request went through the app)."""
        self.app = app
        self.metrics = metrics
        self.url_map = url_map
        self.url_map_of = url_map_of

    def _rule(self, environ: dict[str, Any]) -> str:
        try:
            url_map = self.url_map if self.url_map is not None else self.url_map_of()
            rule, _ = url_map.bind_to_environ(environ).match(return_rule=True)
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
        metrics.in_flight.inc()
        try:
            return self.app(environ, record_status)
        finally:
            metrics.in_flight.dec()
            labels = environ.get("icon.step")
            kind, step, rule = labels if labels is not None else ("api", "-", self._rule(environ))
            status = seen[-1].split(" ", 1)[0] if seen else "500"
            metrics.observe(kind, step, rule, status, time.perf_counter() - started)
