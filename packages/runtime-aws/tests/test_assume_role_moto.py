"""Assume-role against moto's STS: external id, session name, default region and client closing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from insightconnect_plugin_runtime.clients.aws_client import ASSUME_ROLE_PARAMETERS, AWSAction
from insightconnect_plugin_runtime.exceptions import PluginException

ROLE_ARN = "arn:aws:iam::123456789012:role/plugin-role"


def auth_params(endpoint_url: str) -> dict[str, Any]:
    from botocore.config import Config

    return {
        "aws_access_key_id": "AKIAFAKEFAKEFAKEFAKE",
        "aws_secret_access_key": "fake",
        "endpoint_url": endpoint_url,
        "config": Config(retries={"total_max_attempts": 1}),
    }


def assume_role_requests(spy: Any) -> list[dict[str, Any]]:
    return spy.sent("AssumeRole")


@pytest.fixture
def recording_spy(client_spy: Any) -> Any:
    return client_spy


def test_assume_role_returns_a_client_acting_as_the_role(moto_url: str, recording_spy: Any) -> None:
    client = AWSAction.try_to_assume_role(
        "sts", {"role_arn": ROLE_ARN, "external_id": "ext-123", "region": "eu-west-1"}, auth_params(moto_url)
    )
    try:
        arn = client.get_caller_identity()["Arn"]
    finally:
        client.close()
    (request,) = assume_role_requests(recording_spy)
    assert request["RoleArn"] == ROLE_ARN
    assert request["ExternalId"] == "ext-123"
    session = request["RoleSessionName"]
    assert uuid.UUID(session)
    assert arn == f"arn:aws:sts::123456789012:assumed-role/plugin-role/{session}"
    assert client.meta.region_name == "eu-west-1"
    (sts,) = recording_spy.by_service("sts")[:1]
    assert sts.meta.region_name == "eu-west-1"
    assert recording_spy.closed(sts) == 1


@pytest.mark.parametrize("external_id", [None, ""])
def test_assume_role_without_external_id_omits_it(moto_url: str, recording_spy: Any, external_id: Any) -> None:
    client = AWSAction.try_to_assume_role(
        "ec2", {"role_arn": ROLE_ARN, "external_id": external_id, "region": "us-east-1"}, auth_params(moto_url)
    )
    client.close()
    (request,) = assume_role_requests(recording_spy)
    assert set(request) == {"RoleArn", "RoleSessionName"}


def test_assume_role_keeps_region_from_auth_params_when_none_given(moto_url: str, client_spy: Any) -> None:
    params = {**auth_params(moto_url), "region_name": "ap-south-1"}
    client = AWSAction.try_to_assume_role("ec2", {"role_arn": ROLE_ARN}, params)
    client.close()
    assert client.meta.region_name == "ap-south-1"


def run_as_role(moto_url: str, connection: Any, make_action: Any, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    conn = connection("sts", moto_url, region="us-east-1", assume_role_params=kwargs.pop("connection_role", None))
    action = make_action(conn, "sts", "get_caller_identity", **kwargs)
    return conn, action


def created_by_action(spy: Any, conn: Any) -> list[Any]:
    """STS clients built during the run (the connection's own client is left out)."""
    return [client for client in spy.by_service("sts") if client is not conn.client]


def test_run_uses_the_assumed_role_and_closes_its_client(
    moto_url: str, connection: Any, make_action: Any, recording_spy: Any
) -> None:
    conn, action = run_as_role(moto_url, connection, make_action)
    output = action.run({ASSUME_ROLE_PARAMETERS: {"role_arn": ROLE_ARN, "region": "us-west-2"}})
    assert output["arn"].startswith("arn:aws:sts::123456789012:assumed-role/plugin-role/")
    sts_client, assumed = created_by_action(recording_spy, conn)
    assert assumed.meta.region_name == "us-west-2"
    assert recording_spy.closed(sts_client) == 1
    assert recording_spy.closed(assumed) == 1
    assert conn.closes == 0  # on-prem default: the connection's client stays open


def test_run_defaults_the_region_from_the_connection(
    moto_url: str, connection: Any, make_action: Any, recording_spy: Any
) -> None:
    conn, action = run_as_role(moto_url, connection, make_action, connection_role={"region": "eu-central-1"})
    action.run({ASSUME_ROLE_PARAMETERS: {"role_arn": ROLE_ARN, "external_id": "x-1", "region": ""}})
    sts_client, assumed = created_by_action(recording_spy, conn)
    assert sts_client.meta.region_name == "eu-central-1"
    assert assumed.meta.region_name == "eu-central-1"
    assert assume_role_requests(recording_spy)[0]["ExternalId"] == "x-1"


def test_run_falls_back_to_the_connection_clients_region(
    moto_url: str, connection: Any, make_action: Any, recording_spy: Any
) -> None:
    conn, action = run_as_role(moto_url, connection, make_action)
    action.run({ASSUME_ROLE_PARAMETERS: {"role_arn": ROLE_ARN}})
    _, assumed = created_by_action(recording_spy, conn)
    assert assumed.meta.region_name == "us-east-1"


def test_run_without_role_arn_does_not_call_sts(
    moto_url: str, connection: Any, make_action: Any, client_spy: Any
) -> None:
    conn, action = run_as_role(moto_url, connection, make_action)
    output = action.run({ASSUME_ROLE_PARAMETERS: {"role_arn": "", "region": "us-east-1"}})
    assert output["arn"] == "arn:aws:sts::123456789012:user/moto"
    assert created_by_action(client_spy, conn) == []
    assert client_spy.sent("AssumeRole") == []


def test_run_does_not_modify_the_callers_input(moto_url: str, connection: Any, make_action: Any) -> None:
    conn, action = run_as_role(moto_url, connection, make_action)
    params = {ASSUME_ROLE_PARAMETERS: {"role_arn": ""}}
    action.run(params)
    assert params == {ASSUME_ROLE_PARAMETERS: {"role_arn": ""}}


STS_ACCESS_DENIED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>User is not authorized to perform: sts:AssumeRole</Message></Error>
  <RequestId>fake-request-id</RequestId>
</ErrorResponse>"""


def test_assume_role_refused_closes_sts_and_names_the_error(fake_aws: Any, client_spy: Any) -> None:
    fake_aws.answer(403, STS_ACCESS_DENIED)
    with pytest.raises(PluginException) as caught:
        AWSAction.try_to_assume_role("ec2", {"role_arn": ROLE_ARN, "region": "us-east-1"}, auth_params(fake_aws.url))
    assert "AccessDenied" in caught.value.cause
    assert "external ID" in caught.value.assistance
    assert "not authorized" in caught.value.data
    (sts,) = client_spy.by_service("sts")
    assert client_spy.closed(sts) == 1
    assert client_spy.by_service("ec2") == []


def test_assume_role_with_unreachable_sts_closes_it_and_maps_the_error(client_spy: Any) -> None:
    with pytest.raises(PluginException) as caught:
        AWSAction.try_to_assume_role(
            "ec2", {"role_arn": ROLE_ARN, "region": "us-east-1"}, auth_params("http://127.0.0.1:9")
        )
    assert "could not be reached" in caught.value.cause
    (sts,) = client_spy.by_service("sts")
    assert client_spy.closed(sts) == 1


def test_assume_role_with_invalid_arn_is_an_input_error(moto_url: str, client_spy: Any) -> None:
    with pytest.raises(PluginException) as caught:
        AWSAction.try_to_assume_role("ec2", {"role_arn": "short", "region": "us-east-1"}, auth_params(moto_url))
    assert "not valid" in caught.value.cause
    assert client_spy.closed(client_spy.by_service("sts")[0]) == 1
