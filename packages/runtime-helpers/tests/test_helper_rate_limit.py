"""rate_limiting: bounded number of calls, Retry-After honoured and capped (real 429s on loopback)."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from insightconnect_plugin_runtime import helper
from insightconnect_plugin_runtime.exceptions import APIException, PluginException


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.calls = 0

    @helper.rate_limiting(max_tries=3)
    def get(self) -> requests.Response:
        self.calls += 1
        return helper.make_request(requests.Request("GET", self.url), timeout=5)


def test_success_calls_once(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_request("/r").respond_with_data("ok")
    api = Api(httpserver.url_for("/r"))
    assert api.get().text == "ok"
    assert api.calls == 1
    assert sleeps == []


def test_persistent_429_calls_exactly_max_tries(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_request("/r").respond_with_data("slow down", status=429)
    api = Api(httpserver.url_for("/r"))
    with pytest.raises(APIException) as caught:
        api.get()
    assert caught.value.preset == PluginException.Preset.RATE_LIMIT
    assert api.calls == 3
    assert sleeps == [helper.backoff_function(1), helper.backoff_function(2)]


def test_retry_after_seconds_is_honoured(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_ordered_request("/r").respond_with_response(
        Response("wait", status=429, headers={"Retry-After": "7"})
    )
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    api = Api(httpserver.url_for("/r"))
    assert api.get().text == "ok"
    assert api.calls == 2
    assert sleeps == [7.0]


def test_retry_after_http_date_is_honoured(httpserver: HTTPServer, sleeps) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    httpserver.expect_ordered_request("/r").respond_with_response(
        Response("wait", status=429, headers={"Retry-After": when})
    )
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    Api(httpserver.url_for("/r")).get()
    assert len(sleeps) == 1
    assert 25 <= sleeps[0] <= 31


def test_retry_after_is_bounded(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_ordered_request("/r").respond_with_response(
        Response("wait", status=429, headers={"Retry-After": "86400"})
    )
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    Api(httpserver.url_for("/r")).get()
    assert sleeps == [helper.RATE_LIMIT_MAX_WAIT_SECONDS]


def test_garbage_retry_after_falls_back_to_backoff(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_ordered_request("/r").respond_with_response(
        Response("wait", status=429, headers={"Retry-After": "soon-ish"})
    )
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    Api(httpserver.url_for("/r")).get()
    assert sleeps == [helper.backoff_function(1)]


def test_other_plugin_exception_is_not_retried(httpserver: HTTPServer, sleeps) -> None:
    httpserver.expect_request("/r").respond_with_data("boom", status=500)
    api = Api(httpserver.url_for("/r"))
    with pytest.raises(APIException):
        api.get()
    assert api.calls == 1
    assert sleeps == []


def test_non_plugin_exception_propagates_once(sleeps) -> None:
    calls = []

    @helper.rate_limiting(max_tries=5)
    def broken() -> None:
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError):
        broken()
    assert calls == [1]


def test_custom_backoff_and_plain_function(sleeps) -> None:
    calls = []

    @helper.rate_limiting(max_tries=2, back_off_function=lambda attempt: 0.5 * attempt)
    def limited() -> None:
        calls.append(1)
        raise PluginException(preset=PluginException.Preset.RATE_LIMIT)

    with pytest.raises(PluginException):
        limited()
    assert calls == [1, 1]
    assert sleeps == [0.5]


def test_backoff_function_grows() -> None:
    values = [helper.backoff_function(n) for n in range(1, 5)]
    assert values == sorted(values)
    assert values[0] == pytest.approx(2**0.6)
