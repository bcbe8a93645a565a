"""Secrets and their derived forms are masked; ordinary text is left alone."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from insightconnect_plugin_runtime._masking import MASK, SecretMasker, connection_secrets
from insightconnect_plugin_runtime.util import OutputMasker

SECRET = "s3cr3t/value+with=chars"
SCHEMA = {
    "properties": {
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
        "login": {"$ref": "#/definitions/credential_username_password"},
        "client_pass": {"type": "string", "format": "password"},
        "url": {"type": "string"},
    }
}
CONNECTION = {
    "api_key": {"secretKey": SECRET},
    "login": {"username": "alice", "password": "hunter2hunter2"},
    "client_pass": "opaque-thing-77",
    "url": "https://example.com",
    "nested": {"token": "tok-abc-123"},
}


def test_secrets_come_from_schema_types_and_key_names():
    found = set(connection_secrets(CONNECTION, SCHEMA))
    assert {SECRET, "hunter2hunter2", "opaque-thing-77", "tok-abc-123"} <= found
    assert "alice" not in found and "https://example.com" not in found


@pytest.mark.parametrize(
    "leak",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"x" + SECRET.encode()).decode(),
        base64.b64encode(b"xy" + SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"alice:hunter2hunter2").decode(),
    ],
)
def test_derived_forms_are_masked(leak):
    masker = SecretMasker(connection_secrets(CONNECTION, SCHEMA))
    masked = masker.mask({"out": [f"before {leak} after"]})
    assert leak not in json.dumps(masked)
    assert MASK in masked["out"][0]


@given(st.text(alphabet="abcdefgh ", max_size=40))
def test_text_without_secrets_is_unchanged(text):
    masker = SecretMasker(["zzzyyyxxx"])
    assert masker.mask_text(text) == text


def test_mask_output_data_does_not_mutate_its_input():
    output = {"body": {"output": {"x": SECRET}, "log": f"used {SECRET}"}}
    masked = OutputMasker.mask_output_data(CONNECTION, output, SCHEMA)
    assert output["body"]["output"]["x"] == SECRET
    assert masked["body"]["output"]["x"] == MASK and SECRET not in masked["body"]["log"]


def test_no_connection_means_no_masking():
    assert OutputMasker.mask_output_data(None, {"a": "b"}) == {"a": "b"}
    assert OutputMasker.extract_connection_values(None) == []


def test_extract_connection_values_by_key_names():
    values = OutputMasker.extract_connection_values({"a": {"secretKey": "k1"}, "password": "", "token": "t"})
    assert values == ["k1", "t"]
