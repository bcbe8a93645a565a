"""``AWSAction.test``: an unsigned GET of the service endpoint, with a timeout."""

from __future__ import annotations

from typing import Any

import pytest

from insightconnect_plugin_runtime.clients import aws_client
from insightconnect_plugin_runtime.exceptions import ConnectionTestException

SCHEMA = {"properties": {"reservations": {"type": "array"}}}
EMPTY = {"reservations": [], "response_metadata": {"request_id": "", "http_status_code": 0}}


def test_reachable_moto_endpoint_passes(moto_url: str, connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", moto_url), "ec2", "describe_instances", output_schema=SCHEMA)
    assert action.test() == EMPTY


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, "healthy"),
        (400, "<Response><Errors><Error><Code>MissingAction</Code></Error></Errors></Response>"),
        (404, '{"__type": "UnknownOperationException"}'),
    ],
)
def test_answers_that_do_not_fail_the_test(
    fake_aws: Any, connection: Any, make_action: Any, status: int, body: str
) -> None:
    fake_aws.answer(status, body)
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    assert action.test() == {}  # no output schema: nothing to default
    assert fake_aws.requests[0][0] == "GET"


@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
def test_error_statuses_fail_the_test(fake_aws: Any, connection: Any, make_action: Any, status: int) -> None:
    fake_aws.answer(status, "<Error><Code>Something</Code></Error>")
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    with pytest.raises(ConnectionTestException) as caught:
        action.test()
    assert f"HTTP {status}" in caught.value.cause
    assert "<Code>Something</Code>" in caught.value.data


def test_known_aws_error_names_fail_the_test(fake_aws: Any, connection: Any, make_action: Any) -> None:
    fake_aws.answer(400, "<Error><Code>InvalidClientTokenId</Code></Error>")
    action = make_action(connection("sts", fake_aws.url), "sts", "get_caller_identity")
    with pytest.raises(ConnectionTestException) as caught:
        action.test()
    assert "InvalidClientTokenId" in caught.value.cause
    assert "HTTP 400" in caught.value.cause


def test_unreachable_endpoint_fails_with_connection_error(connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", "http://127.0.0.1:9"), "ec2", "describe_instances")
    with pytest.raises(ConnectionTestException) as caught:
        action.test()
    assert caught.value.preset == ConnectionTestException.Preset.CONNECTION_ERROR


def test_slow_endpoint_fails_with_timeout(
    fake_aws: Any, connection: Any, make_action: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_aws.answer(200, "late", delay=1.0)
    monkeypatch.setattr(aws_client.AWSAction, "TEST_TIMEOUT", (1.0, 0.2))
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    with pytest.raises(ConnectionTestException) as caught:
        action.test()
    assert caught.value.preset == ConnectionTestException.Preset.TIMEOUT


def test_requests_is_reachable_through_the_module_for_patching() -> None:
    import requests

    assert aws_client.requests is requests
    with pytest.raises(AttributeError):
        aws_client.no_such_name  # noqa: B018
