"""Legacy URL helpers against a loopback server."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from insightconnect_plugin_runtime import helper


def test_open_url_sends_headers_and_returns_response(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f", headers={"X-Custom-Header": "1"}).respond_with_data("body")
    with helper.open_url(httpserver.url_for("/f"), timeout=5, X_Custom_Header="1") as response:
        assert response.read() == b"body"


def test_open_url_304_is_none(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/f").respond_with_response(Response(status=304))
    assert helper.open_url(httpserver.url_for("/f"), timeout=5) is None


def test_open_url_errors(httpserver: HTTPServer, closed_port_url: str) -> None:
    httpserver.expect_request("/f").respond_with_data("", status=500)
    with pytest.raises(helper.HelperError):
        helper.open_url(httpserver.url_for("/f"), timeout=5)
    with pytest.raises(helper.HelperError):
        helper.open_url(closed_port_url, timeout=5)


def test_check_url(httpserver: HTTPServer, closed_port_url: str) -> None:
    httpserver.expect_request("/ok", method="HEAD").respond_with_data("")
    assert helper.check_url(httpserver.url_for("/ok"))
    # HEAD not allowed, but a ranged GET works
    httpserver.expect_request("/gets", method="HEAD").respond_with_data("", status=405)
    httpserver.expect_request("/gets", method="GET", headers={"Range": "bytes=0-2"}).respond_with_data(
        "abc", status=206
    )
    assert helper.check_url(httpserver.url_for("/gets"))
    assert helper.check_url(closed_port_url) is False


def test_check_url_uses_patched_open_url(httpserver: HTTPServer, monkeypatch) -> None:
    httpserver.expect_request("/x", method="HEAD").respond_with_data("", status=405)
    calls = []

    def fake_open_url(url, timeout=None, verify=True, **kwargs):
        calls.append(kwargs)
        return type("R", (), {"status": 200})()

    monkeypatch.setattr(helper, "open_url", fake_open_url)
    assert helper.check_url(httpserver.url_for("/x"))
    assert calls == [{"Range": "bytes=0-2"}]


def test_check_url_modified(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m", method="HEAD").respond_with_data("")
    httpserver.expect_request("/n", method="HEAD").respond_with_data("", status=404)
    assert helper.check_url_modified(httpserver.url_for("/m"))
    assert not helper.check_url_modified(httpserver.url_for("/n"))


def test_content_disposition() -> None:
    assert helper.get_url_content_disposition({"Content-Disposition": 'attachment; filename="a b.txt"'}) == "a b.txt"
    assert helper.get_url_content_disposition({"content-disposition": "attachment; filename=x.csv; size=3"}) == "x.csv"
    assert helper.get_url_content_disposition({"Other": "x"}) is None
    with pytest.raises(IndexError):
        helper.get_url_content_disposition({"Content-Disposition": "inline"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/files/report.txt", "report.txt"),
        ("https://example.com/files/data.json", "data.json"),
        ("https://example.com/files/archive.tar.gz?x=1", "archive.tar.gz"),
        ("https://example.com/files/", None),
        ("https://example.com", None),
        ("https://example.com/noextension", None),
    ],
)
def test_url_path_filename(url: str, expected: str | None) -> None:
    assert helper.get_url_path_filename(url) == expected


def test_get_url_filename(httpserver: HTTPServer, closed_port_url: str) -> None:
    httpserver.expect_request("/dl", method="HEAD").respond_with_response(
        Response(headers={"Content-Disposition": 'attachment; filename="server.bin"'})
    )
    httpserver.expect_request("/plain.txt", method="HEAD").respond_with_data("")
    assert helper.get_url_filename(httpserver.url_for("/dl")) == "server.bin"
    assert helper.get_url_filename(httpserver.url_for("/plain.txt")) == "plain.txt"
    assert helper.get_url_filename(closed_port_url + "x.txt") is None


def test_failing_helpers_log_and_raise_urls_without_credentials(
    httpserver: HTTPServer, closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    httpserver.expect_request("/f").respond_with_data("", status=500)
    secret = "qs-s3cret-token"
    caplog.set_level("INFO", logger="insightconnect_plugin_runtime.helper")
    base = httpserver.url_for("/f")
    with pytest.raises(helper.HelperError) as refused:
        helper.open_url(f"{base}?apikey={secret}#frag", timeout=5)
    assert str(refused.value) == f"open_url: {base} answered HTTP 500"
    with pytest.raises(helper.HelperError) as unreachable:
        helper.open_url(f"{closed_port_url}/x?apikey={secret}", timeout=5)
    assert secret not in str(unreachable.value) and "cannot reach" in str(unreachable.value)
    assert helper.check_url_modified(f"{base}?apikey={secret}") is False
    ours = [record for record in caplog.records if record.name == "insightconnect_plugin_runtime.helper"]
    assert len(ours) == 3 and all(secret not in record.getMessage() for record in ours)
    assert f"open_url: {base} answered HTTP 500" in caplog.text
    assert helper._url_for_log(f"https://user:{secret}@h.example:8443/p?q") == "https://h.example:8443/p"  # noqa: SLF001
    assert helper._url_for_log("http://[::1]:8080/p?q") == "http://[::1]:8080/p"  # noqa: SLF001
    assert helper._url_for_log("no scheme?k=v") == "no scheme"  # noqa: SLF001
    error = ValueError(f"Max retries exceeded with url: /f?apikey={secret} (Caused by x); see http://h/p#{secret}")
    assert helper._error_for_log(error) == "Max retries exceeded with url: /f (Caused by x); see http://h/p"  # noqa: SLF001
