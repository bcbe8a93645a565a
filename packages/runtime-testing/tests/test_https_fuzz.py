"""Outgoing-HTTP fuzzing of ``https://`` APIs: the plugin's client completes a real TLS handshake with
the fault server and verifies its certificate, gets every fault, is judged as over plain HTTP; the
run's authority is trusted only while the run lasts, and nothing leaves loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime import _testing_http_fuzz
from insightconnect_plugin_runtime._testing_network import _is_loopback
from insightconnect_plugin_runtime.exceptions import PluginException
from insightconnect_plugin_runtime.testing import (
    Fault,
    FaultServer,
    check_plugin,
    fuzz_http,
    loopback_only,
    redirected_to,
)

from . import http_plugin

requests = pytest.importorskip("requests")  # the client most plugins use; absent from the core-only env

#: ``wrap_socket`` as the ssl module has it, taken before any test patches it: a client outside the kit's reach.
UNPATCHED_WRAP_SOCKET = ssl.SSLContext.wrap_socket
HOST = "api.made-up.test"
PLACEHOLDER = http_plugin.connection("http://placeholder.invalid")


class _KeyConnection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=http_plugin.CONNECTION_SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.key = params["api_key"]["secretKey"]


class _Naive(insightconnect_plugin_runtime.Action):
    """requests against a constant address, certificates verified (unless ``VERIFY`` is false); lets
    HTTP errors, malformed JSON and unexpected shapes escape unclassified."""

    BASE = f"https://{HOST}"
    VERIFY = True

    def __init__(self) -> None:
        super().__init__(self.NAME, "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        try:
            reply = requests.get(
                f"{self.BASE}/v1/items", headers={"X-Key": self.connection.key}, timeout=5, verify=self.VERIFY
            )
        except requests.ConnectionError as error:
            raise PluginException(cause="Unreachable.", assistance="", data=str(error)) from None
        reply.raise_for_status()
        return {"count": len(reply.json()["items"])}


def _plugin(base: str, verify: bool = True) -> Any:
    action_class = type("Naive", (_Naive,), {"NAME": "naive", "BASE": base, "VERIFY": verify})
    plugin = insightconnect_plugin_runtime.Plugin(name="api", vendor="t", version="1.0.0", connection=_KeyConnection())
    plugin.add_action(action_class())
    return plugin


def _checks(findings):
    return sorted({(f.check, f.detail.split(":")[0]) for f in findings})


@pytest.fixture(scope="module")
def https_run():
    """One fuzz run of the requests step against ``https://api.made-up.test``, watched from below the
    kit's patches: every socket connection and name lookup that really happens, every TLS handshake
    (the context that made it, the certificate the client accepted); the run's fault server is kept."""
    connects: list[Any] = []
    lookups: list[Any] = []
    handshakes: list[dict[str, Any]] = []
    kept: list[FaultServer] = []
    real = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo, ssl.SSLContext.wrap_socket)

    def connect(sock, address):
        connects.append(address)
        return real[0](sock, address)

    def connect_ex(sock, address):
        connects.append(address)
        return real[1](sock, address)

    def getaddrinfo(host, *args, **kwargs):
        lookups.append(host)
        return real[2](host, *args, **kwargs)

    def wrap_socket(context, sock, server_side=False, *args, **kwargs):
        wrapped = real[3](context, sock, server_side, *args, **kwargs)
        if not server_side:
            names = [value for _, value in wrapped.getpeercert().get("subjectAltName", ())]
            handshakes.append({"verify": context.verify_mode, "check_hostname": context.check_hostname, "names": names})
        return wrapped

    class KeptServer(FaultServer):
        def __exit__(self, *exc: Any) -> None:  # shut by the fixture, after the trust test used it
            kept.append(self)

    patches = [
        (socket.socket, "connect", connect),
        (socket.socket, "connect_ex", connect_ex),
        (socket, "getaddrinfo", getaddrinfo),
        (ssl.SSLContext, "wrap_socket", wrap_socket),
        (_testing_http_fuzz, "FaultServer", KeptServer),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        findings = fuzz_http(
            _plugin(f"https://{HOST}"), "action", "naive", PLACEHOLDER, max_examples=2, budget_seconds=2
        )
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
    yield {"findings": findings, "connects": connects, "lookups": lookups, "handshakes": handshakes, "server": kept[0]}
    kept[0].httpd.shutdown()
    kept[0].httpd.server_close()


def test_an_https_api_gets_every_fault_and_the_findings_of_plain_http(https_run):
    plain = fuzz_http(_plugin(f"http://{HOST}"), "action", "naive", PLACEHOLDER, max_examples=2, budget_seconds=2)
    checks = _checks(https_run["findings"])
    assert (
        ("crash", "HTTPError") in checks and ("crash", "JSONDecodeError") in checks and ("crash", "TypeError") in checks
    )
    assert checks == _checks(plain)
    assert not any("SSL" in f.detail for f in https_run["findings"])
    server = https_run["server"]
    assert len(server.requests) >= len(_testing_http_fuzz.standard_faults(0.5, 1)) and not server.tls_failures


def test_the_client_verified_a_certificate_for_the_host_it_asked_for(https_run):
    handshakes = https_run["handshakes"]
    assert handshakes, "no TLS handshake reached the fault server"
    assert all(h["verify"] == ssl.CERT_REQUIRED and h["check_hostname"] for h in handshakes)
    assert all(h["names"] == [HOST] for h in handshakes)
    assert https_run["server"].authority.issued == [HOST]


def test_no_connection_or_lookup_of_the_run_leaves_loopback(https_run):
    assert https_run["connects"] and all(address[0] == "127.0.0.1" for address in https_run["connects"])
    assert https_run["lookups"] and all(_is_loopback(host) for host in https_run["lookups"])


def test_after_the_run_its_authority_is_no_longer_trusted(https_run):
    server = https_run["server"]
    assert ssl.SSLContext.wrap_socket is UNPATCHED_WRAP_SOCKET
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(server.https_url, timeout=5)
    with loopback_only(), redirected_to(server.port), pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{HOST}/v1/items", timeout=5)
    assert not server.authority.trusts(ssl.create_default_context())


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_step_that_does_not_verify_certificates_is_fuzzed_too():
    findings = fuzz_http(
        _plugin(f"https://{HOST}", verify=False), "action", "naive", PLACEHOLDER, max_examples=0, budget_seconds=2
    )
    assert ("crash", "HTTPError") in _checks(findings) and not any("SSL" in f.detail for f in findings)


def test_an_https_connection_url_stays_https_and_urllib_is_answered():
    connection = http_plugin.connection("https://placeholder.invalid/api")
    plugin = http_plugin.HttpPlugin()
    assert fuzz_http(plugin, "action", "fetch_careful", connection, max_examples=0, budget_seconds=2) == []
    checks = _checks(fuzz_http(plugin, "action", "fetch_naive", connection, max_examples=0, budget_seconds=2))
    assert ("crash", "HTTPError") in checks and ("crash", "JSONDecodeError") in checks
    with FaultServer() as server:
        aimed = _testing_http_fuzz.aim_connection(connection, http_plugin.CONNECTION_SCHEMA, server)
        assert aimed["url"] == server.https_url and server.https_url.startswith("https://127.0.0.1:")
        assert (
            _testing_http_fuzz.aim_connection(PLACEHOLDER, http_plugin.CONNECTION_SCHEMA, server)["url"] == server.url
        )


def test_trust_holds_while_entered_for_sockets_and_asyncio_and_is_put_back():
    with FaultServer() as server, loopback_only(), redirected_to(server.port):
        server.fault = Fault("ok", 200, b'{"items": [1]}')
        with server.trusted():
            assert requests.get(f"https://{HOST}/a", timeout=5).json() == {"items": [1]}
            assert requests.get(f"{server.https_url}/b", timeout=5).json() == {"items": [1]}  # no SNI: 127.0.0.1
            assert asyncio.run(_asyncio_status("other.made-up.test", server.port)) == b"HTTP/1.1 200 OK"
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"https://{HOST}/c", timeout=5)
        with pytest.raises(ssl.SSLCertVerificationError):
            asyncio.run(_asyncio_status(HOST, server.port))
    assert server.requests == ["GET /a", "GET /b", "GET /"]
    assert server.authority.issued == [HOST, "other.made-up.test"] and len(server.tls_failures) == 2


async def _asyncio_status(host: str, port: int) -> bytes:
    """asyncio's TLS (``SSLContext.wrap_bio``, what aiohttp uses) with a default verifying context."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl.create_default_context(), server_hostname=host
    )
    writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    status = (await reader.readline()).strip()
    writer.close()
    return status


def test_aiohttp_is_answered_over_tls():
    aiohttp = pytest.importorskip("aiohttp")

    async def get(url: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            return await reply.json()

    with FaultServer() as server, loopback_only(), redirected_to(server.port):
        server.fault = Fault("ok", 200, b'{"items": [2]}')
        with server.trusted():  # aiohttp made its verifying context at import, before
            assert asyncio.run(get(f"https://{HOST}/v1")) == {"items": [2]}
        with pytest.raises(aiohttp.ClientSSLError):
            asyncio.run(get(f"https://{HOST}/v1"))


class _OwnTls(insightconnect_plugin_runtime.Action):
    """A TLS client the kit's trust cannot reach (the ssl method as it was before any patch): it refuses
    the run's certificate and lets the error escape."""

    NAME = "own_tls"

    def __init__(self) -> None:
        super().__init__(self.NAME, "", None, None)

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        with socket.create_connection((HOST, 443), timeout=5) as raw:
            UNPATCHED_WRAP_SOCKET(ssl.create_default_context(), raw, server_hostname=HOST).close()
        return {}


def test_a_client_that_refuses_the_runs_certificate_is_left_unfuzzed_not_reported():
    plugin = insightconnect_plugin_runtime.Plugin(name="own", vendor="t", version="1.0.0", connection=_KeyConnection())
    plugin.add_action(_OwnTls())
    assert fuzz_http(plugin, "action", "own_tls", PLACEHOLDER, max_examples=0, budget_seconds=2) == []


def test_check_fuzzes_an_https_api():
    findings = check_plugin(
        _plugin(f"https://{HOST}"), PLACEHOLDER, max_examples=0, budget_seconds=2, connection_fuzz=False
    )
    http_findings = [f for f in findings if f.example.startswith("HTTP 4")]
    assert any(f.check == "crash" and f.detail.startswith("HTTPError") for f in http_findings)


def test_the_copy_a_handshake_gets_keeps_the_contexts_settings_and_authorities():
    import trustme

    from insightconnect_plugin_runtime._testing_tls import RunAuthority, trusting_copy

    own = trustme.CA()
    context = ssl.create_default_context()
    own.configure_trust(context)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.options |= ssl.OP_NO_TICKET
    authority = RunAuthority()
    copy = trusting_copy(context, authority)
    trusted = copy.get_ca_certs(binary_form=True)
    assert authority.der in trusted and ssl.PEM_cert_to_DER_cert(own.cert_pem.bytes().decode()) in trusted
    assert set(context.get_ca_certs(binary_form=True)) <= set(trusted)
    assert (copy.verify_mode, copy.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert copy.minimum_version == ssl.TLSVersion.TLSv1_3 and copy.verify_flags == context.verify_flags
    assert copy.options == context.options and not authority.trusts(context)
