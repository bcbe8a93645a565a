"""Hashes, encodings, time helpers and constants."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest

from insightconnect_plugin_runtime import helper


def test_hash_sha1_vectors() -> None:
    log = {"example": "value", "sample": "value"}
    assert helper.hash_sha1(log) == "2e1ccc1a95e9b2044f13546c25fe380bbd039293"
    assert helper.hash_sha1(log, keys=["example"]) == "61c908e52d66a763ceed0798b8e5f4b7f0328a21"
    assert helper.hash_sha1({"specimen": "new_value"}) == "ad6ae80c0356e02b1561cb58408ee678eb1070bb"


def test_hash_sha1_errors() -> None:
    with pytest.raises(TypeError):
        helper.hash_sha1({"a": 1}, keys="a")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        helper.hash_sha1({"a": 1}, keys=["b"])


def test_compare_and_dedupe_hashes() -> None:
    old = {"example": "value", "sample": "value"}
    new = {"specimen": "new_value"}
    logs, hashes = helper.compare_and_dedupe_hashes([helper.hash_sha1(old)], [old, new, new])
    assert logs == [new, new]
    assert hashes == ["ad6ae80c0356e02b1561cb58408ee678eb1070bb"] * 2


def test_get_hashes_string_and_check_hashes() -> None:
    hashes = helper.get_hashes_string("abc")
    assert hashes == {
        "md5": hashlib.md5(b"abc").hexdigest(),
        "sha1": hashlib.sha1(b"abc").hexdigest(),
        "sha256": hashlib.sha256(b"abc").hexdigest(),
        "sha512": hashlib.sha512(b"abc").hexdigest(),
    }
    assert helper.check_hashes("abc", hashes["sha256"])
    assert not helper.check_hashes("abc", "0" * 64)
    with pytest.raises(helper.HelperError):
        helper.check_hashes(b"abc", hashes["md5"])  # type: ignore[arg-type]


def test_encode_string() -> None:
    assert helper.encode_string("héllo") == b"aMOpbGxv"
    assert helper.encode_string(None) is None  # type: ignore[arg-type]


def test_time_helpers() -> None:
    now = helper.get_time_now()
    assert now.tzinfo is None
    assert abs(now - datetime.now()) < timedelta(seconds=5)
    ago = helper.get_time_hours_ago()
    assert abs((now - ago) - timedelta(hours=helper.DEFAULTS_HOURS_AGO)) < timedelta(seconds=5)
    assert abs((now - helper.get_time_hours_ago(2)) - timedelta(hours=2)) < timedelta(seconds=5)


def test_constants() -> None:
    assert helper.ENCODE_TYPE == "utf-8"
    assert helper.DEFAULTS_HOURS_AGO == 24
    assert helper.CACHE_DIR == "/var/cache"
    import re

    assert re.match(helper.CAMEL_CASE_REGEX, "userId2")
    assert re.match(helper.PASCAL_CASE_REGEX, "UserId")
    assert re.match(helper.CAMEL_CASE_ACRONYM_REGEX, "getHTTPStatus")
