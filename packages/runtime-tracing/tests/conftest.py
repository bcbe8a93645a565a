"""Fixtures: isolated OpenTelemetry globals, an in-memory exporter and local HTTP receivers.

OpenTelemetry lets the global tracer provider be set once per process; tests reset that private
state the same way opentelemetry-test-utils does, so each test starts from "tracing off".
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from insightconnect_plugin_runtime import _tracing_setup

_ENV_VARS = (
    "otel_tracing",
    "PLUGIN_RUNTIME_ENVIRONMENT",
    "OTEL_SDK_DISABLED",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "ICON_RUNTIME_DISABLED_EXTENSIONS",
)


def _reset_global_provider() -> None:
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def clean_tracing(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    _tracing_setup.reset_for_tests()
    _reset_global_provider()
    yield
    _tracing_setup.reset_for_tests()
    _reset_global_provider()


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """A global SDK provider whose finished spans land in memory, synchronously."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    return memory


class FakePlugin:
    name = "Rapid7 Test Plugin"
    version = "1.2.3"
    vendor = "rapid7"


@pytest.fixture
def plugin() -> FakePlugin:
    return FakePlugin()


class _Recorder:
    """A local HTTP server that remembers every request's method, path, headers and body."""

    def __init__(self, respond: Any = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.received = threading.Event()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                recorder.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                status, content_type, payload = respond(body) if respond else (200, "text/plain", b"ok")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                recorder.received.set()

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_recorder() -> Iterator[_Recorder]:
    recorder = _Recorder()
    yield recorder
    recorder.close()


@pytest.fixture
def make_recorder() -> Iterator[Any]:
    """Build extra recorders (for instance a CPS stub); all are closed after the test."""
    made: list[_Recorder] = []

    def make(respond: Any = None) -> _Recorder:
        made.append(_Recorder(respond))
        return made[-1]

    yield make
    for recorder in made:
        recorder.close()


@pytest.fixture
def otlp_receiver() -> Iterator[_Recorder]:
    """An OTLP/HTTP traces endpoint that answers like a collector (empty ExportTraceServiceResponse)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    answer = ExportTraceServiceResponse().SerializeToString()
    recorder = _Recorder(respond=lambda body: (200, "application/x-protobuf", answer))
    yield recorder
    recorder.close()


def decode_otlp(recorder: _Recorder) -> list[dict[str, Any]]:
    """Every span the receiver got, flattened with its resource attributes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for request in recorder.requests:
        message = ExportTraceServiceRequest.FromString(request["body"])
        for resource_spans in message.resource_spans:
            resource = {kv.key: _any_value(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent_span_id": span.parent_span_id.hex(),
                            "attributes": {kv.key: _any_value(kv.value) for kv in span.attributes},
                            "status_code": span.status.code,
                            "events": [event.name for event in span.events],
                            "resource": resource,
                            "path": request["path"],
                        }
                    )
    return spans


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def otlp_decode() -> Any:
    return decode_otlp
