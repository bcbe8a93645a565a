"""Outgoing-HTTP fuzzing: a careful step survives every fault, a naive one is caught by the oracles,
and a hard-coded remote address is answered by the local fault server."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.request
from typing import Any

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import PluginException
from insightconnect_plugin_runtime.testing import Fault, FaultServer, PluginKit, fuzz_http

from . import http_plugin

CONNECTION = http_plugin.connection("http://placeholder.invalid")


def _checks(findings):
    return sorted({(f.check, f.detail.split(":")[0]) for f in findings})


def test_a_careful_step_survives_every_fault():
    findings = fuzz_http(
        http_plugin.HttpPlugin(), "action", "fetch_careful", CONNECTION, max_examples=5, budget_seconds=4
    )
    assert findings == []


def test_a_naive_step_lets_unclassified_errors_escape():
    findings = fuzz_http(
        http_plugin.HttpPlugin(), "action", "fetch_naive", CONNECTION, max_examples=0, budget_seconds=4
    )
    checks = _checks(findings)
    assert ("crash", "HTTPError") in checks and ("crash", "JSONDecodeError") in checks
    assert ("crash", "TypeError") in checks  # JSON null
    examples = {f.detail.split(":")[0]: f.example for f in findings}
    assert examples["HTTPError"].startswith("HTTP 4") and examples["JSONDecodeError"]


def test_the_connection_test_is_fuzzed_too():
    assert (
        fuzz_http(http_plugin.HttpPlugin(), "connection_test", "", CONNECTION, max_examples=2, budget_seconds=4) == []
    )


class _Hardcoded(insightconnect_plugin_runtime.Action):
    """Calls a constant remote address, sleeps past any budget on a slow answer, leaks on a 400."""

    def __init__(self) -> None:
        super().__init__("hardcoded", "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        request = urllib.request.Request("http://api.example.com/v1/items", headers={"X-Key": self.connection.key})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                body = reply.read()
                while not body:  # waits for content forever, a minute at a time
                    time.sleep(60)
                return {"size": len(body)}
        except urllib.error.HTTPError as error:
            echoed = error.read().decode()
            raise PluginException(
                cause="Refused.", assistance="", data=echoed.replace(self.connection.key, "")
            ) from None
        except (OSError, ValueError) as error:
            raise PluginException(cause="Unreachable.", assistance="", data=str(error)) from None


class _KeyConnection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=http_plugin.CONNECTION_SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.key = params["api_key"]["secretKey"]


def test_a_hard_coded_address_is_answered_by_the_fault_server_and_every_oracle_fires():
    plugin = insightconnect_plugin_runtime.Plugin(name="hc", vendor="t", version="1.0.0", connection=_KeyConnection())
    plugin.add_action(_Hardcoded())
    started = time.perf_counter()
    findings = fuzz_http(plugin, "action", "hardcoded", CONNECTION, max_examples=0, budget_seconds=2, slow_seconds=0.5)
    (late,) = [f for f in findings if f.check == "time"]
    assert late.example == "empty 200" and late.detail.startswith("still sleeping after 600 s of virtual time")
    assert time.perf_counter() - started < 30  # the minutes it slept were virtual


class _Patient(_Hardcoded):
    """Backs off and retries on 429/503 (30, 60, 120, 240 s), then gives up with a PluginException."""

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        for attempt in range(4):
            try:
                with urllib.request.urlopen("http://api.example.com/", timeout=5) as reply:
                    return {"size": len(reply.read())}
            except urllib.error.HTTPError as error:
                if error.code not in (429, 503):
                    raise PluginException(cause="Refused.", assistance="") from None
                time.sleep(30 * 2**attempt)
            except (OSError, ValueError, http.client.HTTPException) as error:
                raise PluginException(cause="Unreachable.", assistance="", data=str(error)) from None
        raise PluginException(cause="Still busy.", assistance="Retry later.")


def test_backing_off_on_429_and_503_costs_no_real_time_and_is_not_a_finding():
    plugin = insightconnect_plugin_runtime.Plugin(name="p", vendor="t", version="1.0.0", connection=_KeyConnection())
    action = _Patient()
    action.name = "patient"
    plugin.add_action(action)
    started = time.perf_counter()
    assert fuzz_http(plugin, "action", "patient", CONNECTION, max_examples=0, budget_seconds=3, slow_seconds=0.2) == []
    assert time.perf_counter() - started < 30  # 7.5 minutes of backoff per busy answer, all virtual


def test_the_echoed_request_reveals_a_transformed_secret():
    class Echo(_Hardcoded):
        def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
            request = urllib.request.Request("http://api.example.com/", headers={"X-Key": self.connection.key})
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as error:
                echoed = json.loads(error.read())["request"]["headers"].get("X-Key", "")
                raise PluginException(cause="Refused.", assistance="", data=echoed[:-3]) from None
            except (OSError, ValueError) as error:
                raise PluginException(cause="Unreachable.", assistance="", data=str(error)) from None
            return {}

    plugin = insightconnect_plugin_runtime.Plugin(name="echo", vendor="t", version="1.0.0", connection=_KeyConnection())
    action = Echo()
    action.name = "echo"
    plugin.add_action(action)
    findings = fuzz_http(plugin, "action", "echo", CONNECTION, max_examples=0, budget_seconds=3)
    leaks = [f for f in findings if f.check == "leak"]
    assert leaks and "core" in leaks[0].detail and leaks[0].example == "request echoed in a 400"


def test_the_fault_server_serves_each_fault_and_stays_on_loopback():
    with FaultServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        server.fault = Fault("cut", 200, b'{"items": []}', short_by=5)
        with socket.create_connection(("127.0.0.1", server.port)) as conn:
            conn.sendall(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
            reply = b""
            while chunk := conn.recv(4096):
                reply += chunk
        assert b"Content-Length: 13" in reply and reply.endswith(b'{"items"')
        server.fault = Fault("teapot", 418, b"short and stout", "text/plain", headers=(("X-A", "1"),))
        with _open(server.url) as status:
            assert status == 418
    assert server.requests == ["GET /x", "GET /"]


def _open(url):
    import contextlib

    try:
        urllib.request.urlopen(url, timeout=5)
    except urllib.error.HTTPError as error:
        assert error.headers["X-A"] == "1" and error.read() == b"short and stout"
        return contextlib.nullcontext(error.code)
    raise AssertionError("no HTTP error")


def test_the_kit_fuzzes_with_its_connection():
    kit = PluginKit(http_plugin.HttpPlugin(), CONNECTION)
    assert kit.fuzz_http("action", "fetch_careful", {"limit": 3}, max_examples=0, budget_seconds=4) == []


def test_redirected_to_sends_a_constant_remote_address_to_the_local_server():
    from insightconnect_plugin_runtime.testing import loopback_only, redirected_to

    with FaultServer() as server, loopback_only(), redirected_to(server.port) as asked:
        server.fault = Fault("ok", 200, b'{"items": [1, 2]}')
        with urllib.request.urlopen("http://api.example.com/v2/items?x=1", timeout=5) as reply:
            assert json.loads(reply.read()) == {"items": [1, 2]}
    assert server.requests == ["GET /v2/items?x=1"] and asked[0] == "api.example.com"


def test_an_https_api_called_with_urllib_is_answered_and_its_escaping_errors_reported():
    class Tls(_Hardcoded):
        def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
            urllib.request.urlopen("https://api.example.com/v1", timeout=5).close()  # lets HTTP errors escape
            return {}

    plugin = insightconnect_plugin_runtime.Plugin(name="tls", vendor="t", version="1.0.0", connection=_KeyConnection())
    action = Tls()
    action.name = "tls"
    plugin.add_action(action)
    findings = fuzz_http(plugin, "action", "tls", CONNECTION, max_examples=0, budget_seconds=3)
    assert [(f.check, f.detail, f.example) for f in findings if f.example == "HTTP 400"] == [
        ("crash", "HTTPError: HTTP Error 400: Bad Request", "HTTP 400")
    ]
    assert not any("SSL" in f.detail or "CERTIFICATE" in f.detail for f in findings)


def test_check_does_not_fuzz_a_connection_test_the_plugin_does_not_have():
    from insightconnect_plugin_runtime.testing import check_plugin

    class NoTest(insightconnect_plugin_runtime.Connection):
        def __init__(self) -> None:
            super().__init__(input={})

        def connect(self, params: dict[str, Any]) -> None:
            pass

    class Upper(insightconnect_plugin_runtime.Action):
        def __init__(self) -> None:
            super().__init__("upper", "", None, None)

        def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
            return {"text": str(params.get("text", "")).upper()}

    plugin = insightconnect_plugin_runtime.Plugin(name="s", vendor="t", version="1.0.0", connection=NoTest())
    plugin.add_action(Upper())
    assert check_plugin(plugin, {}, max_examples=4, budget_seconds=3) == []
