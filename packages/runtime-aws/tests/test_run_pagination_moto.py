"""``AWSAction.run`` against moto: EC2 ``describe_instances`` and S3 ``list_objects_v2`` over several pages."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from insightconnect_plugin_runtime.clients.aws_client import PaginationHelper

EC2_REGION = "eu-north-1"  # only this module puts instances there
RESERVATIONS = 12  # pages of 5: [5, 5, 2]
BUCKET = "icon-runtime-aws-pagination"
KEYS = 25  # pages of 10: [10, 10, 5]

EC2_SCHEMA = {
    "properties": {
        "reservations": {"type": "array", "items": {"type": "object"}},
        "response_metadata": {"$ref": "#/definitions/response_metadata"},
    },
    "definitions": {"response_metadata": {"type": "object"}},
}


@pytest.fixture(scope="module")
def ec2_instances(moto_url: str) -> str:
    """Twelve single-instance reservations (moto paginates by reservation)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "fake")
        ec2 = boto3.client("ec2", region_name=EC2_REGION, endpoint_url=moto_url)
        if len(ec2.describe_instances()["Reservations"]) < RESERVATIONS:
            for _ in range(RESERVATIONS):
                ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        ec2.close()
    return moto_url


@pytest.fixture(scope="module")
def s3_objects(moto_url: str) -> str:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "fake")
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_url)
        s3.create_bucket(Bucket=BUCKET)
        for index in range(KEYS):
            s3.put_object(Bucket=BUCKET, Key=f"object-{index:02d}", Body=b"x" * index)
        s3.close()
    return moto_url


def ec2_pagination(**kwargs: Any) -> PaginationHelper:
    # Spelled like the aws_ec2 plugin: snake_case tokens, AWS-cased result key.
    return PaginationHelper(
        input_token=["next_token"], output_token=["next_token"], result_key=["Reservations"], **kwargs
    )


@pytest.fixture
def describe(ec2_instances: str, connection: Any, make_action: Any, count_calls: Any) -> Any:
    def run(params: dict[str, Any], **pagination: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        conn = connection("ec2", ec2_instances, region=EC2_REGION)
        calls = count_calls(conn.client, "DescribeInstances")
        action = make_action(conn, "ec2", "describe_instances", ec2_pagination(**pagination), EC2_SCHEMA)
        return action.run(params), calls

    return run


def instance_ids(output: dict[str, Any]) -> list[str]:
    return [instance["instance_id"] for reservation in output["reservations"] for instance in reservation["instances"]]


def test_without_max_pages_fetches_every_page_and_drops_the_token(describe: Any) -> None:
    output, calls = describe({"max_results": 5})
    assert len(output["reservations"]) == RESERVATIONS
    assert len(set(instance_ids(output))) == RESERVATIONS
    assert [call.get("NextToken") is None for call in calls] == [True, False, False]
    assert "next_token" not in output
    assert output["response_metadata"]["http_status_code"] == 200
    json.dumps(output)  # datetimes and the like are already strings
    assert isinstance(output["reservations"][0]["instances"][0]["launch_time"], str)


@pytest.mark.parametrize(("max_pages", "expected"), [(1, 5), (2, 10)])
def test_max_pages_fetches_that_many_pages_and_keeps_the_token(describe: Any, max_pages: int, expected: int) -> None:
    output, calls = describe({"max_results": 5}, max_pages=max_pages)
    assert len(calls) == max_pages
    assert len(output["reservations"]) == expected
    assert output["next_token"]


def test_max_pages_token_lets_the_next_run_resume(describe: Any) -> None:
    first, _ = describe({"max_results": 5}, max_pages=2)
    rest, calls = describe({"max_results": 5, "next_token": first["next_token"]}, max_pages=2)
    assert len(calls) == 1
    assert not rest.get("next_token")
    assert sorted(instance_ids(first) + instance_ids(rest)) == sorted(set(instance_ids(first) + instance_ids(rest)))
    assert len(instance_ids(first) + instance_ids(rest)) == RESERVATIONS


def test_max_pages_larger_than_available_fetches_all(describe: Any) -> None:
    output, calls = describe({"max_results": 5}, max_pages=10)
    assert len(calls) == 3
    assert len(output["reservations"]) == RESERVATIONS


def test_limit_key_caps_the_results_without_extra_calls(describe: Any) -> None:
    output, calls = describe({"max_results": 5}, limit_key="max_results")
    assert len(calls) == 1
    assert len(output["reservations"]) == 5
    assert "next_token" not in output


def test_limit_key_with_max_pages_allows_limit_times_pages(describe: Any) -> None:
    output, calls = describe({"max_results": 5}, limit_key="max_results", max_pages=2)
    assert len(calls) == 2
    assert len(output["reservations"]) == 10
    assert output["next_token"]


def test_single_page_when_the_service_does_not_paginate(describe: Any) -> None:
    output, calls = describe({})
    assert len(calls) == 1
    assert len(output["reservations"]) == RESERVATIONS


@pytest.fixture
def list_objects(s3_objects: str, connection: Any, make_action: Any, count_calls: Any) -> Any:
    def run(params: dict[str, Any], **pagination: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        conn = connection("s3", s3_objects)
        calls = count_calls(conn.client, "ListObjectsV2")
        helper = PaginationHelper(
            input_token=["continuation_token"],
            output_token=["next_continuation_token"],
            result_key=["contents"],
            more_results="is_truncated",
            **pagination,
        )
        action = make_action(conn, "s3", "list_objects_v2", helper)
        return action.run({"bucket": BUCKET, **params}), calls

    return run


def test_s3_listing_follows_continuation_tokens(list_objects: Any) -> None:
    output, calls = list_objects({"max_keys": 10})
    assert len(calls) == 3
    assert [item["key"] for item in output["contents"]] == [f"object-{i:02d}" for i in range(KEYS)]
    assert "next_continuation_token" not in output and "is_truncated" not in output
    assert isinstance(output["contents"][0]["last_modified"], str)


def test_s3_listing_with_max_pages_keeps_the_continuation_token(list_objects: Any) -> None:
    output, calls = list_objects({"max_keys": 10}, max_pages=2)
    assert len(calls) == 2
    assert len(output["contents"]) == 20
    assert output["next_continuation_token"]
    assert output["is_truncated"] is True


def test_s3_listing_limit_key(list_objects: Any) -> None:
    output, calls = list_objects({"max_keys": 7}, limit_key="max_keys")
    assert len(calls) == 1
    assert len(output["contents"]) == 7
