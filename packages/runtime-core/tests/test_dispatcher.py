"""The HTTP trigger dispatcher against a local server: answer classes, redirects, Retry-After, failures."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from email.utils import format_datetime

import pytest
from werkzeug import Response

from insightconnect_plugin_runtime import dispatcher
from insightconnect_plugin_runtime.dispatcher import DispatchError, Http
from insightconnect_plugin_runtime.exceptions import PluginException

# --- answer classification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(None, False), (200, False), (302, False), (399, False), (400, True), (401, True), (404, True),
     (408, False), (409, False), (410, True), (413, True), (422, True), (425, False), (429, False),
     (499, True), (500, False), (503, False)],
)  # fmt: skip
def test_which_answers_are_permanent_rejections(status, permanent):
    assert dispatcher.is_permanent_rejection(status) is permanent
    assert DispatchError(cause="x", status=status).permanent is permanent


def test_retry_after_in_seconds_or_as_a_date():
    now = time.time()
    assert dispatcher.parse_retry_after(None) is None
    assert dispatcher.parse_retry_after("") is None
    assert dispatcher.parse_retry_after("0") == 0.0
    assert dispatcher.parse_retry_after(" 7 ") == 7.0
    assert dispatcher.parse_retry_after("1.5") is None
    assert dispatcher.parse_retry_after("soon") is None
    future = format_datetime(dt.datetime.fromtimestamp(now + 120, dt.UTC), usegmt=True)
    assert 100 < dispatcher.parse_retry_after(future) <= 121
    past = format_datetime(dt.datetime.fromtimestamp(now - 120, dt.UTC), usegmt=True)
    assert dispatcher.parse_retry_after(past) == 0.0
    assert dispatcher.parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000") is None  # no time zone


def test_dispatch_error_carries_the_answer():
    error = DispatchError(cause="c", assistance="a", data="d", status=429, retry_after=3.0, location="/x")
    assert (error.cause, error.assistance, error.data) == ("c", "a", "d")
    assert (error.status, error.retry_after, error.location) == (429, 3.0, "/x")
    plain = DispatchError(cause="c")
    assert (plain.status, plain.retry_after, plain.location, plain.permanent) == (None, None, None, False)
    assert isinstance(plain, PluginException)


# --- the HTTP dispatcher against a local server -----------------------------------------------------------


@pytest.fixture
def post(httpserver):
    """Answer the next POST to /events with ``status``/``headers``/``body``; return what ``Http.write`` did."""

    def answer(status=200, headers=None, body="", key="k-1", msg=None):
        httpserver.clear()
        httpserver.expect_request("/events", method="POST").respond_with_data(
            body, status=status, headers=headers or {}
        )
        httpserver.expect_request("/followed").respond_with_data("followed", status=200)
        sender = Http({"url": httpserver.url_for("/events")}, timeout=5)
        try:
            sender.write(msg or {"n": 1}, idempotency_key=key)
            error = None
        except DispatchError as raised:
            error = raised
        return error, httpserver.log

    return answer


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_a_2xx_delivers_with_the_key_and_json(post, status):
    error, log = post(status)
    assert error is None
    ((request, _),) = log
    assert request.headers["Idempotency-Key"] == "k-1"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.data) == {"n": 1}


def test_no_key_means_no_key_header(post):
    error, log = post(200, key=None)
    assert error is None and "Idempotency-Key" not in log[0][0].headers


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed(post, httpserver, status):
    target = httpserver.url_for("/followed")
    error, log = post(status, headers={"Location": target})
    assert [request.path for request, _ in log] == ["/events"]
    assert error.status == status and error.location == target and not error.permanent
    assert f"HTTP {status}" in error.cause and target in error.cause
    assert error.assistance == (
        "Redirects are never followed, so the event was not delivered: set the dispatcher URL to the address the "
        "orchestrator redirects to."
    )


def test_a_redirect_without_location_says_so(post):
    error, _ = post(302)
    assert error.location is None and "no Location" in error.cause


def test_other_3xx_are_failures_too(post):
    error, _ = post(300)
    assert error.status == 300 and not error.permanent and "redirected" in error.cause


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_permanent_rejections_carry_status_and_a_short_reason(post, status):
    error, _ = post(status, body="the  event\nis " + "x" * 500)
    assert error.status == status and error.permanent
    assert f"HTTP {status}" in error.cause and "rejected" in error.cause
    assert (
        error.data.startswith("the event is xxx") and len(error.data) == 199
    )  # 200 bytes read, a double space collapsed
    assert "will not accept" in error.assistance


@pytest.mark.parametrize("status", [408, 409, 425, 429, 500, 502, 503])
def test_transient_answers_are_not_permanent(post, status):
    error, _ = post(status, headers={"Retry-After": "2"})
    assert error.status == status and not error.permanent and error.retry_after == 2.0
    assert "refused" in error.cause and "sent again" in error.assistance


def test_an_answer_without_retry_after(post):
    error, _ = post(503)
    assert error.retry_after is None


def test_refused_connection_and_bad_urls_are_transient_failures():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        with pytest.raises(DispatchError) as refused:
            Http({"url": f"http://127.0.0.1:{port}/x"}, timeout=2).write({"n": 1})
    assert refused.value.status is None and not refused.value.permanent
    assert refused.value.cause == "The trigger event could not be delivered to the orchestrator."
    assert "reachable" in refused.value.assistance and "refused" in refused.value.data.lower()
    with pytest.raises(DispatchError) as bad:
        Http({"url": "http://[::1"}).write({})
    assert bad.value.status is None and "ValueError" in bad.value.data


def test_a_timeout_is_a_transient_failure(httpserver):
    import threading

    release = threading.Event()

    def slow(request):
        release.wait(5)
        return Response("late", status=200)

    httpserver.clear()
    httpserver.expect_request("/events").respond_with_handler(slow)
    with pytest.raises(DispatchError) as timed_out:
        Http({"url": httpserver.url_for("/events")}, timeout=0.1).write({"n": 1})
    assert timed_out.value.status is None and "timed out" in timed_out.value.data.lower()
    release.set()
    for _ in range(500):  # let the late answer finish before the next test uses the server
        if httpserver.log:
            break
        time.sleep(0.01)


def test_a_url_without_scheme_is_http(httpserver):
    httpserver.clear()
    httpserver.expect_request("/events", method="POST").respond_with_data("", status=200)
    Http({"url": f"127.0.0.1:{httpserver.port}/events"}).write({"n": 2})
    assert {"n": 2} in [json.loads(request.data) for request, _ in httpserver.log]


def test_http_dispatcher_configuration(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"^The HTTP dispatcher needs a configuration with a 'url'\.$"):
        Http({})
    with pytest.raises(ValueError):
        Http(None)
    sender = Http({"url": "http://x/", "webhook_url": "http://hook/"})
    assert sender.timeout == dispatcher.DEFAULT_TIMEOUT_SECONDS and sender.webhook_url == "http://hook/"
    assert Http({"url": "http://x/"}, timeout=0).timeout == 0
    assert sender._context() is None
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert Http({"url": "HTTPS://x/"})._context() is not None


def test_the_timeout_comes_from_the_environment():
    import os
    import subprocess
    import sys

    code = "from insightconnect_plugin_runtime import dispatcher; print(dispatcher.DEFAULT_TIMEOUT_SECONDS)"
    env = {k: v for k, v in os.environ.items() if k != "ICON_RUNTIME_DISPATCH_TIMEOUT"}
    default = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    env["ICON_RUNTIME_DISPATCH_TIMEOUT"] = "7"
    set_ = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert (default.stdout.strip(), set_.stdout.strip()) == ("30.0", "7.0")


# --- the other dispatchers --------------------------------------------------------------------------------


def test_noop_keeps_the_last_event():
    keeper = dispatcher.Noop()
    assert keeper.config == {} and keeper.webhook_url == "" and keeper.msg is None
    keeper.write({"n": 1}, idempotency_key="k")
    assert keeper.msg == {"n": 1}
    assert dispatcher.Noop({"webhook_url": "http://hook"}).webhook_url == "http://hook"


def test_stdout_writes_one_flushed_json_line(capsys):
    class Stream:
        def __init__(self):
            self.text, self.flushed = "", 0

        def write(self, text):
            self.text += text

        def flush(self):
            self.flushed += 1

    stream = Stream()
    printer = dispatcher.Stdout(None, stream=stream)
    assert printer.webhook_url == "" and printer.custom_encoder is None
    printer.write({"n": 1})
    assert (stream.text, stream.flushed) == ('{"n": 1}\n', 1)
    dispatcher.Stdout({"webhook_url": "http://hook"}).write({"n": 2})
    assert capsys.readouterr().out == '{"n": 2}\n'


def test_stdout_honours_the_configured_encoder():
    import io

    class Upper(json.JSONEncoder):
        def encode(self, o):
            return super().encode(o).upper()

    stream = io.StringIO()
    printer = dispatcher.Stdout(
        {"custom_encoder": Upper, "custom_decoder": json.JSONDecoder, "webhook_url": "w"}, stream
    )
    printer.write({"n": "a"})
    assert stream.getvalue() == '{"N": "A"}\n'
    assert (printer.custom_decoder, printer.webhook_url) == (json.JSONDecoder, "w")


def test_https_trusts_the_bundle_in_ssl_cert_file(monkeypatch, tmp_path):
    import ssl

    certifi = pytest.importorskip("certifi")
    bundle = open(certifi.where()).read()
    first = bundle[bundle.index("-----BEGIN CERTIFICATE-----") :]
    one = tmp_path / "one.pem"
    one.write_text(first[: first.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")] + "\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(one))
    context = Http({"url": "https://orchestrator/"})._context()
    assert isinstance(context, ssl.SSLContext) and len(context.get_ca_certs()) == 1
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing.pem"))
    assert Http({"url": "https://orchestrator/"})._context() is not None  # the default trust store
