"""Canary secrets: which fields get markers, every encoding is found, and real leaks are reported."""

from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from insightconnect_plugin_runtime.testing import (
    PluginKit,
    assert_no_leaks,
    canary_connection,
    is_credential,
    marker_forms,
)

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


def test_part_of_a_secret_in_the_output_is_found():
    run = PluginKit(planted.Planted(), planted.GOOD_CONNECTION).canary("action", "leaky_partial", {"n": 1})
    assert [(leak.field, leak.where, leak.form) for leak in run.leaks] == [("credentials.password", "reply", "core")]
    with pytest.raises(AssertionError, match="credentials.password leaked into reply"):
        assert_no_leaks(run)


def test_a_secret_logged_by_another_logger_is_found_in_the_log_records():
    run = PluginKit(planted.Planted(), planted.GOOD_CONNECTION).canary("action", "leaky_logger", {"n": 1})
    assert [(leak.field, leak.form) for leak in run.leaks] == [("api_key.secretKey", "core")]
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


MARKER = 'cnry00abcdef012345+/&"%='


def test_the_marker_forms_are_exactly_these():
    forms = dict(marker_forms(MARKER))
    assert {name: text for name, text in forms.items() if not name.startswith("base64")} == {
        "plain": MARKER,
        "core": "cnry00abcdef012345",
        "url-encoded": "cnry00abcdef012345%2B%2F%26%22%25%3D",
        "url-encoded (path)": "cnry00abcdef012345%2B/%26%22%25%3D",
        "form-encoded": "cnry00abcdef012345%2B%2F%26%22%25%3D",
        "json-escaped": 'cnry00abcdef012345+/&\\"%=',
        "json-escaped twice": 'cnry00abcdef012345+/&\\\\\\"%=',
        "repr": 'cnry00abcdef012345+/&"%=',
        "html-escaped": "cnry00abcdef012345+/&amp;&quot;%=",
        "hex": MARKER.encode().hex(),
        "HEX": MARKER.encode().hex().upper(),
    }
    for offset in range(3):
        core, url_core = forms[f"base64@{offset}"], forms[f"base64url@{offset}"]
        assert len(core) >= len(MARKER) * 4 // 3 - 2  # nearly all of the marker, not a stub
        assert url_core == core.replace("+", "-").replace("/", "_")
        for prefix in (b"", b"a", b"ab", b"abc", b"user:"):
            if len(prefix) % 3 == offset:
                assert core in base64.b64encode(prefix + MARKER.encode() + b"tail").decode()


@pytest.mark.parametrize(
    ("encode", "form"),
    [
        (lambda m: m, "plain"),
        (lambda m: quote(m, safe=""), "url-encoded"),
        (lambda m: quote(m), "url-encoded (path)"),
        (lambda m: json.dumps({"k": m}), "json-escaped"),
        (lambda m: json.dumps(json.dumps({"k": m})), "json-escaped twice"),
        (lambda m: base64.b64encode(m.encode()).decode(), "base64@0"),
        (lambda m: base64.b64encode(f"u{m}".encode()).decode(), "base64@1"),
        (lambda m: base64.b64encode(f"al:{m}".encode()).decode(), "base64@0"),
        (lambda m: base64.urlsafe_b64encode(f"xy{m}".encode()).decode(), "base64url@2"),
        (lambda m: m.encode().hex(), "hex"),
        (lambda m: m.encode().hex().upper(), "HEX"),
        (lambda m: m.replace("&", "&amp;").replace('"', "&quot;"), "html-escaped"),
        (lambda m: m.split("+")[0], "core"),
    ],
)
def test_a_leak_names_its_strongest_form_and_shows_its_context(encode, form):
    canary = canary_connection(planted.CONNECTION_SCHEMA, planted.GOOD_CONNECTION)
    marker = canary.markers["api_key.secretKey"]
    forms = dict(marker_forms(marker))
    if forms[form] == forms.get(form.replace("url@", "@")):  # no + or / in it: both names fit
        form = form.replace("url@", "@")
    needle = forms[form]
    text = "A" * 30 + encode(marker) + "B" * 30
    (leak,) = canary.leaks([("reply", text)])
    assert (leak.where, leak.field, leak.form) == ("reply", "api_key.secretKey", form)
    index = text.index(needle)
    assert leak.excerpt == text[index - 20 : index + len(needle) + 20]
    assert str(leak) == f"api_key.secretKey leaked into reply ({form}): ...{leak.excerpt}..."


def test_one_leak_per_output_path_and_field():
    canary = canary_connection(planted.CONNECTION_SCHEMA, planted.GOOD_CONNECTION)
    password, key = canary.markers["credentials.password"], canary.markers["api_key.secretKey"]
    texts = [
        ("reply", f"{password} and again {quote(password, safe='')}"),  # one field twice: one leak
        ("", ""),
        ("log", f"{key} {password}"),  # two fields: two leaks
        ("event 1", password),
    ]
    found = [(leak.where, leak.field) for leak in canary.leaks(texts)]
    assert found == [
        ("reply", "credentials.password"),
        ("log", "credentials.password"),
        ("log", "api_key.secretKey"),
        ("event 1", "credentials.password"),
    ]
    assert canary.leaks([("reply", f"x{password}")])[0].excerpt == f"x{password}"  # context clipped at 0


@pytest.mark.parametrize(
    ("name", "prop", "expected"),
    [
        ("a", {"$ref": "#/definitions/credential_token"}, True),
        ("a", {"$ref": "#/definitions/password"}, True),
        ("a", {"$ref": "#/definitions/passwordless"}, False),
        ("a", {"$ref": "#/definitions/my_credential_x"}, False),
        ("a", {"type": "string", "format": "password"}, True),
        ("a", {"type": "string", "displayType": "password"}, True),
        ("a", {"type": "credential_secret_key"}, True),
        ("a", {"type": "password"}, True),
        ("api_key", {"type": "string"}, True),
        ("client_secret", {"type": "string"}, True),
        ("refresh_token", {"type": "string"}, True),
        ("auth", {"type": "string"}, True),
        ("host", {"type": "string"}, False),
        ("tokenizer_url", {"type": "string"}, False),
        ("api_key", "not a schema", False),
    ],
)
def test_which_properties_are_credentials(name, prop, expected):
    assert is_credential(name, prop) is expected


def test_credential_objects_get_markers_in_strings_and_plain_values_elsewhere():
    schema = {
        "properties": {
            "cred": {"$ref": "#/definitions/credential_token", "title": "Token"},
            "other": {"$ref": "#/definitions/nowhere", "format": "password"},
        },
        "definitions": {
            "credential_token": {
                "type": "object",
                "properties": {
                    "token": {"type": "string"},
                    "domain": {"type": "string"},
                    "user": {"type": "string"},
                    "login": {"type": "string"},
                    "email": {"type": "string"},
                    "port": {"type": "integer", "default": 8443},
                },
            }
        },
    }
    canary = canary_connection(schema, {})
    cred = canary.connection["cred"]
    assert {k: cred[k] for k in ("domain", "user", "login", "email")} == {
        "domain": "canary-domain", "user": "canary-user", "login": "canary-login", "email": "canary-email",
    }  # fmt: skip
    assert cred["port"] == 8443
    assert sorted(canary.markers) == ["cred.token", "other"]
    for marker in canary.markers.values():
        assert re.fullmatch(r'cnry\d\d[0-9a-f]{12}\+/&"%=', marker)
    assert canary.connection["other"] == canary.markers["other"]
    assert canary.markers["cred.token"].startswith("cnry00") and canary.markers["other"].startswith("cnry01")


# --- exact base64 forms, resolution and nested credential types (mutation survivors) -----------------


def test_the_base64_forms_are_exactly_the_characters_made_of_the_marker_alone():
    import math

    marker = "k>>>???>>?>?~~~"  # its base64 has both "+" and "/" at every alignment
    raw = marker.encode()
    forms = dict(marker_forms(marker))
    assert sorted(name for name in forms if name.startswith("base64")) == [
        "base64@0", "base64@1", "base64@2", "base64url@0", "base64url@1", "base64url@2",
    ]  # fmt: skip
    for offset in range(3):
        core = forms[f"base64@{offset}"]
        start, end = math.ceil(8 * offset / 6), (8 * (offset + len(raw))) // 6
        assert core == base64.b64encode(b"\0" * offset + raw).decode()[start:end]
        assert core in base64.b64encode(b"Q" * offset + raw + b"\xff tail").decode()
        assert "+" in core and "/" in core
        url = forms[f"base64url@{offset}"]
        assert url == core.replace("+", "-").replace("/", "_") and "+" not in url and "/" not in url
        assert url in base64.urlsafe_b64encode(b"Z" * offset + raw + b"!").decode()


def test_a_leak_is_a_value_it_can_be_hashed_and_not_changed():
    import dataclasses

    from insightconnect_plugin_runtime.testing import Leak

    assert len({Leak("r", "f", "plain", "x"), Leak("r", "f", "plain", "x")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        Leak("r", "f", "plain", "x").where = "elsewhere"


def test_references_keep_their_own_keys_over_the_definition():
    schema = {
        "properties": {
            # the property's own fields replace the definition's
            "api_key": {"$ref": "#/definitions/credential_secret_key", "properties": {"token": {"type": "string"}}},
            "extra": {"$ref": "#/definitions/credential_secret_key"},
        },
        "definitions": {"credential_secret_key": {"type": "object", "properties": {"secretKey": {"type": "string"}}}},
    }
    canary = canary_connection(schema, {})
    assert sorted(canary.markers) == ["api_key.token", "extra.secretKey"]
    assert canary.connection["api_key"] == {"token": canary.markers["api_key.token"]}


def test_nested_credential_and_password_types_get_markers_and_odd_schemas_do_not_break():
    schema = {
        "properties": {
            "cred": {
                "$ref": "#/definitions/credential_x",
            }
        },
        "definitions": {
            "credential_x": {
                # no "type": the properties make it an object
                "properties": {
                    "key": {"type": "credential_secret_key"},
                    "pin": {"type": "password_pin"},
                    "anything": True,  # a boolean schema: a string marker
                    "port": {"type": "integer", "default": 8443},
                    "flags": {"type": "array"},
                },
            }
        },
    }
    canary = canary_connection(schema, {})
    assert sorted(canary.markers) == ["cred.anything", "cred.key", "cred.pin"]
    cred = canary.connection["cred"]
    assert cred["key"] == canary.markers["cred.key"] and cred["port"] == 8443 and cred["flags"] == []
