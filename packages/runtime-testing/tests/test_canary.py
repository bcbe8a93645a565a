"""Canary secrets: which fields get markers, every encoding is found, and real leaks are reported."""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import quote, quote_plus

import pytest

from insightconnect_plugin_runtime.testing import PluginKit, assert_no_leaks, canary_connection, marker_forms

from . import planted
from .conftest import CONNECTION


def test_every_credential_string_gets_a_unique_marker_and_identities_do_not():
    canary = canary_connection(planted.CONNECTION_SCHEMA, planted.GOOD_CONNECTION)
    assert sorted(canary.markers) == ["api_key.secretKey", "credentials.password"]
    assert len(set(canary.markers.values())) == 2
    assert canary.connection["credentials"]["password"] == canary.markers["credentials.password"]
    assert canary.connection["credentials"]["username"] == "canary-username"
    assert canary.connection["url"] == "http://127.0.0.1:9"  # not a credential: the test's value


def test_secret_looking_names_and_password_formats_count_as_credentials():
    schema = {
        "properties": {
            "client_secret": {"type": "string"},
            "pin": {"type": "string", "format": "password"},
            "host": {"type": "string"},
        }
    }
    assert sorted(canary_connection(schema, {"host": "h"}).markers) == ["client_secret", "pin"]


@pytest.mark.parametrize(
    "encode",
    [
        lambda m: m,
        lambda m: quote(m, safe=""),
        lambda m: quote_plus(m),
        lambda m: json.dumps({"k": m}),
        lambda m: json.dumps(json.dumps({"k": m})),
        lambda m: base64.b64encode(f"alice:{m}".encode()).decode(),  # Basic auth
        lambda m: base64.b64encode(f"xy{m}".encode()).decode(),
        lambda m: base64.urlsafe_b64encode(f"x{m}".encode()).decode(),
        lambda m: binascii.hexlify(m.encode()).decode(),
        lambda m: binascii.hexlify(m.encode()).decode().upper(),
        lambda m: "&lt;" + m.replace("&", "&amp;").replace('"', "&quot;"),
        lambda m: m.split("+")[0] + " (cut at the first symbol)",
    ],
    ids=["plain", "url", "form", "json", "json-twice", "basic-auth", "b64@2", "b64url@1", "hex", "HEX", "html", "cut"],
)
def test_each_encoding_of_a_marker_is_found(encode):
    canary = canary_connection(planted.CONNECTION_SCHEMA, planted.GOOD_CONNECTION)
    marker = canary.markers["credentials.password"]
    leaks = canary.leaks([("reply", "prefix " + encode(marker) + " suffix")])
    assert [leak.field for leak in leaks] == ["credentials.password"]


def test_nothing_is_found_in_text_without_the_markers():
    canary = canary_connection(planted.CONNECTION_SCHEMA, planted.GOOD_CONNECTION)
    texts = [("reply", json.dumps(planted.GOOD_CONNECTION)), ("log", "cnry counting base64 hex")]
    assert canary.leaks(texts) == []
    assert len(dict(marker_forms('cnry00abc+/&"%='))) >= 15


def test_a_clean_step_has_no_leaks_although_it_logs_the_secret():
    kit = PluginKit(planted.Planted(), planted.GOOD_CONNECTION)
    run = kit.canary("action", "fine", {"n": 3})
    assert run.result.ok
    assert "counting with key ********" in run.result.log  # the runtime masked it
    assert_no_leaks(run)


def test_a_hex_encoded_secret_in_the_output_is_found():
    run = PluginKit(planted.Planted(), planted.GOOD_CONNECTION).canary("action", "leaky_hex", {"n": 1})
    assert [(leak.field, leak.where, leak.form) for leak in run.leaks] == [("credentials.password", "reply", "hex")]
    with pytest.raises(AssertionError, match="credentials.password leaked into reply"):
        assert_no_leaks(run)


def test_a_secret_logged_by_another_logger_is_found_in_the_log_records():
    run = PluginKit(planted.Planted(), planted.GOOD_CONNECTION).canary("action", "leaky_logger", {"n": 1})
    assert [(leak.field, leak.form) for leak in run.leaks] == [("api_key.secretKey", "plain")]
    assert run.leaks[0].where.startswith("log record")


def test_the_example_plugin_leaks_nothing_in_any_step(example_plugin):
    kit = PluginKit(example_plugin, CONNECTION)
    for kind, name, params in [
        ("action", "say_hello", {"name": "x"}),
        ("action", "raise_error", {"kind": "plugin"}),
        ("trigger", "emit_greeting", {"name": "x", "interval": 0}),
        ("task", "monitor_events", {"total": 3}),
        ("connection_test", "", None),
    ]:
        run = kit.canary(kind, name, params)
        assert run.canary.markers and run.leaks == [], (kind, name, run.leaks)
