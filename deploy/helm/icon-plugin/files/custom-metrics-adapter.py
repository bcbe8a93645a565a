"""A minimal custom.metrics.k8s.io/v1beta1 adapter for icon-runtime plugins (standard library only).

It serves one kind of metric, ``pods/<METRIC_NAME>``: the step requests per second of each pod, computed
from the ``icon_runtime_requests_total`` counter of the runtime's ``/metrics`` (requests whose ``kind``
label is not ``api``, so probes and scrapes do not count). On every query it lists the pods matching the
HPA's label selector through the Kubernetes API, scrapes each running pod, and answers the counter's
rate since that pod's previous scrape (a query less than MIN_WINDOW seconds after the last scrape of a pod
gets the last rate again; a pod's first scrape answers 0).

Environment: METRIC_NAME (http_requests_per_second), WATCH_NAMESPACE (only this namespace is served),
PORT (8443), TLS_CERT / TLS_KEY (serving certificate; plain HTTP without them), MIN_WINDOW (2),
SCRAPE_TIMEOUT (2), METRICS_PORT (port when a pod has no icon-runtime.io/metrics-port annotation),
HANDSHAKE_TIMEOUT (5), IDLE_TIMEOUT (30), MAX_CONNECTIONS (128), BIND (0.0.0.0).
The Kubernetes API is reached with the pod's service account (in-cluster variables and files).

The accept loop only accepts: each connection gets its own thread, which does the TLS handshake with
HANDSHAKE_TIMEOUT and then reads requests with IDLE_TIMEOUT. A client that connects and says nothing
(or stops mid-request) holds one thread for at most that long, never the loop, so the API server's
queries keep being answered; past MAX_CONNECTIONS at once, new connections are closed unanswered.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUP_VERSION = "custom.metrics.k8s.io/v1beta1"
METRIC = os.environ.get("METRIC_NAME", "http_requests_per_second")
NAMESPACE = os.environ.get("WATCH_NAMESPACE", "")
MIN_WINDOW = float(os.environ.get("MIN_WINDOW", "2"))
SCRAPE_TIMEOUT = float(os.environ.get("SCRAPE_TIMEOUT", "2"))
HANDSHAKE_TIMEOUT = float(os.environ.get("HANDSHAKE_TIMEOUT", "5"))
IDLE_TIMEOUT = float(os.environ.get("IDLE_TIMEOUT", "30"))
MAX_CONNECTIONS = int(os.environ.get("MAX_CONNECTIONS", "128"))
DEFAULT_PORT = os.environ.get("METRICS_PORT", "10001")
SA = "/var/run/secrets/kubernetes.io/serviceaccount"
SAMPLE = re.compile(r"^icon_runtime_requests_total\{([^}]*)\}\s+([0-9.eE+-]+)")

_lock = threading.Lock()
_samples: dict[str, tuple[float, float, float]] = {}  # pod uid -> (time, counter, last rate)


def log(message: str) -> None:
    print(f"{datetime.datetime.now(datetime.UTC).isoformat()} {message}", file=sys.stderr, flush=True)


def api_get(path: str) -> dict:
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    with open(f"{SA}/token", encoding="utf-8") as handle:
        token = handle.read().strip()
    context = ssl.create_default_context(cafile=f"{SA}/ca.crt")
    request = urllib.request.Request(f"https://{host}:{port}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5, context=context) as answer:
        return json.load(answer)


def step_requests(text: str) -> float:
    total = 0.0
    for line in text.splitlines():
        match = SAMPLE.match(line)
        if match and 'kind="api"' not in match.group(1):
            total += float(match.group(2))
    return total


def pod_rate(pod: dict) -> float | None:
    status, meta = pod.get("status", {}), pod["metadata"]
    if status.get("phase") != "Running" or not status.get("podIP"):
        return None
    annotations = meta.get("annotations") or {}
    port = annotations.get("icon-runtime.io/metrics-port", DEFAULT_PORT)
    path = annotations.get("icon-runtime.io/metrics-path", "/metrics")
    now = time.monotonic()
    uid = meta["uid"]
    with _lock:
        previous = _samples.get(uid)
    if previous is not None and now - previous[0] < MIN_WINDOW:
        return previous[2]
    try:
        with urllib.request.urlopen(f"http://{status['podIP']}:{port}{path}", timeout=SCRAPE_TIMEOUT) as answer:
            counter = step_requests(answer.read().decode("utf-8", "replace"))
    except OSError as error:
        log(f"scrape of {meta['name']} failed: {error}")
        return previous[2] if previous else None
    if previous is None:
        rate = 0.0
    else:
        delta = counter - previous[1] if counter >= previous[1] else counter  # restarted: counter reset
        rate = max(0.0, delta / max(now - previous[0], 1e-6))
    with _lock:
        _samples[uid] = (now, counter, rate)
    return rate


def quantity(value: float) -> str:
    return f"{round(value * 1000)}m"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT  # socketserver sets it on the connection: a silent client is dropped

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def not_found(self) -> None:
        self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]  # the HPA asks for pod "%2A"
        if parts in (["healthz"], ["readyz"], ["livez"]):
            return self.reply(200, {"status": "ok"})
        if parts == ["apis", "custom.metrics.k8s.io"]:
            version = {"groupVersion": GROUP_VERSION, "version": "v1beta1"}
            return self.reply(
                200,
                {
                    "kind": "APIGroup",
                    "apiVersion": "v1",
                    "name": "custom.metrics.k8s.io",
                    "versions": [version],
                    "preferredVersion": version,
                },
            )
        if parts == ["apis", "custom.metrics.k8s.io", "v1beta1"]:
            resource = {
                "name": f"pods/{METRIC}",
                "singularName": "",
                "namespaced": True,
                "kind": "MetricValueList",
                "verbs": ["get"],
            }
            return self.reply(
                200,
                {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [resource]},
            )
        # /apis/custom.metrics.k8s.io/v1beta1/namespaces/<ns>/pods/<name or *>/<metric>
        if (
            len(parts) != 8
            or parts[:3] != ["apis", "custom.metrics.k8s.io", "v1beta1"]
            or parts[3] != "namespaces"
            or parts[5] != "pods"
            or parts[7] != METRIC
            or (NAMESPACE and parts[4] != NAMESPACE)
        ):
            return self.not_found()
        namespace, name = parts[4], parts[6]
        selector = urllib.parse.parse_qs(url.query).get("labelSelector", [""])[0]
        query = "?" + urllib.parse.urlencode({"labelSelector": selector}) if selector else ""
        try:
            if name == "*":
                pods = api_get(f"/api/v1/namespaces/{namespace}/pods{query}").get("items", [])
            else:
                pods = [api_get(f"/api/v1/namespaces/{namespace}/pods/{urllib.parse.quote(name)}")]
        except OSError as error:
            log(f"listing pods of {namespace} failed: {error}")
            return self.reply(
                503,
                {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503, "message": "cannot list pods"},
            )
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = []
        for pod in pods:
            rate = pod_rate(pod)
            if rate is None:
                continue
            items.append(
                {
                    "describedObject": {
                        "kind": "Pod",
                        "namespace": namespace,
                        "name": pod["metadata"]["name"],
                        "apiVersion": "/v1",
                    },
                    "metricName": METRIC,
                    "timestamp": now,
                    "value": quantity(rate),
                }
            )
        log(
            f"{namespace}/{name} {selector!r}: "
            + ", ".join(f"{i['describedObject']['name']}={i['value']}" for i in items)
        )
        self.reply(
            200,
            {
                "kind": "MetricValueList",
                "apiVersion": GROUP_VERSION,
                "metadata": {"selfLink": url.path},
                "items": items,
            },
        )


class Server(ThreadingHTTPServer):
    """Accepts plain TCP; the TLS handshake runs in the connection's own thread, under a timeout.

    Wrapping the listening socket instead would run every handshake inside accept(), in the one
    serving loop, with no timeout: a single idle connection would stop the adapter answering.
    """

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext | None) -> None:
        super().__init__(address, Handler)
        self.context = context
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        if not self.slots.acquire(blocking=False):
            log(f"{MAX_CONNECTIONS} connections open: closing one from {client_address[0]}")
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        try:
            if self.context is not None:
                request.settimeout(HANDSHAKE_TIMEOUT)
                try:
                    request = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
                    request.do_handshake()
                except (OSError, ValueError) as error:  # ssl.SSLError and socket.timeout are OSErrors
                    log(f"TLS handshake with {client_address[0]} failed: {error or type(error).__name__}")
                    self.shutdown_request(request)
                    return
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def main() -> None:
    port = int(os.environ.get("PORT", "8443"))
    cert, key = os.environ.get("TLS_CERT"), os.environ.get("TLS_KEY")
    context = None
    if cert and key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    server = Server((os.environ.get("BIND", "0.0.0.0"), port), context)
    log(f"serving pods/{METRIC} on :{port} ({'TLS' if cert else 'plain HTTP'}), namespace {NAMESPACE or '*'}")
    server.serve_forever()


if __name__ == "__main__":
    main()
