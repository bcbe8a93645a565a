"""make_request / response_handler / request_error_handling against real loopback servers."""

from __future__ import annotations

import socket
import time

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from insightconnect_plugin_runtime import helper
from insightconnect_plugin_runtime.exceptions import (
    APIException,
    PluginException,
    ResponseExceptionData,
)

Preset = PluginException.Preset

MAPPED = [
    (400, Preset.BAD_REQUEST),
    (401, Preset.INVALID_CREDENTIALS),
    (403, Preset.UNAUTHORIZED),
    (404, Preset.NOT_FOUND),
    (405, Preset.METHOD_NOT_ALLOWED),
    (408, Preset.TIMEOUT),
    (409, Preset.CONFLICT),
    (429, Preset.RATE_LIMIT),
    (500, Preset.SERVER_ERROR),
    (503, Preset.SERVICE_UNAVAILABLE),
]


def get(url: str, **kwargs) -> requests.Response:
    return helper.make_request(requests.Request("GET", url), timeout=5, **kwargs)


def test_ok_response_is_returned(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ok").respond_with_json({"a": 1})
    response = get(httpserver.url_for("/ok"))
    assert response.status_code == 200
    assert helper.extract_json(response) == {"a": 1}


@pytest.mark.parametrize(("status", "preset"), MAPPED)
def test_mapped_status_raises_api_exception(httpserver: HTTPServer, status: int, preset: str) -> None:
    httpserver.expect_request("/s").respond_with_data("nope", status=status)
    with pytest.raises(APIException) as caught:
        get(httpserver.url_for("/s"))
    assert caught.value.preset == preset
    assert caught.value.status_code == status
    assert caught.value.cause == PluginException.causes[preset]


@pytest.mark.parametrize("status", [402, 418, 422, 502, 504])
def test_unmapped_status_is_unknown(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/s").respond_with_data("odd", status=status)
    with pytest.raises(PluginException) as caught:
        get(httpserver.url_for("/s"), exception_data_location=ResponseExceptionData.RESPONSE_TEXT)
    assert not isinstance(caught.value, APIException)
    assert caught.value.preset == Preset.UNKNOWN
    assert caught.value.data == "odd"


def test_allowed_status_codes_pass_through(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/missing").respond_with_data("gone", status=404)
    response = get(httpserver.url_for("/missing"), allowed_status_codes=[404])
    assert response.status_code == 404
    assert response.text == "gone"


def test_custom_exception_config_is_raised_as_a_copy(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/c").respond_with_json({"why": "locked"}, status=423)
    template = PluginException(cause="Account locked.", assistance="Unlock it.")
    configs = {423: template}
    with pytest.raises(PluginException) as caught:
        get(
            httpserver.url_for("/c"),
            exception_custom_configs=configs,
            exception_data_location=ResponseExceptionData.RESPONSE_JSON,
        )
    assert caught.value.cause == "Account locked."
    assert caught.value.data == {"why": "locked"}
    assert caught.value is not template
    assert template.data == ""  # the caller's object is not modified


@pytest.mark.parametrize(
    ("location", "check"),
    [
        (ResponseExceptionData.RESPONSE_TEXT, lambda data: data == '{"k": "v"}'),
        (ResponseExceptionData.RESPONSE_JSON, lambda data: data == {"k": "v"}),
        (ResponseExceptionData.RESPONSE, lambda data: isinstance(data, requests.Response)),
        (ResponseExceptionData.EXCEPTION, lambda data: isinstance(data, str) and "400" in data),
        (None, lambda data: data is None),
    ],
)
def test_exception_data_locations(httpserver: HTTPServer, location, check) -> None:
    httpserver.expect_request("/d").respond_with_data('{"k": "v"}', status=400)
    with pytest.raises(APIException) as caught:
        get(httpserver.url_for("/d"), exception_data_location=location)
    assert check(caught.value.data)


def test_response_json_location_with_invalid_json_gives_the_http_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/d").respond_with_data("<html>", status=500)
    with pytest.raises(APIException) as caught:
        get(httpserver.url_for("/d"), exception_data_location=ResponseExceptionData.RESPONSE_JSON)
    assert isinstance(caught.value.data, requests.exceptions.HTTPError)


def test_redirect_is_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/from").respond_with_response(
        Response(status=302, headers={"Location": httpserver.url_for("/to")})
    )
    httpserver.expect_request("/to").respond_with_data("arrived")
    assert get(httpserver.url_for("/from")).text == "arrived"


def test_redirect_not_followed_when_disabled(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/from").respond_with_response(Response(status=302, headers={"Location": "/to"}))
    assert get(httpserver.url_for("/from"), allow_redirects=False).status_code == 302


def test_redirect_loop_is_redirect_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/loop").respond_with_response(Response(status=302, headers={"Location": "/loop"}))
    with pytest.raises(PluginException) as caught:
        get(httpserver.url_for("/loop"))
    assert caught.value.preset == Preset.REDIRECT_ERROR


def test_stalled_server_is_timeout(raw_server) -> None:
    def stall(conn: socket.socket) -> None:
        time.sleep(1.0)

    server = raw_server(stall)
    started = time.monotonic()
    with pytest.raises(PluginException) as caught:
        helper.make_request(requests.Request("GET", server.url), timeout=0.2)
    assert caught.value.preset == Preset.TIMEOUT
    assert time.monotonic() - started < 1.0


def test_refused_connection_is_connection_error(closed_port_url: str) -> None:
    with pytest.raises(PluginException) as caught:
        get(closed_port_url)
    assert caught.value.preset == Preset.CONNECTION_ERROR


def test_invalid_url_is_unknown() -> None:
    with pytest.raises(PluginException) as caught:
        get("http://")
    assert caught.value.preset == Preset.UNKNOWN


def test_invalid_json_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/j").respond_with_data("{not json", content_type="application/json")
    response = get(httpserver.url_for("/j"))
    with pytest.raises(PluginException) as caught:
        helper.extract_json(response)
    assert caught.value.preset == Preset.INVALID_JSON


# -- max_response_size ---------------------------------------------------------------------------


def raw_reply(head: bytes, body_chunks: list[bytes]):
    def reply(conn: socket.socket) -> None:
        conn.sendall(head)
        for chunk in body_chunks:
            conn.sendall(chunk)

    return reply


def chunked(data: bytes, size: int = 1000) -> list[bytes]:
    parts = [b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size]) for i in range(0, len(data), size)]
    return [*parts, b"0\r\n\r\n"]


BIG = b"x" * 50_000


@pytest.mark.parametrize("stream", [False, True])
def test_over_cap_with_content_length(httpserver: HTTPServer, stream: bool) -> None:
    httpserver.expect_request("/big").respond_with_data(BIG)
    with pytest.raises(APIException) as caught:
        get(httpserver.url_for("/big"), max_response_size=1000, stream=stream)
    assert caught.value.status_code == 400


def test_under_cap_is_returned_whole(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/small").respond_with_data(b"y" * 500)
    response = get(httpserver.url_for("/small"), max_response_size=1000)
    assert response.content == b"y" * 500


def test_over_cap_without_content_length_close_delimited(raw_server) -> None:
    server = raw_server(raw_reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", [BIG]))
    with pytest.raises(APIException):
        helper.make_request(requests.Request("GET", server.url), timeout=5, max_response_size=1000)


def test_over_cap_chunked_without_content_length_streaming(raw_server) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    server = raw_server(raw_reply(head, chunked(BIG)))
    response = helper.make_request(requests.Request("GET", server.url), timeout=5, max_response_size=1000, stream=True)
    received = 0
    with pytest.raises(APIException):
        for chunk in response.iter_content(256):
            received += len(chunk)
    assert received <= 1000
    response.close()


def test_over_cap_with_false_content_length(raw_server) -> None:
    # The header claims 10 bytes, but the body is chunked and much larger: the cap must still hold.
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    server = raw_server(raw_reply(head, chunked(BIG)))
    with pytest.raises(APIException):
        helper.make_request(requests.Request("GET", server.url), timeout=5, max_response_size=1000)


def test_streamed_body_readable_after_return(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/s").respond_with_data(b"z" * 5000)
    response = get(httpserver.url_for("/s"), stream=True)
    assert b"".join(response.iter_content(1000)) == b"z" * 5000
    response.close()


# -- patches plugins' tests apply ------------------------------------------------------------------


def test_make_request_goes_through_session_send(monkeypatch) -> None:
    sent = []

    class Fake:
        status_code = 200
        headers: dict = {}
        text = "{}"

        def raise_for_status(self) -> None:
            return None

    def fake_send(self, prepared, **kwargs):
        sent.append(prepared.url)
        return Fake()

    monkeypatch.setattr(requests.Session, "send", fake_send)
    response = helper.make_request(requests.Request("GET", "http://127.0.0.1:9/x"), max_response_size=10)
    assert isinstance(response, Fake)
    assert sent == ["http://127.0.0.1:9/x"]


def test_response_handler_accepts_duck_typed_response_without_raise_for_status() -> None:
    class Fake:
        status_code = 404
        text = "missing"
        url = "http://example.invalid/"

    with pytest.raises(APIException) as caught:
        helper.response_handler(Fake(), data_location=ResponseExceptionData.RESPONSE_TEXT)
    assert caught.value.preset == Preset.NOT_FOUND
    assert caught.value.data == "missing"
    assert helper.response_handler(type("Ok", (), {"status_code": 204})()) is None


# -- request_error_handling ----------------------------------------------------------------------


class Client:
    def __init__(self, base: str) -> None:
        self.base = base

    @helper.request_error_handling(allowed_status_codes=[404])
    def fetch(self, path: str, timeout: float = 5) -> requests.Response:
        response = requests.get(self.base + path, timeout=timeout)
        response.raise_for_status()
        return response


def test_request_error_handling(httpserver: HTTPServer, closed_port_url: str) -> None:
    httpserver.expect_request("/ok").respond_with_data("fine")
    httpserver.expect_request("/missing").respond_with_data("", status=404)
    httpserver.expect_request("/busy").respond_with_data("", status=503)
    client = Client(httpserver.url_for(""))
    assert client.fetch("ok").text == "fine"
    assert client.fetch("missing") is None
    with pytest.raises(APIException) as caught:
        client.fetch("busy")
    assert caught.value.preset == Preset.SERVICE_UNAVAILABLE
    with pytest.raises(PluginException) as refused:
        Client(closed_port_url).fetch("x")
    assert refused.value.preset == Preset.CONNECTION_ERROR


def test_request_error_handling_timeout(raw_server) -> None:
    server = raw_server(lambda conn: time.sleep(1.0))
    with pytest.raises(PluginException) as caught:
        Client(server.url).fetch("x", timeout=0.2)
    assert caught.value.preset == Preset.TIMEOUT


def echo_method(request: Request) -> Response:
    return Response(request.method)


def test_request_body_and_method_are_sent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/m", method="POST", json={"q": 1}).respond_with_handler(echo_method)
    response = helper.make_request(requests.Request("POST", httpserver.url_for("/m"), json={"q": 1}), timeout=5)
    assert response.text == "POST"
