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

import os
from typing import Any

#: Request duration buckets (seconds): plugin steps range from microseconds to minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


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

    def observe(self, kind: str, step: str, endpoint: str, status: int, seconds: float) -> None:
        self.requests.labels(kind, step, endpoint, str(status)).inc()
        self.duration.labels(kind, step).observe(seconds)

    def scrape(self) -> tuple[bytes, str]:
        client = self._client
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return client.generate_latest(registry), client.CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Master-side cleanup of a dead worker's live gauges."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
