"""OAuth 2.0 client-credentials mixin (on requests-oauthlib) against a real loopback token endpoint,
and under the mocks plugins' own tests use."""

from __future__ import annotations

import base64
import json
import threading
import time
import unittest
from typing import Any
from unittest import mock

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from insightconnect_plugin_runtime.clients.oauth import OAuth20ClientCredentialMixin, OAuth20ClientMessages
from insightconnect_plugin_runtime.exceptions import ConnectionTestException, PluginException


@pytest.fixture(autouse=True)
def loopback_over_http(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback endpoints speak plain HTTP: oauthlib's documented switch for local testing."""
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


class TokenEndpoint:
    """Issues numbered tokens; counts the requests and records what they carried."""

    def __init__(self, expires_in: int | None = 3600, delay: float = 0.0) -> None:
        self.expires_in = expires_in
        self.delay = delay
        self.calls = 0
        self.forms: list[dict[str, str]] = []
        self.authorizations: list[str | None] = []
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            number = self.calls
        self.forms.append(dict(request.form))
        self.authorizations.append(request.headers.get("Authorization"))
        body: dict[str, Any] = {"access_token": f"token-{number}", "token_type": "bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        return Response(json.dumps(body), content_type="application/json")


def api_echo(request: Request) -> Response:
    return Response(request.headers.get("Authorization", ""))


class Client(OAuth20ClientCredentialMixin):
    def __init__(self, server: HTTPServer, **kwargs: Any) -> None:
        super().__init__("my-id", "my-secret", server.url_for("/token"), **kwargs)
        self.api = server.url_for("/api")

    def call(self) -> str:
        response = self.oauth.request("GET", self.api, timeout=5)
        return response.text


class LazyClient(Client):
    fetch_token_on_init = False


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_token_fetched_in_constructor_and_attached(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    client = Client(httpserver)
    assert endpoint.calls == 1
    assert endpoint.forms == [{"grant_type": "client_credentials"}]
    assert endpoint.authorizations == [basic("my-id", "my-secret")]
    assert client.call() == "Bearer token-1"
    assert client.call() == "Bearer token-1"
    assert endpoint.calls == 1
    assert client.token["access_token"] == "token-1"
    assert client.token["expires_at"] > time.time() + 3000


def test_lazy_client_fetches_on_first_use(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    client = LazyClient(httpserver)
    assert endpoint.calls == 0
    assert client.call() == "Bearer token-1"
    assert endpoint.calls == 1


def test_auth_token_returns_a_fresh_token_dict(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    client = Client(httpserver)
    token = client.auth_token
    assert token["access_token"] == "token-2"
    assert client.call() == "Bearer token-2"


def test_extra_kwargs_become_form_fields(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    Client(httpserver, scope=["read", "write"], audience="api", include_client_id=True, timeout=5)
    assert endpoint.forms == [
        {
            "grant_type": "client_credentials",
            "scope": "read write",
            "audience": "api",
            "client_id": "my-id",
            "client_secret": "my-secret",
        }
    ]
    assert endpoint.authorizations == [None]


def test_expired_token_refreshed_once_under_eight_threads(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint(expires_in=1, delay=0.2)
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    client = Client(httpserver)
    assert endpoint.calls == 1
    time.sleep(1.05)  # the one-second token is now past its renewal time
    barrier = threading.Barrier(8)
    seen: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            seen.append(client.call())
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert errors == []
    assert endpoint.calls == 2  # the constructor's token, then exactly one refresh
    assert seen == ["Bearer token-2"] * 8


def test_token_without_expiry_is_kept(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint(expires_in=None)
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    client = Client(httpserver)
    client.call()
    client.call()
    assert endpoint.calls == 1


@pytest.mark.parametrize(
    ("status", "body"),
    [(401, '{"error": "invalid_client"}'), (400, '{"error": "invalid_grant"}'), (200, "not json"), (200, "{}")],
)
def test_bad_credentials_or_answers_raise_clear_exception(httpserver: HTTPServer, status: int, body: str) -> None:
    httpserver.expect_request("/token", method="POST").respond_with_data(body, status=status)
    with pytest.raises(PluginException) as caught:
        Client(httpserver)
    assert isinstance(caught.value, ConnectionTestException)
    assert caught.value.cause == OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE
    assert caught.value.assistance == OAuth20ClientMessages.PLUGIN_EXCEPTION_ASSISTANCE
    if status != 200:
        assert str(status) in caught.value.data


def test_unreachable_token_endpoint(closed_port_url: str) -> None:
    with pytest.raises(PluginException) as caught:
        OAuth20ClientCredentialMixin("id", "secret", closed_port_url + "token", timeout=2)
    assert caught.value.cause == OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE


def test_refresh_failure_surfaces_on_request(httpserver: HTTPServer) -> None:
    endpoint = TokenEndpoint(expires_in=1)
    httpserver.expect_ordered_request("/token", method="POST").respond_with_handler(endpoint)
    httpserver.expect_ordered_request("/token", method="POST").respond_with_data("{}", status=401)
    client = Client(httpserver)
    time.sleep(1.05)
    with pytest.raises(PluginException) as caught:
        client.call()
    assert caught.value.cause == OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE


# -- the pattern plugins' own tests use -----------------------------------------------------------


class FakeResponse:
    """The kind of duck-typed response plugins' mocks return."""

    def __init__(self, status_code: int, payload: dict[str, Any]) -> None:
        self.status_code = status_code
        self._payload = payload
        self.text = json.dumps(payload)
        self.headers: dict[str, str] = {}

    def json(self) -> dict[str, Any]:
        return self._payload


TOKEN_URL = "https://auth.example.invalid/token"


def fake_service(status: int):
    def respond(*args: Any, **kwargs: Any) -> FakeResponse:
        method, url = args[0], args[1]
        if method == "POST" and url == TOKEN_URL:
            return FakeResponse(status, {"access_token": "abc", "expires_in": 3600} if status == 200 else {})
        return FakeResponse(status, {"data": [1]})

    return respond


def test_plugin_style_mocks_of_session_request() -> None:
    # Construct while the token endpoint "works", then break it: requests keep using the cached
    # token, and auth_token (the plugins' connection test) reports the credential problem.
    with mock.patch("requests.Session.request", side_effect=fake_service(200)):
        client = OAuth20ClientCredentialMixin("id", "secret", TOKEN_URL)
    with mock.patch("requests.Session.request", side_effect=fake_service(403)):
        assert client.oauth.request("GET", "https://api.example.invalid/x").status_code == 403
        with pytest.raises(PluginException) as caught:
            _ = client.auth_token
    assert caught.value.cause == OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE
    with mock.patch("requests.Session.request", side_effect=fake_service(200)):
        assert client.auth_token["access_token"] == "abc"


def test_oauth_is_a_requests_session(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenEndpoint())
    assert isinstance(Client(httpserver).oauth, requests.Session)


# -- mocks of requests-oauthlib, as the reference's users write them (issue 21) ---------------------


class ApiClient(OAuth20ClientCredentialMixin):
    """Shaped like public plugins' API clients (cisco_umbrella_*): credentials and a fixed token URL."""

    def __init__(self, api_key: str, api_secret: str, token_url: str, api_url: str) -> None:
        super().__init__(api_key, api_secret, token_url)
        self.api_url = api_url

    def whoami(self) -> str:
        return self.oauth.request("GET", self.api_url, timeout=5).text


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every attempt to open a connection is recorded and refused."""
    import socket

    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network access in a test that mocks it")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_mocked_fetch_token_makes_no_token_request(httpserver: HTTPServer, no_sockets: list[Any]) -> None:
    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    token = {"access_token": "mocked-token", "token_type": "Bearer", "expires_in": 3600}
    with mock.patch("requests_oauthlib.OAuth2Session.fetch_token", return_value=token) as fetch:
        client = ApiClient("key", "secret", httpserver.url_for("/token"), httpserver.url_for("/api"))
        assert client.auth_token["access_token"] == "mocked-token"  # the connection test's call
    assert no_sockets == [] and endpoint.calls == 0 and httpserver.log == []
    assert fetch.call_count == 2
    assert fetch.call_args.kwargs["token_url"] == httpserver.url_for("/token")
    assert (fetch.call_args.kwargs["client_id"], fetch.call_args.kwargs["client_secret"]) == ("key", "secret")


def test_mocked_fetch_token_supplies_the_bearer_of_api_calls(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api").respond_with_handler(api_echo)
    token = {"access_token": "mocked-token", "token_type": "Bearer"}
    with mock.patch("requests_oauthlib.OAuth2Session.fetch_token", return_value=token):
        client = ApiClient("key", "secret", httpserver.url_for("/token"), httpserver.url_for("/api"))
    assert client.whoami() == "Bearer mocked-token"
    assert [entry[0].path for entry in httpserver.log] == ["/api"]  # the token endpoint never


def test_fetch_token_raising_is_the_clients_plugin_exception() -> None:
    from oauthlib.oauth2 import InvalidClientError

    with mock.patch("requests_oauthlib.OAuth2Session.fetch_token", side_effect=InvalidClientError()):
        with pytest.raises(ConnectionTestException) as caught:
            ApiClient("key", "wrong", "https://auth.example.invalid/token", "https://api.example.invalid/")
    assert caught.value.cause == OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE
    assert caught.value.assistance == OAuth20ClientMessages.PLUGIN_EXCEPTION_ASSISTANCE
    assert "InvalidClientError" in caught.value.data


def test_session_is_requests_oauthlibs(httpserver: HTTPServer) -> None:
    from requests_oauthlib import OAuth2Session

    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenEndpoint())
    client = Client(httpserver)
    assert isinstance(client.oauth, OAuth2Session)
    assert client.oauth.token["access_token"] == "token-1"  # fetch_token kept the session's token too


class CiscoStyleConnectionTest(unittest.TestCase):
    """The unittest pattern of public plugins: ``requests.Session.request`` patched in setUp and test."""

    @mock.patch("requests.Session.request", side_effect=fake_service(200))
    def setUp(self, mock_request: mock.Mock) -> None:
        self.client = ApiClient("key", "secret", TOKEN_URL, "https://api.example.invalid/whoami")
        self.token_posts = [c for c in mock_request.call_args_list if c.args[:2] == ("POST", TOKEN_URL)]

    def test_token_request_went_through_the_mock(self) -> None:
        self.assertEqual(len(self.token_posts), 1)
        self.assertEqual(self.token_posts[0].kwargs["data"], {"grant_type": "client_credentials"})
        self.assertEqual(self.client.token["access_token"], "abc")

    @mock.patch("requests.Session.request", side_effect=fake_service(200))
    def test_api_call_carries_the_token(self, mock_request: mock.Mock) -> None:
        self.client.whoami()
        self.assertEqual(mock_request.call_args.kwargs["headers"]["Authorization"], "Bearer abc")

    @mock.patch("requests.Session.request", side_effect=fake_service(400))
    def test_rejected_credentials(self, mock_request: mock.Mock) -> None:
        with self.assertRaises(ConnectionTestException) as context:
            _ = self.client.auth_token
        self.assertEqual(context.exception.cause, OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE)
        self.assertEqual(context.exception.assistance, OAuth20ClientMessages.PLUGIN_EXCEPTION_ASSISTANCE)
        self.assertIn("400", context.exception.data)


def test_plain_http_is_refused_without_oauthlibs_switch(httpserver: HTTPServer, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenEndpoint())
    with pytest.raises(PluginException) as caught:
        Client(httpserver)
    assert "InsecureTransportError" in caught.value.data
    assert httpserver.log == []  # the secret never left over plain HTTP
    with mock.patch("requests_oauthlib.OAuth2Session.fetch_token", return_value={"access_token": "t"}):
        client = Client(httpserver)
    from oauthlib.oauth2 import InsecureTransportError

    with pytest.raises(InsecureTransportError):
        client.call()  # nor does the bearer token
    assert httpserver.log == []


def test_requests_oauthlib_debug_lines_carry_no_secret(httpserver: HTTPServer) -> None:
    import io
    import logging

    endpoint = TokenEndpoint()
    httpserver.expect_request("/token", method="POST").respond_with_handler(endpoint)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("requests_oauthlib")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        Client(httpserver, include_client_id=True)  # the secret travels in the request body
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    text = stream.getvalue()
    assert "Request body was <redacted>" in text and "Obtained token {'access_token': '<redacted>'" in text
    assert "my-secret" not in text and "token-1" not in text
    assert "completed with status 200" in text  # numbers are kept
