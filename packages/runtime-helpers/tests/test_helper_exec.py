"""exec_command: no shell, no deadlock, optional timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from insightconnect_plugin_runtime import helper


def test_plain_command() -> None:
    result = helper.exec_command("echo hello world")
    assert result == {"stdout": b"hello world\n", "stderr": b"", "rcode": 0}


def test_nonzero_exit_and_stderr() -> None:
    result = helper.exec_command(f"{sys.executable} -c \"import sys; sys.stderr.write('bad'); sys.exit(3)\"")
    assert result["rcode"] == 3
    assert result["stderr"] == b"bad"


@pytest.mark.parametrize(
    "template",
    [
        "echo a; touch {m}",
        "echo a && touch {m}",
        "echo a | touch {m}",
        "echo $(touch {m})",
        "echo `touch {m}`",
        "echo a\ntouch {m}",
        "echo a > {m}",
    ],
)
def test_hostile_strings_run_nothing_extra(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "marker"
    result = helper.exec_command(template.format(m=marker))
    assert not marker.exists()
    assert result["rcode"] == 0
    assert str(marker).encode() in result["stdout"]


def test_large_output_on_both_pipes_does_not_deadlock() -> None:
    code = "import sys; sys.stderr.write('e' * 300000); sys.stdout.write('o' * 300000)"
    result = helper.exec_command(f'{sys.executable} -c "{code}"', timeout=20)
    assert len(result["stdout"]) == 300000
    assert len(result["stderr"]) == 300000


def test_timeout_kills_the_child() -> None:
    started = time.monotonic()
    with pytest.raises(helper.HelperError):
        helper.exec_command("sleep 5", timeout=0.3)
    assert time.monotonic() - started < 3


def test_missing_program() -> None:
    with pytest.raises(helper.HelperError):
        helper.exec_command("definitely-not-a-program-xyz")


def test_empty_command() -> None:
    with pytest.raises(helper.HelperError):
        helper.exec_command("   ")


def test_patch_of_module_attribute_is_seen(monkeypatch) -> None:
    monkeypatch.setattr(helper, "exec_command", lambda command: {"stdout": b"mocked", "stderr": b"", "rcode": 0})
    from insightconnect_plugin_runtime import helper as again

    assert again.exec_command("anything")["stdout"] == b"mocked"
