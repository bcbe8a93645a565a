"""``ActionHelper``: key case conversion, input cleaning and JSON-safe output (vectors from the contract)."""

from __future__ import annotations

import datetime
import decimal
import io
import json

import pytest
from botocore.response import StreamingBody

from insightconnect_plugin_runtime.clients.aws_client import ActionHelper

OUTPUT_SCHEMA = {
    "type": "object",
    "title": "Variables",
    "properties": {
        "reservations": {"type": "array", "title": "Reservations", "items": {"$ref": "#/definitions/reservation"}},
        "response_metadata": {"$ref": "#/definitions/response_metadata", "title": "Response Metadata"},
    },
    "definitions": {
        "reservation": {"type": "object", "properties": {"reservation_id": {"type": "string"}}},
        "response_metadata": {
            "type": "object",
            "properties": {"request_id": {"type": "string"}, "http_status_code": {"type": "integer"}},
        },
    },
}
EMPTY_METADATA = {"request_id": "", "http_status_code": 0}


@pytest.mark.parametrize(
    ("snake", "camel"),
    [
        ("snake_str_1", "SnakeStr1"),
        ("sssnake31_#test", "Sssnake31#Test"),
        ("s__o", "SO"),
        ("_private_variable", "PrivateVariable"),
        ("max_results", "MaxResults"),
        ("", ""),
    ],
)
def test_to_upper_camel_case(snake: str, camel: str) -> None:
    assert ActionHelper.to_upper_camel_case(snake) == camel


@pytest.mark.parametrize(
    ("camel", "snake"),
    [
        ("InstanceId", "instance_id"),
        ("NextToken", "next_token"),
        ("ETag", "e_tag"),
        ("HTTPStatusCode", "http_status_code"),
        ("already_snake", "already_snake"),
        ("Reservations", "reservations"),
    ],
)
def test_to_snake_case(camel: str, snake: str) -> None:
    assert ActionHelper.to_snake_case(camel) == snake


def test_format_input_drops_empty_values_and_dollar_signs() -> None:
    assert ActionHelper.format_input({"$param1": {}, "$param2": {}, "$param3": [], "$param4": "test"}) == {
        "Param4": "test"
    }


def test_format_input_converts_nested_keys_and_keeps_falsy_scalars() -> None:
    params = {
        "instance_ids": ["i-1"],
        "filters": [{"name": "instance-state-name", "values": ["running"]}],
        "dry_run": False,
        "max_results": 0,
        "next_token": None,
        "empty": "",
    }
    assert ActionHelper.format_input(params) == {
        "InstanceIds": ["i-1"],
        "Filters": [{"Name": "instance-state-name", "Values": ["running"]}],
        "DryRun": False,
        "MaxResults": 0,
    }


def test_get_empty_output_from_schema() -> None:
    assert ActionHelper.get_empty_output(OUTPUT_SCHEMA) == {
        "reservations": [],
        "response_metadata": EMPTY_METADATA,
    }


def test_get_empty_output_resolves_refs_by_path_then_by_property_name() -> None:
    schema = {
        "properties": {
            "owner": {"$ref": "#/definitions/user"},
            "tags": {"$ref": "#/definitions/missing"},
            "count": {"type": "integer"},
        },
        "definitions": {"user": {"type": "object"}, "tags": {"type": "array"}},
    }
    assert ActionHelper.get_empty_output(schema) == {"owner": {}, "tags": [], "response_metadata": EMPTY_METADATA}


def test_get_empty_output_without_properties() -> None:
    assert ActionHelper.get_empty_output({}) == {"response_metadata": EMPTY_METADATA}


@pytest.mark.parametrize(
    ("value", "fixed"),
    [
        (datetime.datetime(2022, 9, 4), "2022-09-04T00:00:00"),
        (datetime.datetime(2022, 9, 4, 1, 2, 3, tzinfo=datetime.UTC), "2022-09-04T01:02:03+00:00"),
        (datetime.date(2022, 9, 4), "2022-09-04"),
        (2.467, "2.467"),
        (b"a", "YQ=="),
        (bytearray(b"a"), "YQ=="),
        ("text", "text"),
        ("", ""),
        (7, 7),
        (True, True),
        (None, None),
        (decimal.Decimal("1.50"), "1.50"),
        ([1.5, 2.5], ["1.5", "2.5"]),
        ({"a": 1.5, "b": {"c": 2.5}}, {"a": "1.5", "b": {"c": "2.5"}}),
        ((1, 2.0), [1, "2.0"]),
    ],
)
def test_fix_output_types(value: object, fixed: object) -> None:
    assert ActionHelper.fix_output_types(value) == fixed


def test_fix_output_types_reads_streaming_bodies_as_base64() -> None:
    raw = b"\x01\x02\x03\x04"
    body = StreamingBody(io.BytesIO(raw), len(raw))
    assert ActionHelper.fix_output_types({"Body": body}) == {"Body": "AQIDBA=="}


def test_fix_output_types_result_is_json_serialisable() -> None:
    value = {"when": datetime.datetime(2024, 1, 1), "size": decimal.Decimal("3"), "blob": b"\xff", "x": object()}
    json.dumps(ActionHelper.fix_output_types(value))


def test_case_conversions_recurse_into_dicts_and_lists() -> None:
    camel = {"TopKey": [{"InnerKey": {"DeepKey": 1}}, "PlainValue"], "Other": "Value"}
    snake = {"top_key": [{"inner_key": {"deep_key": 1}}, "PlainValue"], "other": "Value"}
    assert ActionHelper.convert_all_to_snake_case(camel) == snake
    assert ActionHelper.convert_all_to_upper_camel_case(snake) == camel
    assert ActionHelper.convert_all_to_snake_case([camel]) == [snake]
    assert ActionHelper.convert_all_to_upper_camel_case("top_key") == "top_key"


def test_format_output_with_schema_adds_defaults() -> None:
    assert ActionHelper.format_output(OUTPUT_SCHEMA, {"Reservations": [{"key1": 1}]}) == {
        "reservations": [{"key1": 1}],
        "response_metadata": EMPTY_METADATA,
    }


def test_format_output_keeps_present_values_over_defaults() -> None:
    output = {"Reservations": [], "ResponseMetadata": {"RequestId": "r-1", "HTTPStatusCode": 200}}
    assert ActionHelper.format_output(OUTPUT_SCHEMA, output) == {
        "reservations": [],
        "response_metadata": {"request_id": "r-1", "http_status_code": 200},
    }


def test_format_output_without_schema_only_formats() -> None:
    assert ActionHelper.format_output(None, {"LaunchTime": datetime.datetime(2022, 9, 4)}) == {
        "launch_time": "2022-09-04T00:00:00"
    }


def test_helper_methods_work_on_instances() -> None:
    helper = ActionHelper()
    assert helper.format_input({"max_results": 5}) == {"MaxResults": 5}
    assert helper.format_output(None, {"A": 1}) == {"a": 1}
