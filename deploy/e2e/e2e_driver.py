"""The checks of `make k8s-e2e`, run inside the cluster's network namespace by deploy/e2e/k8s-e2e.sh.

Installs the chart into the live 1.20 cluster and asserts: pods become ready; a request in flight
during a rolling restart succeeds and no request fails; a pod told to shut down (admin shutdown, pod
deletion) leaves the Service's endpoints before its server stops; load scales the Deployment out and
back in with no failed request; a trigger killed mid-run (SIGKILL, then pod deletion) resumes from the
checkpoint on its PersistentVolume with no event lost or duplicated; silent TCP connections held to the
metrics adapter all through autoscaling do not stop the HPA reading its metrics; admin calls from a pod of
another namespace are refused (admin on: no or a wrong token; after `helm upgrade` to the chart's default,
admin off), saying whether the network policy or the runtime's status refused them; the upgrade keeps
the adapter's CA and certificate and restarts neither the adapter nor the trigger. Every wait is bounded.
Prints the figures and writes them as JSON.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispatcher import Dispatcher  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MESSAGES = REPO / "samples" / "example" / "messages"
FIGURES: dict[str, object] = {}
FAILURES: list[str] = []


def log(text: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {text}", flush=True)


def check(ok: bool, what: str) -> None:
    log(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        FAILURES.append(what)


class Cluster:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ns = args.namespace
        self.env = {**os.environ, "KUBECONFIG": args.kubeconfig}

    def kubectl(self, *argv: str, timeout: float = 60, check_rc: bool = True) -> str:
        out = subprocess.run([self.args.kubectl, *argv], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check_rc and out.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(argv)}: {out.stderr.strip()}")
        return out.stdout

    def get(self, *argv: str) -> dict:
        return json.loads(self.kubectl("-n", self.ns, "get", *argv, "-o", "json"))

    def http_pods(self) -> list[dict]:
        sel = f"app.kubernetes.io/instance={self.args.release},app.kubernetes.io/component=http"
        return self.get("pods", "-l", sel)["items"]

    def ready_http_pods(self) -> list[dict]:
        def ready(pod: dict) -> bool:
            if pod["metadata"].get("deletionTimestamp"):
                return False
            conditions = pod.get("status", {}).get("conditions", [])
            return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

        return [p for p in self.http_pods() if ready(p)]

    def endpoint_ips(self, service: str) -> set[str]:
        ep = self.get("endpoints", service)
        return {a["ip"] for s in ep.get("subsets") or [] for a in s.get("addresses") or []}

    def deployment(self) -> dict:
        return self.get("deployment", self.args.fullname)

    def docker(self, *argv: str) -> str:
        out = subprocess.run(["docker", "-H", self.args.docker_host, *argv], capture_output=True, text=True, timeout=60)
        return out.stdout.strip()


def wait_until(predicate, limit: float, what: str, interval: float = 0.5):  # type: ignore[no-untyped-def]
    end = time.monotonic() + limit
    while True:
        try:
            value = predicate()
        except Exception as error:  # the API may blink while pods churn
            value = None
            last = error
        else:
            last = None
        if value:
            return value
        if time.monotonic() > end:
            raise TimeoutError(f"{what} not reached within {limit:.0f} s" + (f" ({last})" if last else ""))
        time.sleep(interval)


def post(url: str, body: bytes, timeout: float = 30, headers: dict[str, str] | None = None) -> int:
    headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return -1


class Load:
    """Fixed-rate POSTs of say_hello through the Service, a new connection per request."""

    def __init__(self, url: str, rate: float) -> None:
        self.url, self.rate = url, rate
        self.body = (MESSAGES / "say_hello.json").read_bytes()
        self.statuses: dict[int, int] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=64)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self) -> None:
        status = post(self.url, self.body, timeout=20)
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def _run(self) -> None:
        start, sent = time.monotonic(), 0
        while not self.stopping.is_set():
            due = start + sent / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                self.stopping.wait(delay)
                continue
            self.pool.submit(self._one)
            sent += 1

    def set_rate(self, rate: float) -> None:
        self.rate = rate  # takes effect for the next schedule
        self.stopping.set()
        self.thread.join()
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def start(self) -> Load:
        self.thread.start()
        return self

    def stop(self) -> dict[str, int]:
        self.stopping.set()
        self.thread.join()
        self.pool.shutdown(wait=True)
        with self.lock:
            ok = self.statuses.get(200, 0)
            return {
                "requests": sum(self.statuses.values()),
                "ok": ok,
                "failed": sum(self.statuses.values()) - ok,
                "statuses": dict(self.statuses),
            }


def timed(name: str):  # type: ignore[no-untyped-def]
    def wrap(fn):  # type: ignore[no-untyped-def]
        def run(*a, **k):  # type: ignore[no-untyped-def]
            started = time.monotonic()
            log(f"=== {name}")
            try:
                return fn(*a, **k)
            except Exception as error:
                check(False, f"{name}: {error}")
            finally:
                FIGURES.setdefault("target_seconds", {})[name] = round(time.monotonic() - started, 1)  # type: ignore[index]

        return run

    return wrap


@timed("install and ready")
def install(c: Cluster, values: Path) -> None:
    a = c.args
    c.kubectl("create", "namespace", c.ns)
    Path(a.pv_dir).mkdir(parents=True, exist_ok=True)
    os.chmod(a.pv_dir, 0o777)
    pv = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": "icon-e2e-trigger-state"},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": a.pv_dir, "type": "Directory"},
        },
    }
    subprocess.run(
        [a.kubectl, "apply", "-f", "-"],
        input=json.dumps(pv),
        text=True,
        env=c.env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    started = time.monotonic()
    out = subprocess.run(
        # Client-side apply: Kubernetes 1.20's beta server-side apply breaks on the APIService patch.
        [
            a.helm,
            "install",
            a.release,
            a.chart,
            "-n",
            c.ns,
            "-f",
            str(values),
            "--wait",
            "--timeout",
            "240s",
            "--server-side=false",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        env=c.env,
        timeout=300,
    )
    check(out.returncode == 0, f"helm install --wait ({out.stderr.strip()[-300:] or 'deployed'})")
    ready = wait_until(lambda: len(c.ready_http_pods()) >= 2 and c.ready_http_pods(), 120, "2 ready http pods")
    FIGURES["ready_seconds"] = round(time.monotonic() - started, 1)
    check(len(ready) >= 2, f"http pods ready after {FIGURES['ready_seconds']} s")
    kinds = c.kubectl(
        "-n", c.ns, "get", "hpa,pdb,statefulset", "-o", "jsonpath={range .items[*]}{.apiVersion} {.kind}{'\\n'}{end}"
    )
    log("API versions installed: " + ", ".join(sorted(set(kinds.split("\n")) - {""})))


@timed("rolling restart")
def rolling_restart(c: Cluster, svc: str) -> None:
    load = Load(svc + "/api/v1/actions/say_hello", rate=3).start()
    slow: dict[str, object] = {}
    body = json.loads((MESSAGES / "sleep.json").read_text())
    body["body"]["input"]["seconds"] = 8
    thread = threading.Thread(
        target=lambda: slow.update(status=post(svc + "/api/v1/actions/sleep", json.dumps(body).encode(), 60))
    )
    thread.start()
    time.sleep(1)
    before = {p["metadata"]["name"] for p in c.http_pods()}
    started = time.monotonic()
    c.kubectl("-n", c.ns, "rollout", "restart", f"deployment/{c.args.fullname}")
    c.kubectl("-n", c.ns, "rollout", "status", f"deployment/{c.args.fullname}", "--timeout=240s", timeout=260)
    FIGURES["rollout_seconds"] = round(time.monotonic() - started, 1)
    thread.join(60)
    time.sleep(2)
    result = load.stop()
    after = {p["metadata"]["name"] for p in c.ready_http_pods()}
    FIGURES["rollout_requests"] = result["requests"]
    FIGURES["rollout_failed_requests"] = result["failed"]
    check(not (before & after), "every pod was replaced")
    check(slow.get("status") == 200, f"request in flight during the rollout answered {slow.get('status')}")
    check(
        result["failed"] == 0, f"rollout: {result['requests']} requests, {result['failed']} failed {result['statuses']}"
    )


def watch_pod_shutdown(c: Cluster, pod: dict, trigger, svc: str) -> dict[str, float | None]:  # type: ignore[no-untyped-def]
    """Runs trigger() and times when the pod's IP leaves the endpoints and when its listener stops."""
    ip, service = pod["status"]["podIP"], c.args.fullname
    live = f"http://{ip}:{c.args.port}/api/v1/health/live"
    marks: dict[str, float | None] = {"left": None, "stopped": None}
    done = threading.Event()
    started = time.monotonic()

    def endpoints() -> None:
        while not done.is_set() and marks["left"] is None:
            try:
                if ip not in c.endpoint_ips(service):
                    marks["left"] = time.monotonic() - started
            except Exception:
                pass
            time.sleep(0.1)

    def listener() -> None:
        while not done.is_set() and marks["stopped"] is None:
            try:
                with urllib.request.urlopen(live, timeout=1) as answer:
                    answer.read()
            except urllib.error.HTTPError:
                pass
            except OSError:
                marks["stopped"] = time.monotonic() - started
            time.sleep(0.05)

    threads = [threading.Thread(target=endpoints, daemon=True), threading.Thread(target=listener, daemon=True)]
    for t in threads:
        t.start()
    trigger()
    end = time.monotonic() + 60
    while (marks["left"] is None or marks["stopped"] is None) and time.monotonic() < end:
        time.sleep(0.1)
    done.set()
    for t in threads:
        t.join(5)
    return {k: (round(v, 2) if v is not None else None) for k, v in marks.items()}


def admin_token(c: Cluster) -> str:
    """The token the chart made for the admin endpoints (http.admin.enabled, no existingSecret)."""
    data = c.get("secret", f"{c.args.fullname}-admin")["data"]
    return base64.b64decode(data["token"]).decode()


@timed("admin shutdown leaves the Service first")
def admin_shutdown(c: Cluster, svc: str) -> None:
    pod = c.ready_http_pods()[0]
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    load = Load(svc + "/api/v1/actions/say_hello", rate=3).start()
    auth = {"Authorization": f"Bearer {admin_token(c)}"}
    marks = watch_pod_shutdown(
        c, pod, lambda: post(f"http://{ip}:{c.args.port}/api/v1/admin/shutdown", b"", 10, auth), svc
    )
    result = load.stop()
    FIGURES["admin_shutdown_left_service_s"] = marks["left"]
    FIGURES["admin_shutdown_server_stopped_s"] = marks["stopped"]
    FIGURES["admin_shutdown_requests_503"] = result["statuses"].get(503, 0)
    FIGURES["admin_shutdown_requests"] = result["requests"]
    check(
        marks["left"] is not None and marks["stopped"] is not None and marks["left"] < marks["stopped"],
        f"admin shutdown: pod left the Service at {marks['left']} s, server stopped at {marks['stopped']} s",
    )
    wait_until(
        lambda: any(
            p["metadata"]["name"] == name and p["status"]["containerStatuses"][0]["restartCount"] > restarts
            for p in c.ready_http_pods()
        ),
        90,
        "the shut-down container restarted and ready",
    )
    log(f"{name} restarted and is ready again; requests meanwhile: {result}")


@timed("pod deletion leaves the Service first")
def delete_pod(c: Cluster, svc: str) -> None:
    pod = c.ready_http_pods()[0]
    name = pod["metadata"]["name"]
    load = Load(svc + "/api/v1/actions/say_hello", rate=3).start()
    marks = watch_pod_shutdown(c, pod, lambda: c.kubectl("-n", c.ns, "delete", "pod", name, "--wait=false"), svc)
    wait_until(lambda: len(c.ready_http_pods()) >= 2, 90, "2 ready http pods again")
    time.sleep(1)
    result = load.stop()
    FIGURES["readiness_drain_seconds"] = marks["left"]
    FIGURES["delete_server_stopped_s"] = marks["stopped"]
    FIGURES["delete_failed_requests"] = result["failed"]
    check(
        marks["left"] is not None and marks["stopped"] is not None and marks["left"] < marks["stopped"],
        f"deleted pod: left the Service at {marks['left']} s, listener closed at {marks['stopped']} s",
    )
    check(
        result["failed"] == 0,
        f"pod deletion: {result['requests']} requests, {result['failed']} failed {result['statuses']}",
    )


def hpa_status(c: Cluster) -> dict:
    # kubectl 1.20 reads autoscaling/v1 by default, whose status lacks currentMetrics and conditions
    return c.get("horizontalpodautoscalers.v2beta2.autoscaling", c.args.fullname).get("status", {})


@timed("autoscaling out and in")
def autoscale(c: Cluster, svc: str) -> None:
    a = c.args

    def metric_served() -> bool:
        status = hpa_status(c)
        conditions = {x["type"]: x["status"] for x in status.get("conditions", [])}
        return conditions.get("ScalingActive") == "True" and bool(status.get("currentMetrics"))

    idle = IdleConnections(adapter_ip(c), a.adapter_port, count=4).start()
    try:
        _autoscale(c, svc, metric_served, idle)
    finally:
        held = idle.stop()
    FIGURES["adapter_idle_connections"] = held
    check(
        held["opened"] > 0 and held["closed_by_adapter"] > 0,
        f"{held['count']} silent TCP connections held to the adapter all through autoscaling"
        f" ({held['opened']} opened, {held['closed_by_adapter']} closed by the adapter after its handshake"
        f" timeout, longest held {held['longest_held_s']} s) while the HPA read its metrics",
    )


def _autoscale(c: Cluster, svc: str, metric_served, idle) -> None:  # type: ignore[no-untyped-def]
    a = c.args
    time.sleep(1)  # the silent connections are open before the first metric query
    started = time.monotonic()
    wait_until(metric_served, 240, "HPA reading the custom metric (ScalingActive)", interval=2)
    FIGURES["hpa_metric_active_after_s"] = round(time.monotonic() - started, 1)
    log(f"HPA active: {json.dumps(hpa_status(c).get('currentMetrics'))}")
    took, answer = metrics_api(c)
    FIGURES["metrics_api_seconds_with_idle_connections"] = took
    check(
        answer.get("kind") == "MetricValueList" and idle.open_now() > 0,
        f"metrics API through the aggregator answered in {took} s with {idle.open_now()} silent connections open",
    )
    load = Load(svc + "/api/v1/actions/say_hello", rate=a.load_rate).start()
    started = time.monotonic()
    peak, reached_at = 0, None
    end = started + 150
    while time.monotonic() < end:
        dep = c.deployment()
        ready = dep.get("status", {}).get("readyReplicas", 0)
        if ready > peak:
            peak = ready
            log(f"ready replicas {ready} (desired {dep['spec'].get('replicas')}) at {time.monotonic() - started:.0f} s")
        if ready >= a.max_replicas:
            reached_at = round(time.monotonic() - started, 1)
            break
        time.sleep(1)
    time.sleep(5)
    out = load.stop()
    FIGURES["replicas_reached"] = peak
    FIGURES["scale_out_seconds"] = reached_at
    FIGURES["scale_out_requests"] = out["requests"]
    FIGURES["scale_out_failed_requests"] = out["failed"]
    check(peak >= a.max_replicas, f"scaled out to {peak} ready replicas (max {a.max_replicas}) in {reached_at} s")
    check(out["failed"] == 0, f"scale-out: {out['requests']} requests, {out['failed']} failed {out['statuses']}")

    light = Load(svc + "/api/v1/actions/say_hello", rate=1).start()
    started = time.monotonic()
    try:
        wait_until(
            lambda: (
                c.deployment()["spec"]["replicas"] <= a.min_replicas
                and c.deployment()["status"].get("replicas", 99) <= a.min_replicas
            ),
            240,
            "scale-in to min",
            interval=2,
        )
        FIGURES["scale_in_seconds"] = round(time.monotonic() - started, 1)
    finally:
        time.sleep(2)
        res = light.stop()
    FIGURES["scale_in_requests"] = res["requests"]
    FIGURES["scale_in_failed_requests"] = res["failed"]
    check(True, f"scaled back in to {a.min_replicas} in {FIGURES.get('scale_in_seconds')} s")
    check(res["failed"] == 0, f"scale-in: {res['requests']} requests, {res['failed']} failed {res['statuses']}")


def adapter_ip(c: Cluster) -> str:
    sel = f"app.kubernetes.io/instance={c.args.release},app.kubernetes.io/component=metrics-adapter"
    pods = [p for p in c.get("pods", "-l", sel)["items"] if p["status"].get("podIP")]
    return pods[0]["status"]["podIP"]


def metrics_api(c: Cluster) -> tuple[float, dict]:
    """One custom-metrics query through the API server's aggregator (as the HPA makes it)."""
    selector = urllib.parse.quote(f"app.kubernetes.io/instance={c.args.release},app.kubernetes.io/component=http")
    path = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{c.ns}/pods/*/http_requests_per_second"
    started = time.monotonic()
    out = c.kubectl("get", "--raw", f"{path}?labelSelector={selector}", timeout=30)
    return round(time.monotonic() - started, 2), json.loads(out)


class IdleConnections:
    """Keeps `count` TCP connections open to the adapter that never send a byte (reopened when closed)."""

    def __init__(self, host: str, port: int, count: int) -> None:
        self.host, self.port, self.count = host, port, count
        self.opened = self.closed_by_peer = 0
        self.longest = 0.0
        self.open = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._hold, daemon=True) for _ in range(count)]

    def _hold(self) -> None:
        while not self.stopping.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=5)
            except OSError:
                self.stopping.wait(0.5)
                continue
            opened = time.monotonic()
            with self.lock:
                self.opened += 1
                self.open += 1
            sock.settimeout(0.5)
            closed = False
            while not self.stopping.is_set():
                try:
                    if sock.recv(1) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            sock.close()
            with self.lock:
                self.open -= 1
                self.closed_by_peer += closed
                self.longest = max(self.longest, time.monotonic() - opened)

    def open_now(self) -> int:
        with self.lock:
            return self.open

    def start(self) -> IdleConnections:
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> dict[str, object]:
        self.stopping.set()
        for t in self.threads:
            t.join(5)
        return {
            "count": self.count,
            "opened": self.opened,
            "closed_by_adapter": self.closed_by_peer,
            "longest_held_s": round(self.longest, 1),
        }


def served_certificate(c: Cluster) -> tuple[str, str]:
    """(sha256 of the certificate the adapter serves, sha256 of the APIService's caBundle), after checking
    that the caBundle verifies the served certificate for the Service's DNS name."""
    ca = base64.b64decode(c.get("apiservice", "v1beta1.custom.metrics.k8s.io")["spec"]["caBundle"]).decode()
    ip, name = adapter_ip(c), f"{c.args.fullname}-metrics-adapter.{c.ns}.svc"
    pem = ssl.get_server_certificate((ip, c.args.adapter_port), timeout=10)
    context = ssl.create_default_context(cadata=ca)
    with socket.create_connection((ip, c.args.adapter_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=name):
            pass  # raises unless the caBundle vouches for the served certificate
    return hashlib.sha256(pem.encode()).hexdigest()[:16], hashlib.sha256(ca.encode()).hexdigest()[:16]


INTRUDER = """
import json, sys, urllib.request, urllib.error
for url in sys.argv[1:]:
    for auth in (None, "Bearer wrong-token"):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = auth
        request = urllib.request.Request(url, data=b"{}", headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                result = {"status": answer.status}
        except urllib.error.HTTPError as error:
            result = {"status": error.code}
        except OSError as error:
            result = {"network_error": f"{type(error).__name__}: {error}"}
        print(json.dumps({"url": url, "token": bool(auth), **result}), flush=True)
"""


def admin_from_another_pod(c: Cluster, label: str) -> dict[str, object]:
    """Admin calls (no token, a wrong token) from a pod of another namespace to every http pod."""
    a = c.args
    urls = [
        f"http://{p['status']['podIP']}:{a.port}{path}"
        for p in c.ready_http_pods()
        for path in ("/api/v1/workers/add", "/api/v1/admin/shutdown")
    ]
    name = f"intruder-{label}"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "intruder"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "containers": [
                {
                    "name": "call",
                    "image": a.image,
                    "imagePullPolicy": "Never",
                    "command": ["python3", "-c", INTRUDER, *urls],
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
                }
            ],
        },
    }
    c.kubectl("create", "namespace", "intruder", check_rc=False)

    def create() -> bool:  # refused until the namespace's default service account exists
        out = subprocess.run(
            [a.kubectl, "apply", "-f", "-"], input=json.dumps(pod), text=True, env=c.env, capture_output=True,
            timeout=60,
        )  # fmt: skip
        return out.returncode == 0

    wait_until(create, 60, f"pod intruder/{name} created", interval=1)
    phase = wait_until(
        lambda: (
            json.loads(c.kubectl("-n", "intruder", "get", "pod", name, "-o", "json"))["status"].get("phase")
            in ("Succeeded", "Failed")
            and json.loads(c.kubectl("-n", "intruder", "get", "pod", name, "-o", "json"))["status"]["phase"]
        ),
        120,
        f"pod intruder/{name} finished",
    )
    lines = [json.loads(x) for x in c.kubectl("-n", "intruder", "logs", name).splitlines() if x.startswith("{")]
    refused = {
        "calls": len(lines),
        "by_network": sum("network_error" in x for x in lines),
        "by_status": {},
        "accepted": [x for x in lines if "status" in x and x["status"] < 400],
    }
    for x in lines:
        if "status" in x:
            refused["by_status"][str(x["status"])] = refused["by_status"].get(str(x["status"]), 0) + 1  # type: ignore[index]
    log(f"{name} ({phase}): " + "; ".join(json.dumps(x) for x in lines))
    return refused


def _all_refused(result: dict, statuses: set[str]) -> bool:
    by_status = result["by_status"]
    return (
        result["calls"] > 0
        and not result["accepted"]
        and set(by_status) <= statuses
        and result["by_network"] + sum(by_status.values()) == result["calls"]
    )


def _how(result: dict) -> str:
    """Which layer refused the calls: the runtime (its status) or the network policy (no connection)."""
    parts = [
        f"{'the runtime: HTTP' if int(code) >= 400 else 'nothing, ACCEPTED with HTTP'} {code} x{n}"
        for code, n in sorted(result["by_status"].items())
    ]
    if result["by_network"]:
        parts.append(f"no connection (the network policy, where the CNI enforces it) x{result['by_network']}")
    return ", ".join(parts) or "no call made"


@timed("admin calls from another namespace refused; helm upgrade keeps the adapter's CA")
def admin_refused_and_upgrade(c: Cluster, values: Path) -> None:
    a = c.args
    on = admin_from_another_pod(c, "admin-on")
    FIGURES["admin_from_other_namespace_admin_on"] = on
    check(
        _all_refused(on, {"401"}),
        f"admin on, token required: {on['calls']} calls without or with a wrong token; refused by {_how(on)}",
    )
    cert_before, ca_before = served_certificate(c)
    adapter_uid = c.get("pods", "-l", "app.kubernetes.io/component=metrics-adapter")["items"][0]["metadata"]["uid"]
    sts = f"{a.fullname}-trigger-greeting"
    trigger_uid = c.get("pod", f"{sts}-0")["metadata"]["uid"]
    upgraded = json.loads(values.read_text())
    upgraded["http"] = {"admin": {"enabled": False}}  # the chart's default
    values.write_text(json.dumps(upgraded))
    started = time.monotonic()
    out = subprocess.run(
        [a.helm, "upgrade", a.release, a.chart, "-n", c.ns, "-f", str(values), "--wait", "--timeout", "240s",
         "--server-side=false"],
        capture_output=True, text=True, env=c.env, timeout=300,
    )  # fmt: skip
    FIGURES["helm_upgrade_seconds"] = round(time.monotonic() - started, 1)
    check(out.returncode == 0, f"helm upgrade --wait ({out.stderr.strip()[-300:] or 'upgraded'})")
    c.kubectl("-n", c.ns, "rollout", "status", f"deployment/{a.fullname}", "--timeout=240s", timeout=260)
    cert_after, ca_after = served_certificate(c)
    adapter_uid_after = c.get("pods", "-l", "app.kubernetes.io/component=metrics-adapter")["items"][0]["metadata"][
        "uid"
    ]
    FIGURES["upgrade_adapter_cert_sha256"] = {"before": cert_before, "after": cert_after}
    FIGURES["upgrade_caBundle_sha256"] = {"before": ca_before, "after": ca_after}
    check(
        cert_before == cert_after and ca_before == ca_after,
        f"helm upgrade kept the CA ({ca_before} -> {ca_after}) and the served certificate"
        f" ({cert_before} -> {cert_after}); the caBundle verifies it",
    )
    check(adapter_uid == adapter_uid_after, "the adapter was not restarted by the upgrade (same pair)")
    took, answer = metrics_api(c)
    check(answer.get("kind") == "MetricValueList", f"metrics API after the upgrade answered in {took} s")
    trigger_uid_after = c.get("pod", f"{sts}-0")["metadata"]["uid"]
    check(trigger_uid == trigger_uid_after, "the trigger pod was not restarted by the upgrade (salted checksum stable)")
    off = admin_from_another_pod(c, "admin-off")
    FIGURES["admin_from_other_namespace_admin_off"] = off
    check(
        _all_refused(off, {"404"}),
        f"admin off (chart default): {off['calls']} calls from another namespace; refused by {_how(off)}",
    )


@timed("trigger resumes from its checkpoint")
def trigger(c: Cluster, dispatcher: Dispatcher) -> None:
    a = c.args
    sts = f"{a.fullname}-trigger-greeting"
    try:
        wait_until(lambda: dispatcher.count() >= 15, 120, "15 trigger events")
    except Exception:
        log(
            "trigger pod logs: " + c.kubectl("-n", a.namespace, "logs", f"{sts}-0", "--tail=30", check_rc=False)[-3000:]
        )
        raise

    def container_id() -> str:
        return c.docker(
            "ps",
            "-q",
            "--filter",
            f"label=io.kubernetes.pod.name={sts}-0",
            "--filter",
            "label=io.kubernetes.container.name=trigger",
        )

    resumes = []
    # 1. SIGKILL the trigger process mid-run: the kubelet restarts the container in the same pod.
    before = dispatcher.max_number()
    cid = wait_until(container_id, 30, "trigger container")
    killed = time.monotonic()
    c.docker("kill", "--signal", "KILL", cid)
    log(f"SIGKILLed trigger container {cid[:12]} after event {before}")
    wait_until(lambda: dispatcher.max_number() >= before + 10, 120, "10 events after the SIGKILL")
    resumes.append(("SIGKILL", round(time.monotonic() - killed, 1)))
    # 2. Delete the pod: the StatefulSet makes a new one that mounts the same PersistentVolume.
    before = dispatcher.max_number()
    uid = c.get("pod", f"{sts}-0")["metadata"]["uid"]
    deleted = time.monotonic()
    c.kubectl("-n", c.ns, "delete", "pod", f"{sts}-0", "--wait=false")
    log(f"deleted pod {sts}-0 after event {before}")
    wait_until(lambda: c.get("pod", f"{sts}-0")["metadata"]["uid"] != uid, 120, "a new trigger pod")
    wait_until(lambda: dispatcher.max_number() >= before + 10, 180, "10 events from the new pod")
    resumes.append(("pod deleted", round(time.monotonic() - deleted, 1)))
    logs = c.kubectl("-n", c.ns, "logs", f"{sts}-0", "--tail=400", check_rc=False)
    summary = dispatcher.summary()
    FIGURES["trigger"] = {**summary, "resumed_after_s": dict(resumes)}
    check(summary["lost"] == 0, f"trigger events lost: {summary['lost']} of {summary['max_number']}")
    check(
        summary["duplicated"] == 0,
        f"trigger events duplicated: {summary['duplicated']}"
        f" (repeated posts with the same key: {summary['repeated_posts']})",
    )
    check("Emitting greeting" in logs, "the new trigger pod runs")


def main() -> int:
    p = argparse.ArgumentParser()
    for name in ("kubectl", "kubeconfig", "helm", "chart", "docker-host", "node-ip", "pv-dir", "figures", "image"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--namespace", default="plugins")
    p.add_argument("--release", default="ex")
    p.add_argument("--dispatcher-port", type=int, default=18080)
    p.add_argument("--port", type=int, default=10001)
    p.add_argument("--adapter-port", type=int, default=8443)
    p.add_argument("--min-replicas", type=int, default=2)
    p.add_argument("--max-replicas", type=int, default=5)
    p.add_argument("--load-rate", type=float, default=14)
    args = p.parse_args()
    args.fullname = f"{args.release}-icon-plugin"
    c = Cluster(args)
    dispatcher = Dispatcher(args.node_ip, args.dispatcher_port).start()
    repo, tag = args.image.rsplit(":", 1)
    values = Path(args.pv_dir).parent / "e2e-values.yaml"
    values.parent.mkdir(parents=True, exist_ok=True)
    values.write_text(
        json.dumps(
            {
                "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
                "autoscaling": {
                    "enabled": True,
                    "metric": "requests",
                    "requestsPerSecondPerPod": "2",
                    "minReplicas": args.min_replicas,
                    "maxReplicas": args.max_replicas,
                    "behavior": {
                        "scaleUp": {
                            "stabilizationWindowSeconds": 0,
                            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 10}],
                        },
                        "scaleDown": {
                            "stabilizationWindowSeconds": 20,
                            "policies": [{"type": "Pods", "value": 2, "periodSeconds": 10}],
                        },
                    },
                },
                "metricsAdapter": {"enabled": True},
                # admin on behind the chart-made token; the upgrade check turns it back off (the default)
                "http": {"admin": {"enabled": True}},
                "triggerDefaults": {"persistence": {"storageClassName": "", "size": "1Gi"}},
                "triggers": [
                    {
                        "name": "greeting",
                        "trigger": "emit_greeting",
                        "triggerId": "greeting-1",
                        "dispatcherUrl": f"http://{args.node_ip}:{args.dispatcher_port}/events",
                        "input": {"name": "World", "interval": 0.2},
                        "connection": {"api_key": {"secretKey": "e2e-secret-key"}, "greeting_prefix": "Hello"},
                        "env": {"ICON_RUNTIME_OUTBOX_BACKOFF": "0.2"},
                    }
                ],
            }
        )
    )
    install(c, values)
    if FAILURES:
        log(
            "install failed; events: "
            + c.kubectl("-n", args.namespace, "get", "events", "--sort-by=.lastTimestamp", check_rc=False)[-3000:]
        )
    else:
        svc_ip = c.get("service", args.fullname)["spec"]["clusterIP"]
        svc = f"http://{svc_ip}:{args.port}"
        rolling_restart(c, svc)
        delete_pod(c, svc)
        admin_shutdown(c, svc)
        autoscale(c, svc)
        trigger(c, dispatcher)
        admin_refused_and_upgrade(c, values)
    dispatcher.stop()
    FIGURES["failures"] = FAILURES
    Path(args.figures).write_text(json.dumps(FIGURES, indent=2))
    print(json.dumps(FIGURES, indent=2))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
