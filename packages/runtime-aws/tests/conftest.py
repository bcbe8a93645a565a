"""Shared fixtures: a moto server, a scriptable fake AWS endpoint and a connection like aws plugins build.

Everything listens on 127.0.0.1 and the AWS calls go through real boto3 clients with ``endpoint_url``;
nothing in boto3 is replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config

from insightconnect_plugin_runtime.clients import aws_client

REGION = "us-east-1"
ACCESS_KEY = "AKIAFAKEFAKEFAKEFAKE"
SECRET_KEY = "fake-secret-key"

#: No retries: a throttled answer must surface at once instead of after botocore's backoff.
NO_RETRY = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Fake credentials, no CA bundle overrides, no proxies and no ~/.aws files leaking in."""
    for name in (
        "AWS_CA_BUNDLE",
        "REQUESTS_CA_BUNDLE",
        "AWS_PROFILE",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_SESSION_TOKEN",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "PLUGIN_RUNTIME_ENVIRONMENT",
    ):
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path_factory.getbasetemp() / "no-aws-files"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing / "credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """One moto server for the whole run; tests keep their state apart by region and bucket name."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Reply:
    status: int
    body: str
    content_type: str = "text/xml"
    delay: float = 0.0


@dataclass
class FakeAWS:
    """An HTTP server on 127.0.0.1 that answers every request with ``reply``, recording requests."""

    url: str
    reply: Reply = field(default_factory=lambda: Reply(200, ""))
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    def answer(self, status: int, body: str, content_type: str = "text/xml", delay: float = 0.0) -> None:
        self.reply = Reply(status, body, content_type, delay)


@pytest.fixture
def fake_aws() -> Iterator[FakeAWS]:
    state = FakeAWS(url="")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append((self.command, self.path, self.rfile.read(length)))
            reply = state.reply
            if reply.delay:
                time.sleep(reply.delay)
            body = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("x-amzn-RequestId", "fake-request-id")
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up first (timeout tests)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


class FakeConnection:
    """What an aws plugin's connection sets up: client, helper, auth_params, assume_role_params."""

    def __init__(
        self,
        service: str,
        endpoint_url: str,
        region: str = REGION,
        assume_role_params: dict[str, Any] | None = None,
    ) -> None:
        self.auth_params: dict[str, Any] = {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "endpoint_url": endpoint_url,
            "config": NO_RETRY,
        }
        self.client = boto3.client(service, region_name=region, **self.auth_params)
        self.helper = aws_client.ActionHelper()
        self.assume_role_params = assume_role_params or {}
        self.closes = 0
        real_close = self.client.close

        def counting_close() -> None:
            self.closes += 1
            real_close()

        self.client.close = counting_close


class SchemaOutput:
    """Stands in for a generated ``Output`` class: only ``schema`` is read."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema


def _make_action(
    connection: Any,
    service: str,
    command: str,
    pagination_helper: aws_client.PaginationHelper | None = None,
    output_schema: dict[str, Any] | None = None,
    **kwargs: Any,
) -> aws_client.AWSAction:
    action = aws_client.AWSAction(
        name=command,
        description=f"{service} {command}",
        input_=None,
        output=SchemaOutput(output_schema or {}),
        aws_service=service,
        aws_command=command,
        pagination_helper=pagination_helper,
        **kwargs,
    )
    action.connection = connection
    return action


@dataclass
class ClientSpy:
    """Records the clients ``aws_client`` builds (the real ones) and how often each is closed."""

    created: list[tuple[str, dict[str, Any], Any]] = field(default_factory=list)
    closes: dict[int, int] = field(default_factory=dict)
    calls: list[tuple[Any, str, dict[str, Any]]] = field(default_factory=list)

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """Parameters of each ``operation`` call made by the spied clients."""
        return [params for _, name, params in self.calls if name == operation]

    def by_service(self, service: str) -> list[Any]:
        return [client for name, _, client in self.created if name == service]

    def closed(self, client: Any) -> int:
        return self.closes.get(id(client), 0)


@pytest.fixture
def client_spy(monkeypatch: pytest.MonkeyPatch) -> ClientSpy:
    spy = ClientSpy()
    real_client = boto3.client

    def spying_client(service_name: str, **kwargs: Any) -> Any:
        client = real_client(service_name, **kwargs)
        spy.created.append((service_name, kwargs, client))

        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            spy.calls.append((client, model.name, dict(params)))

        client.meta.events.register("provide-client-params", record)
        real_close = client.close

        def counting_close() -> None:
            spy.closes[id(client)] = spy.closes.get(id(client), 0) + 1
            real_close()

        client.close = counting_close
        return client

    monkeypatch.setattr(aws_client.boto3, "client", spying_client)
    return spy


def _count_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """Parameters of every ``operation`` call the client makes from now on."""
    calls: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        calls.append(dict(params))

    service_id = client.meta.service_model.service_id.hyphenize()
    client.meta.events.register(f"provide-client-params.{service_id}.{operation}", record)
    return calls


# Test modules cannot import this conftest (importlib import mode), so helpers are fixtures.


@pytest.fixture
def connection() -> type[FakeConnection]:
    return FakeConnection


@pytest.fixture
def make_action() -> Any:
    return _make_action


@pytest.fixture
def count_calls() -> Any:
    return _count_calls
