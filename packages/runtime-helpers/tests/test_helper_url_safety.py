"""URL helpers against two real loopback servers: schemes, redirects and credentials.

"Another origin" is a second server on another port, or the same server under another host name
(``localhost`` instead of ``127.0.0.1``): both must lose ``Authorization``, ``Cookie`` and
``Proxy-Authorization``, exactly as ``requests`` does.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from insightconnect_plugin_runtime import _url_fetch, helper

CREDENTIALS = {"Authorization": "Bearer tok-123", "Cookie": "session=abc", "Proxy_Authorization": "Basic cHJveHk="}
SENT_NAMES = ("Authorization", "Cookie", "Proxy-Authorization")


@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def redirect_to(location: str, status: int = 302) -> Response:
    return Response(status=status, headers={"Location": location})


def seen(server: HTTPServer, name: str) -> list[str]:
    """Values of header ``name`` in every request the server received."""
    return [request.headers[name] for request, _ in server.log if name in request.headers]


def test_redirect_to_another_port_drops_credentials(httpserver: HTTPServer, other_server: HTTPServer) -> None:
    httpserver.expect_request("/start").respond_with_response(redirect_to(other_server.url_for("/landing")))
    other_server.expect_request("/landing").respond_with_data("landed")
    with helper.open_url(httpserver.url_for("/start"), timeout=5, X_Trace="keep-me", **CREDENTIALS) as reply:
        assert reply.read() == b"landed"
    assert seen(httpserver, "Authorization") == ["Bearer tok-123"]  # the first host got them
    assert seen(httpserver, "Cookie") == ["session=abc"]
    for name in SENT_NAMES:
        assert seen(other_server, name) == [], name  # seen 0 times by the second host
    assert seen(other_server, "X-Trace") == ["keep-me"]  # other headers still follow


def test_redirect_to_another_host_name_drops_credentials(httpserver: HTTPServer) -> None:
    first = httpserver.url_for("/landing")
    other = first.replace("localhost", "127.0.0.1") if "localhost" in first else first.replace("127.0.0.1", "localhost")
    assert other != first
    httpserver.expect_request("/start").respond_with_response(redirect_to(other))
    httpserver.expect_request("/landing").respond_with_data("landed")
    with helper.open_url(httpserver.url_for("/start"), timeout=5, **CREDENTIALS) as reply:
        assert reply.read() == b"landed"
    landing = [request for request, _ in httpserver.log if request.path == "/landing"]
    assert len(landing) == 1 and landing[0].host.split(":")[0] == other.split("/")[2].split(":")[0]
    assert not any(name in landing[0].headers for name in SENT_NAMES)


def test_same_origin_redirect_keeps_authorization_but_not_proxy_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/a").respond_with_response(redirect_to("/b", 301))
    httpserver.expect_request("/b").respond_with_data("b")
    with helper.open_url(httpserver.url_for("/a"), timeout=5, **CREDENTIALS) as reply:
        assert reply.read() == b"b"
    assert seen(httpserver, "Authorization") == ["Bearer tok-123", "Bearer tok-123"]
    assert seen(httpserver, "Cookie") == ["session=abc", "session=abc"]
    assert seen(httpserver, "Proxy-Authorization") == ["Basic cHJveHk="]  # the proxy handler re-adds its own


def test_redirect_loop_is_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/loop").respond_with_response(redirect_to("/loop"))
    with pytest.raises(helper.HelperError, match="more than 10 redirects"):
        helper.open_url(httpserver.url_for("/loop"), timeout=5)
    assert len(httpserver.log) == 11  # the first request and ten redirects, then it stops


def test_redirect_count_is_configurable(httpserver: HTTPServer) -> None:
    for hop in range(3):
        httpserver.expect_request(f"/{hop}").respond_with_response(redirect_to(f"/{hop + 1}"))
    httpserver.expect_request("/3").respond_with_data("end")
    with helper.open_url(httpserver.url_for("/0"), timeout=5, max_redirects=3) as reply:
        assert reply.read() == b"end"
    httpserver.clear_log()
    with pytest.raises(helper.HelperError, match="more than 2 redirects"):
        helper.open_url(httpserver.url_for("/0"), timeout=5, max_redirects=2)
    assert len(httpserver.log) == 3


def test_file_urls_are_refused_unless_asked_for(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local contents")
    with pytest.raises(helper.HelperError, match="scheme 'file' is not allowed") as refused:
        helper.open_url(secret.as_uri())
    assert "local contents" not in str(refused.value)
    with helper.open_url(secret.as_uri(), allowed_schemes=("http", "https", "file")) as reply:
        assert reply.read() == b"local contents"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("ftp://127.0.0.1/x", "'ftp'"),
        ("data:text/plain,hi", "'data'"),
        ("FILE:///etc/hostname", "'file'"),
        ("//nohost/x", "(none)"),
    ],
)
def test_other_schemes_are_refused(url: str, shown: str) -> None:
    with pytest.raises(helper.HelperError) as refused:
        helper.open_url(url, timeout=5)
    assert (
        str(refused.value) == f"open_url: refused {url}: the URL scheme {shown} is not allowed (allowed: http, https)"
    )


@pytest.mark.parametrize("target", ["file:///etc/hostname", "ftp://127.0.0.1/x"])
def test_redirect_to_another_scheme_is_refused(httpserver: HTTPServer, target: str) -> None:
    httpserver.expect_request("/jump").respond_with_response(redirect_to(target))
    with pytest.raises(helper.HelperError, match="redirect.* not allowed"):
        helper.open_url(httpserver.url_for("/jump"), timeout=5)
    assert len(httpserver.log) == 1


def test_a_patched_urlopen_still_receives_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins' tests patch ``urllib.request.urlopen`` and inspect ``args[0].full_url``."""
    calls = []

    def fake_urlopen(request, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((request.full_url, request.get_header("User-agent")))
        return "fake-response"

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    assert helper.open_url("https://test.invalid/v1/f.txt", verify=False, User_Agent="ua") == "fake-response"
    assert calls == [("https://test.invalid/v1/f.txt", "ua")]
    with pytest.raises(helper.HelperError):  # the scheme rule holds before any double is called
        helper.open_url("file:///etc/hostname")
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("old", "new", "keeps"),
    [
        ("http://a.example/x", "http://a.example/y", True),
        ("http://a.example/x", "http://A.EXAMPLE:80/y", True),
        ("http://a.example/x", "https://a.example/y", True),  # upgrade on default ports, as requests
        ("https://a.example/x", "http://a.example/y", False),  # downgrade
        ("http://a.example:8080/x", "https://a.example:8443/y", False),
        ("http://a.example/x", "http://a.example:8080/y", False),
        ("http://a.example/x", "http://b.example/y", False),
        ("http://a.example/x", "http://a.example.evil/y", False),
        ("https://a.example/x", "https://a.example:443/y", True),
        ("http://a.example/x", "ftp://a.example/y", False),
    ],
)
def test_keeps_credentials(old: str, new: str, keeps: bool) -> None:
    assert _url_fetch.keeps_credentials(old, new) is keeps


def test_allowed_schemes_argument() -> None:
    assert _url_fetch.allowed_schemes(None) == frozenset({"http", "https"})
    assert _url_fetch.allowed_schemes("FTP") == frozenset({"ftp"})
    assert _url_fetch.allowed_schemes(["HTTPS"]) == frozenset({"https"})


# --- the requests-based helpers keep requests' own rules -------------------------------------------


def test_make_request_redirect_to_another_port_drops_authorization(
    httpserver: HTTPServer, other_server: HTTPServer
) -> None:
    httpserver.expect_request("/start").respond_with_response(redirect_to(other_server.url_for("/landing")))
    other_server.expect_request("/landing").respond_with_data("landed")
    request = requests.Request("GET", httpserver.url_for("/start"), headers={"Authorization": "Bearer tok-123"})
    assert helper.make_request(request, timeout=5).text == "landed"
    assert seen(httpserver, "Authorization") == ["Bearer tok-123"]
    assert seen(other_server, "Authorization") == []


def test_make_request_redirect_loop_is_a_redirect_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/loop").respond_with_response(redirect_to("/loop"))
    with pytest.raises(helper.PluginException) as error:
        helper.make_request(requests.Request("GET", httpserver.url_for("/loop")), timeout=5)
    assert error.value.cause == helper.PluginException.causes[helper.PluginException.Preset.REDIRECT_ERROR]
    assert len(httpserver.log) == 31  # requests' own bound: 30 redirects


def test_requests_based_helpers_do_not_open_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local contents")
    assert helper.check_url(secret.as_uri()) is False
    assert helper.check_url_modified(secret.as_uri()) is False
    assert helper.get_url_filename(secret.as_uri()) is None  # requests has no adapter for file://


def test_get_url_filename_does_not_follow_a_redirect_to_a_file(httpserver: HTTPServer) -> None:
    def to_file(request: Request) -> Response:
        return redirect_to("file:///etc/hostname")

    httpserver.expect_request("/f.txt", method="HEAD").respond_with_handler(to_file)
    assert helper.get_url_filename(httpserver.url_for("/f.txt")) is None
    assert len(httpserver.log) == 1
