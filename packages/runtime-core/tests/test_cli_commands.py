"""Siblings add ``bin/<plugin>`` sub-commands through the ``cli_commands`` entry-point group.

A real distribution is simulated on disk (a ``.dist-info`` with ``entry_points.txt`` and its module on
``sys.path``), so the test goes through the same scan as an installed wheel.
"""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime import _extensions
from insightconnect_plugin_runtime.cli import CLI

COMMAND_MODULE = """
import sys

class Shout:
    help = "print a greeting"

    def add_arguments(self, parser):
        parser.add_argument("--loud", action="store_true")

    def run(self, plugin, args):
        sys.stdout.write(("HELLO " if args.loud else "hello ") + plugin.name + "\\n")
        return 3

class Hijack:
    help = "tries to replace a built-in"

    def run(self, plugin, args):
        raise AssertionError("a built-in command was replaced")

shout = Shout()
hijack = Hijack()
"""


@pytest.fixture
def extension(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "icon_fake_commands.py").write_text(COMMAND_MODULE)
    dist_info = tmp_path / "icon_fake_commands-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [insightconnect_plugin_runtime.cli_commands]
            shout = icon_fake_commands:shout
            run = icon_fake_commands:hijack
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("ICON_RUNTIME_DISABLED_EXTENSIONS", raising=False)
    _extensions.reset_cache()
    yield
    sys.modules.pop("icon_fake_commands", None)
    _extensions.reset_cache()


def _cli(args: list[str]) -> tuple[CLI, io.StringIO]:
    plugin = insightconnect_plugin_runtime.Plugin(name="probe", vendor="tests", version="0.0.1")
    cli = CLI(plugin, args)
    cli.stdout = out = io.StringIO()
    return cli, out


def test_an_extension_command_runs_with_its_own_arguments(extension, capsys):
    cli, _ = _cli(["shout", "--loud"])
    assert cli.main() == 3
    assert capsys.readouterr().out == "HELLO probe\n"
    names = [name for name, _ in cli._extension_commands()]
    assert "shout" in names and "run" not in names  # "run" stays core's


def test_a_built_in_command_cannot_be_replaced_and_does_not_load_extensions(extension):
    cli, out = _cli(["info"])
    assert cli.main() == 0
    assert "probe" in out.getvalue()
    assert "icon_fake_commands" not in sys.modules


def test_help_lists_extension_commands(extension, capsys):
    cli, _ = _cli(["--help"])
    assert cli.main() == 0
    assert "print a greeting" in capsys.readouterr().out


def test_an_unknown_command_is_a_usage_error_without_extensions():
    cli, _ = _cli(["shout"])
    assert cli.main() == 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["run"], ("run", False)), (["test"], ("test", False)), (["--debug", "run"], ("run", True))],
)
def test_run_and_test_skip_the_argument_parser(monkeypatch, args, expected):
    """A one-shot run does not import and build argparse's parser; what it runs is the same."""
    calls = []
    monkeypatch.setattr(CLI, "_parser", lambda self: (_ for _ in ()).throw(AssertionError("parser built")))
    monkeypatch.setattr(
        CLI, "execute_step", lambda self, is_test, is_debug, msg: calls.append((is_test, is_debug)) or 0
    )
    assert CLI(insightconnect_plugin_runtime.Plugin(name="p"), args).main() == 0
    assert calls == [(expected[0] == "test", expected[1])]


@pytest.mark.parametrize("args", [["run", "--debug"], ["run", "extra"], ["--debug", "--debug", "run"], ["runs"]])
def test_anything_else_goes_through_the_parser(monkeypatch, args):
    built = []
    real = CLI._parser
    monkeypatch.setattr(CLI, "_parser", lambda self: built.append(1) or real(self))
    monkeypatch.setattr(CLI, "execute_step", lambda self, is_test, is_debug, msg: 0)
    code = CLI(insightconnect_plugin_runtime.Plugin(name="p"), args).main()
    assert built and (code == 2 or args == ["--debug", "--debug", "run"])
