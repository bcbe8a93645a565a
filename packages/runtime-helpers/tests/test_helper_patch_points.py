"""Patches written against ``insightconnect_plugin_runtime.helper`` reach the code that runs.

The functions live in private modules; plugins' tests patch them (and the settings) by their public
dotted path, the way ``mock.patch`` strings are written in plugin repositories.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import subprocess
import urllib.request
from datetime import datetime
from pathlib import Path
from unittest import mock

import pytest
import requests
from pytest_httpserver import HTTPServer

from insightconnect_plugin_runtime import helper

H = "insightconnect_plugin_runtime.helper"


def test_exec_command_patched_by_its_dotted_path() -> None:
    with mock.patch(f"{H}.exec_command", return_value={"stdout": b"x", "stderr": b"", "rcode": 0}) as fake:
        from insightconnect_plugin_runtime import helper as plugin_view

        assert plugin_view.exec_command("ls -l")["stdout"] == b"x"
    fake.assert_called_once_with("ls -l")
    assert helper.exec_command("true")["rcode"] == 0  # restored


def test_popen_patched_through_the_module_reaches_exec_command() -> None:
    process = mock.Mock(returncode=3)
    process.communicate.return_value = (b"out", b"err")
    with mock.patch(f"{H}.subprocess.Popen", return_value=process) as popen:
        assert helper.exec_command("tool --flag 'a b'") == {"stdout": b"out", "stderr": b"err", "rcode": 3}
    assert popen.call_args.args[0] == ["tool", "--flag", "a b"]
    assert subprocess.Popen is not popen


def test_open_url_patched_by_its_dotted_path_is_used_by_check_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x", method="HEAD").respond_with_data("", status=405)
    answer = mock.Mock(status=206)
    with mock.patch(f"{H}.open_url", return_value=answer) as fake:
        assert helper.check_url(httpserver.url_for("/x")) is True
    fake.assert_called_once_with(httpserver.url_for("/x"), timeout=helper.URL_CHECK_TIMEOUT_SECONDS, Range="bytes=0-2")


def test_check_url_reads_its_timeout_from_the_module(httpserver: HTTPServer, monkeypatch) -> None:
    httpserver.expect_request("/x", method="HEAD").respond_with_data("", status=405)
    monkeypatch.setattr(helper, "URL_CHECK_TIMEOUT_SECONDS", 4.5)
    with mock.patch(f"{H}.open_url", return_value=None) as fake:
        assert helper.check_url(httpserver.url_for("/x")) is False
    assert fake.call_args.kwargs["timeout"] == 4.5


def test_urlopen_patched_under_open_url() -> None:
    with mock.patch("urllib.request.urlopen", return_value="answer") as urlopen:
        assert helper.open_url("https://example.invalid/f?x=1", timeout=3, X_Api="k") == "answer"
    request = urlopen.call_args.args[0]
    assert isinstance(request, urllib.request.Request)
    assert request.full_url == "https://example.invalid/f?x=1"
    assert request.get_header("X-api") == "k"
    assert urlopen.call_args.kwargs["timeout"] == 3


@pytest.mark.parametrize(
    "target", ["requests.Session.send", "requests.sessions.Session.send", f"{H}.requests.Session.send"]
)
def test_session_send_patched_under_make_request(target: str) -> None:
    reply = requests.Response()
    reply.status_code = 200
    reply._content = b'{"ok": true}'
    with mock.patch(target, return_value=reply) as send:
        response = helper.make_request(requests.Request("GET", "https://example.invalid/api"), timeout=7)
    assert response.json() == {"ok": True}
    prepared = send.call_args.args[-1]
    assert prepared.url == "https://example.invalid/api"
    assert send.call_args.kwargs["timeout"] == 7


def test_response_handler_patched_on_the_module_is_used_by_make_request() -> None:
    reply = requests.Response()
    reply.status_code = 500
    with (
        mock.patch("requests.Session.send", return_value=reply),
        mock.patch(f"{H}.response_handler") as handler,
    ):
        assert helper.make_request(requests.Request("GET", "https://example.invalid/")) is reply
    handler.assert_called_once()
    assert handler.call_args.args[0] is reply


def test_open_cachefile_patched_by_its_dotted_path() -> None:
    with mock.patch(f"{H}.open_cachefile", return_value=mock.mock_open(read_data="{}")()) as fake:
        assert helper.open_cachefile("/var/cache/state.json").read() == "{}"
    fake.assert_called_once_with("/var/cache/state.json")


def test_open_file_patched_on_the_module_is_used_by_encode_file() -> None:
    with mock.patch(f"{H}.open_file", return_value=mock.mock_open(read_data=b"abc")()) as fake:
        assert helper.encode_file("/anything") == b"YWJj"
    fake.assert_called_once_with("/anything")


def test_get_time_now_patched_on_the_module_is_used_by_get_time_hours_ago() -> None:
    with mock.patch(f"{H}.get_time_now", return_value=datetime(2024, 1, 2, 12)):
        assert helper.get_time_hours_ago(2) == datetime(2024, 1, 2, 10)
        assert helper.get_time_hours_ago() == datetime(2024, 1, 1, 12)


def test_cache_and_lock_settings_are_read_from_the_module(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(helper, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(helper, "LOCK_DIR_NAME", "locks")
    monkeypatch.setattr(helper, "LOCK_TIMEOUT_SECONDS", 0.0)
    assert helper.lock_cache("job")
    assert (tmp_path / "locks" / "job").is_file()
    assert helper.lock_cache("job") is False  # held, and the patched timeout gives up at once
    assert helper.unlock_cache("job", 0)
    with helper.open_cachefile("/var/cache/sub/state") as handle:  # the legacy prefix maps onto CACHE_DIR
        handle.write("x")
    assert (tmp_path / "sub" / "state").read_text() == "x"
    assert helper.check_cachefile("sub/state")


def test_lock_poll_interval_is_read_from_the_module(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(helper, "CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(helper, "LOCK_POLL_SECONDS", 0.25)
    slept: list[float] = []

    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Stop

    assert helper.lock_cache("busy")
    monkeypatch.setattr(helper.time, "sleep", sleep)
    with pytest.raises(Stop):
        helper.lock_cache("busy", timeout=30)
    assert slept == [0.25]


def test_encoding_is_read_from_the_module(monkeypatch) -> None:
    utf8 = helper.hash_sha1({"k": "é"})
    assert helper.encode_string("é") == b"w6k="
    monkeypatch.setattr(helper, "ENCODE_TYPE", "latin-1")
    assert helper.encode_string("é") == b"6Q=="
    assert helper.get_hashes_string("é")["sha256"] == hashlib.sha256(b"\xe9").hexdigest()
    assert helper.hash_sha1({"k": "é"}) == hashlib.sha1(b"k\xe9").hexdigest() != utf8


def test_logs_and_errors_carry_the_public_module_name(caplog) -> None:
    with caplog.at_level(logging.INFO, logger=H):
        helper.compare_and_dedupe_hashes([], [{"a": 1}])
        with pytest.raises(helper.HelperError):
            helper.exec_command("definitely-not-a-program-xyz")
    assert {record.name for record in caplog.records} == {H}
    assert helper.HelperError.__module__ == H
    again = pickle.loads(pickle.dumps(helper.HelperError("why")))
    assert type(again) is helper.HelperError and str(again) == "why"


def test_private_names_of_the_former_module_stay_readable() -> None:
    assert helper._return_response_data(None, ValueError("e"), "exception") == "e"
    assert helper._url_for_log("https://u:p@h/p?k=v") == "https://h/p"
    assert helper._STATUS_PRESETS[404] == helper.PluginException.Preset.NOT_FOUND
    with pytest.raises(AttributeError):
        helper._no_such_name  # noqa: B018
    with pytest.raises(AttributeError):
        helper.no_such_name  # noqa: B018
