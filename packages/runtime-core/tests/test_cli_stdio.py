"""The CLI reads ``sys.stdin`` and writes ``sys.stdout`` as they are when it runs, not when it was built.

Harnesses and plugins' tests build ``CLI(plugin)`` first, then redirect stdio around the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

import pytest

import insightconnect_plugin_runtime as icon


class Echo(icon.Action):
    def __init__(self) -> None:
        super().__init__("echo", "echo", icon.Input({"type": "object"}), None)

    def run(self, params={}):  # noqa: B006 - plugin style
        return {"said": params.get("text")}


def _plugin() -> icon.Plugin:
    plugin = icon.Plugin(name="Stdio", vendor="v", version="1.0.0")
    plugin.add_action(Echo())
    return plugin


MESSAGE = {"type": "action_start", "version": "v1", "body": {"action": "echo", "input": {"text": "from stdin"}}}


def test_built_first_then_redirected(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = icon.CLI(_plugin(), ["run"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(MESSAGE)))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli.main()
    assert code == 0
    reply = json.loads(buffer.getvalue())
    assert reply["body"]["output"] == {"said": "from stdin"}


def test_each_run_uses_the_streams_of_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = icon.CLI(_plugin(), ["run"])
    replies = []
    for text in ("first", "second"):
        message = {**MESSAGE, "body": {"action": "echo", "input": {"text": text}}}
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(message)))
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert cli.main() == 0
        replies.append(json.loads(buffer.getvalue())["body"]["output"]["said"])
    assert replies == ["first", "second"]


def test_info_and_version_follow_redirect_stdout() -> None:
    cli = icon.CLI(_plugin(), ["info"])
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert cli.main() == 0
    assert "Stdio" in buffer.getvalue() and "echo" in buffer.getvalue()


def test_assigned_streams_still_take_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = icon.CLI(_plugin(), ["run"])
    cli.stdin, cli.stdout = io.StringIO(json.dumps(MESSAGE)), io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # would be "no message" if it were read
    redirected = io.StringIO()
    with contextlib.redirect_stdout(redirected):
        assert cli.main() == 0
    assert redirected.getvalue() == ""
    assert json.loads(cli.stdout.getvalue())["body"]["output"] == {"said": "from stdin"}
