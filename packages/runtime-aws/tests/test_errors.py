"""How AWS failures reach the workflow user: presets and causes, from real boto3 calls.

A throttled or denied call is hard to get from moto, so those answers come from a local HTTP server
that replies with the service's own error document; boto3 parses it as it would AWS's.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from insightconnect_plugin_runtime.clients.aws_client import botocore_error_to_plugin_exception
from insightconnect_plugin_runtime.exceptions import PluginException

Preset = PluginException.Preset


def ec2_error(code: str, message: str = "error message") -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
        "<RequestID>fake-request-id</RequestID></Response>"
    )


def s3_error(code: str, message: str = "error message") -> str:
    return f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>fake-request-id</RequestId></Error>"


def json_error(code: str, message: str = "error message") -> str:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})


JSON = "application/x-amz-json-1.0"

CASES = [
    # (service, command, params, status, body, content type, expected preset)
    ("ec2", "describe_instances", {}, 503, ec2_error("RequestLimitExceeded"), "text/xml", Preset.RATE_LIMIT),
    ("dynamodb", "list_tables", {}, 400, json_error("ThrottlingException"), JSON, Preset.RATE_LIMIT),
    ("s3", "list_objects_v2", {"bucket": "b-1"}, 503, s3_error("SlowDown"), "application/xml", Preset.RATE_LIMIT),
    ("s3", "list_objects_v2", {"bucket": "b-1"}, 403, s3_error("AccessDenied"), "application/xml", Preset.UNAUTHORIZED),
    ("ec2", "describe_instances", {}, 403, ec2_error("UnauthorizedOperation"), "text/xml", Preset.UNAUTHORIZED),
    ("dynamodb", "list_tables", {}, 400, json_error("AccessDeniedException"), JSON, Preset.UNAUTHORIZED),
    ("ec2", "describe_instances", {}, 401, ec2_error("AuthFailure"), "text/xml", Preset.INVALID_CREDENTIALS),
    ("dynamodb", "list_tables", {}, 400, json_error("UnrecognizedClientException"), JSON, Preset.INVALID_CREDENTIALS),
    ("ec2", "describe_instances", {}, 400, ec2_error("InvalidParameterValue"), "text/xml", Preset.BAD_REQUEST),
    ("ec2", "describe_instances", {}, 400, ec2_error("InvalidInstanceID.Malformed"), "text/xml", Preset.BAD_REQUEST),
    ("ec2", "describe_instances", {}, 400, ec2_error("InvalidInstanceID.NotFound"), "text/xml", Preset.NOT_FOUND),
    ("s3", "list_objects_v2", {"bucket": "b-1"}, 404, s3_error("NoSuchBucket"), "application/xml", Preset.NOT_FOUND),
    ("ec2", "describe_instances", {}, 500, ec2_error("InternalError"), "text/xml", Preset.SERVER_ERROR),
    ("dynamodb", "list_tables", {}, 503, json_error("ServiceUnavailable"), JSON, Preset.SERVICE_UNAVAILABLE),
]


@pytest.mark.parametrize(("service", "command", "params", "status", "body", "content_type", "preset"), CASES)
def test_aws_error_answers_map_to_presets(
    fake_aws: Any,
    connection: Any,
    make_action: Any,
    service: str,
    command: str,
    params: dict[str, Any],
    status: int,
    body: str,
    content_type: str,
    preset: str,
) -> None:
    fake_aws.answer(status, body, content_type)
    action = make_action(connection(service, fake_aws.url), service, command)
    with pytest.raises(PluginException) as caught:
        action.run(params)
    assert caught.value.preset == preset
    assert caught.value.cause == PluginException.causes[preset]
    assert "error message" in caught.value.data  # the AWS message is kept for the user
    assert len(fake_aws.requests) == 1  # no retries hidden behind the mapping


def test_unknown_error_code_names_the_code(fake_aws: Any, connection: Any, make_action: Any) -> None:
    fake_aws.answer(400, ec2_error("DryRunOperation", "would have succeeded"))
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({"dry_run": True})
    assert caught.value.preset is None
    assert "DryRunOperation" in caught.value.cause
    assert "ec2 describe_instances" in caught.value.cause


def test_errors_are_logged(fake_aws: Any, connection: Any, make_action: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake_aws.answer(503, ec2_error("RequestLimitExceeded"))
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    with pytest.raises(PluginException):
        action.run({})
    assert any(
        record.levelname == "ERROR" and "RequestLimitExceeded" in record.getMessage() for record in caplog.records
    )


def test_invalid_input_is_rejected_before_sending(fake_aws: Any, connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", fake_aws.url), "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({"max_results": "five"})
    assert "not valid for ec2 describe_instances" in caught.value.cause
    assert "MaxResults" in caught.value.data
    assert fake_aws.requests == []


def test_unknown_parameter_is_an_input_error(moto_url: str, connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", moto_url), "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({"no_such_parameter": 1})
    assert "not valid" in caught.value.cause


def test_unreachable_endpoint(connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", "http://127.0.0.1:9"), "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({})
    assert "could not be reached" in caught.value.cause
    assert "region" in caught.value.assistance


def test_read_timeout_maps_to_timeout_preset(fake_aws: Any, connection: Any, make_action: Any) -> None:
    fake_aws.answer(200, ec2_error("late"), delay=1.0)
    conn = connection("ec2", fake_aws.url)
    conn.client = boto3.client(
        "ec2",
        region_name="us-east-1",
        endpoint_url=fake_aws.url,
        config=Config(read_timeout=0.2, retries={"total_max_attempts": 1}),
    )
    action = make_action(conn, "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({})
    assert caught.value.preset == Preset.TIMEOUT


def test_unknown_command(moto_url: str, connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", moto_url), "ec2", "describe_unicorns")
    with pytest.raises(PluginException) as caught:
        action.run({})
    assert '"ec2 describe_unicorns"' in caught.value.cause


def test_input_that_cannot_be_formatted(moto_url: str, connection: Any, make_action: Any) -> None:
    action = make_action(connection("ec2", moto_url), "ec2", "describe_instances")
    with pytest.raises(PluginException) as caught:
        action.run({1: "not a string key"})
    assert "could not be converted into AWS parameters" in caught.value.cause


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (botocore.exceptions.NoRegionError(), "No valid AWS region"),
        (botocore.exceptions.NoCredentialsError(), "No complete AWS credentials"),
        (botocore.exceptions.ConnectTimeoutError(endpoint_url="http://x"), Preset.TIMEOUT),
        (botocore.exceptions.ProxyConnectionError(proxy_url="http://p", error="refused"), Preset.CONNECTION_ERROR),
        (ValueError("boom"), "failed unexpectedly"),
    ],
)
def test_mapping_of_errors_without_an_aws_answer(error: Exception, expected: str) -> None:
    mapped = botocore_error_to_plugin_exception(error, "ec2 describe_instances")
    assert mapped.preset == expected or expected in mapped.cause
    assert mapped.data


def test_mapping_passes_plugin_exceptions_through() -> None:
    original = PluginException(cause="plugin said so")
    assert botocore_error_to_plugin_exception(original, "ec2 describe_instances") is original


@pytest.mark.parametrize(
    ("status", "preset"), [(429, Preset.RATE_LIMIT), (403, Preset.UNAUTHORIZED), (409, Preset.CONFLICT)]
)
def test_mapping_falls_back_to_http_status(status: int, preset: str) -> None:
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": "Whatever", "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )
    assert botocore_error_to_plugin_exception(error, "svc op").preset == preset
