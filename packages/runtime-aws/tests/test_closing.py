"""When the connection's client is closed: by default only in the cloud, once per run."""

from __future__ import annotations

from typing import Any

import pytest

from insightconnect_plugin_runtime.clients.aws_client import AWSAction, PaginationHelper
from insightconnect_plugin_runtime.exceptions import PluginException


@pytest.mark.parametrize(
    ("environment", "close_client", "expected_closes"),
    [
        (None, None, 0),  # on-prem default
        ("cloud", None, 1),  # cloud default
        (None, True, 1),
        ("cloud", False, 0),
    ],
)
def test_close_client_defaults_and_overrides(
    moto_url: str,
    connection: Any,
    make_action: Any,
    monkeypatch: pytest.MonkeyPatch,
    environment: str | None,
    close_client: bool | None,
    expected_closes: int,
) -> None:
    if environment:
        monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", environment)
    conn = connection("sts", moto_url)
    action = make_action(conn, "sts", "get_caller_identity", close_client=close_client)
    action.run({})
    assert conn.closes == expected_closes


def test_client_closed_once_per_run_over_several_pages(moto_url: str, connection: Any, make_action: Any) -> None:
    conn = connection("s3", moto_url)
    conn.client.create_bucket(Bucket="icon-runtime-aws-closing")
    for index in range(5):
        conn.client.put_object(Bucket="icon-runtime-aws-closing", Key=f"k{index}", Body=b"")
    helper = PaginationHelper(
        input_token=["continuation_token"], output_token=["next_continuation_token"], result_key=["contents"]
    )
    action = make_action(conn, "s3", "list_objects_v2", helper, close_client=True)
    output = action.run({"bucket": "icon-runtime-aws-closing", "max_keys": 2})
    assert len(output["contents"]) == 5
    assert conn.closes == 1


def test_client_closed_when_the_call_fails(connection: Any, make_action: Any) -> None:
    conn = connection("ec2", "http://127.0.0.1:9")
    action = make_action(conn, "ec2", "describe_instances", close_client=True)
    with pytest.raises(PluginException):
        action.run({})
    assert conn.closes == 1


def test_handle_rest_call_closes_the_function_client(moto_url: str, connection: Any, make_action: Any) -> None:
    conn = connection("sts", moto_url)
    action = make_action(conn, "sts", "get_caller_identity", close_client=True)
    output = action.handle_rest_call(conn.client.get_caller_identity, {})
    assert output["account"] == "123456789012"
    assert conn.closes == 1


def test_input_may_be_given_as_input_or_input_() -> None:
    schema = object()
    assert AWSAction("a", "d", input_=schema, aws_service="ec2", aws_command="x").input is schema
    assert AWSAction("a", "d", input=schema, aws_service="ec2", aws_command="x").input is schema


def test_close_client_default_follows_core_util(monkeypatch: pytest.MonkeyPatch) -> None:
    from insightconnect_plugin_runtime import util

    monkeypatch.setattr(util, "is_running_in_cloud", lambda: True)
    assert AWSAction("a", "d", aws_service="ec2", aws_command="x").close_client is True
