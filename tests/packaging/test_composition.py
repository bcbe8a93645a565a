"""Siblings plug into core through entry points; absent pieces degrade to no-ops."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from insightconnect_plugin_runtime import _extensions
from insightconnect_plugin_runtime._components import installed_distributions


def test_installed_distributions_are_read_from_metadata():
    found = installed_distributions()
    assert "icon-runtime-core" in found
    assert all(version for version in found.values())


def test_http_server_registers_through_the_entry_point():
    pytest.importorskip("insightconnect_plugin_runtime.server")
    names = {ep.name: ep.value for ep in entry_points(group="insightconnect_plugin_runtime.server")}
    assert names.get("http", "").startswith("insightconnect_plugin_runtime.server")
    assert callable(_extensions.load_server())


def test_disabled_extensions_give_no_op_defaults():
    code = (
        "import os; os.environ['ICON_RUNTIME_DISABLED_EXTENSIONS'] = '*'\n"
        "from insightconnect_plugin_runtime import _extensions as e\n"
        "print(e.load_server(), e.step_hooks(), e.server_hooks())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "None () ()"


def _closure(distribution: str) -> set[str]:
    """Names of every distribution ``distribution`` pulls in (as installed here), itself included."""
    import re
    from importlib.metadata import PackageNotFoundError, requires

    seen: set[str] = set()
    pending = [distribution]
    while pending:
        name = re.split(r"[\s\[<>=!~;@(]", pending.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            requirements = requires(name) or []
        except PackageNotFoundError:
            continue
        pending += [req for req in requirements if "extra ==" not in req]
    return seen


def test_core_depends_only_on_jsonschema_and_structlog():
    from importlib.metadata import requires

    direct = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requires("icon-runtime-core")}
    assert direct == {"jsonschema", "structlog"}


def test_core_and_helpers_do_not_pull_in_boto3_flask_or_opentelemetry():
    pulled = _closure("icon-runtime-core") | _closure("icon-runtime-helpers")
    assert not pulled & {"boto3", "botocore", "flask", "gunicorn", "opentelemetry-api", "opentelemetry-sdk"}
    assert "requests" in pulled


def test_the_test_kit_is_an_extra_of_the_meta_package_never_a_runtime_dependency():
    import tomllib
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "packages/runtime/pyproject.toml").read_text())
    project = meta["project"]
    assert not [dep for dep in project["dependencies"] if dep.startswith("icon-runtime-testing")]
    assert [dep.split("==")[0] for dep in project["optional-dependencies"]["testing"]] == ["icon-runtime-testing"]


def test_the_test_kit_registers_its_pytest_plugin_and_check_command():
    pytest.importorskip("insightconnect_plugin_runtime.testing")
    pytest_plugins = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert pytest_plugins.get("icon_runtime_testing") == "insightconnect_plugin_runtime._testing_pytest"
    commands = {ep.name for ep in entry_points(group="insightconnect_plugin_runtime.cli_commands")}
    assert "check" in commands


def test_running_a_step_loads_nothing_of_the_test_kit():
    """cli_commands are loaded only for commands core does not know: `run` never imports the kit."""
    pytest.importorskip("insightconnect_plugin_runtime.testing")
    code = (
        "import io, sys, json\n"
        "sys.path.insert(0, 'samples/example')\n"
        "import insightconnect_plugin_runtime as icon\n"
        "from icon_example import actions, connection\n"
        "plugin = icon.Plugin(name='x', connection=connection.Connection()); plugin.add_action(actions.SayHello())\n"
        "msg = {'type': 'action_start', 'version': 'v1', 'body': {'action': 'say_hello', 'input': {'name': 'a'},"
        " 'connection': {'api_key': {'secretKey': 'k123'}}}}\n"
        "cli = icon.CLI(plugin, ['run', '--', json.dumps(msg)]); cli.stdout = io.StringIO()\n"
        "assert cli.main() == 0, cli.stdout.getvalue()\n"
        "print(sorted(m for m in sys.modules if '_testing' in m or m.startswith('hypothesis')))\n"
    )
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
