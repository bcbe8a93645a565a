"""``komand`` names are the runtime's own objects, so plugin code and its tests' patches meet."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

import insightconnect_plugin_runtime as runtime

#: Every ``komand`` module the public KOMAND plugins import (git grep over plugins/, issue 17),
#: plus the runtime modules the KOMAND SDK also had.
PUBLIC_MODULES = [
    "helper",
    "exceptions",
    "action",
    "trigger",
    "connection",
    "plugin",
    "cli",
    "dispatcher",
    "util",
    "variables",
    "schema",
    "step",
    "task",
    "metrics",
    "constants",
    "clients.oauth",
]


def _komand():
    import komand

    return komand


@pytest.mark.parametrize("name", runtime.__all__)
def test_every_public_class_is_the_runtimes_class(name):
    assert getattr(_komand(), name) is getattr(runtime, name)


def test_the_classes_generated_code_uses_are_all_there():
    komand = _komand()
    for name in ("Plugin", "Action", "Trigger", "Task", "Connection", "Input", "Output", "CLI"):
        assert name in komand.__all__
        assert isinstance(getattr(komand, name), type)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_submodule_is_the_same_module_object(name):
    alias = importlib.import_module(f"komand.{name}")
    original = importlib.import_module(f"insightconnect_plugin_runtime.{name}")
    assert alias is original
    assert sys.modules[f"komand.{name}"] is original
    # The runtime's module keeps its own identity: the alias did not rewrite its spec.
    assert original.__name__ == original.__spec__.name == f"insightconnect_plugin_runtime.{name}"


def test_attribute_access_and_from_imports_agree():
    komand = _komand()
    from komand.action import Action
    from komand.exceptions import ConnectionTestException, PluginException
    from komand.helper import clean

    assert Action is runtime.Action
    assert PluginException is runtime.exceptions.PluginException
    assert ConnectionTestException is runtime.exceptions.ConnectionTestException
    assert clean is komand.helper.clean is runtime.helper.clean
    assert komand.exceptions.PluginException.Preset.UNKNOWN == runtime.exceptions.PluginException.Preset.UNKNOWN


def test_unknown_and_private_names_are_not_aliased():
    komand = _komand()
    with pytest.raises(AttributeError, match="no_such_thing"):
        komand.no_such_thing  # noqa: B018
    with pytest.raises(ModuleNotFoundError) as missing:
        importlib.import_module("komand.no_such_thing")
    assert missing.value.name == "komand.no_such_thing"
    assert _komand().__path__ == []  # no directory: nothing but the aliases is importable below komand
    for private in ("_runner", "_masking", "api._private", "_alias"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(f"komand.{private}")
    with pytest.raises(AttributeError):
        komand._masking  # noqa: B018
    assert "komand._masking" not in sys.modules


def test_dir_lists_classes_and_modules_not_the_runtimes_own_imports():
    listing = dir(_komand())
    assert {"Action", "Plugin", "CLI", "helper", "exceptions", "dispatcher", "util"} <= set(listing)
    assert not {"importlib", "sys", "Any", "install_certifi_patch"} & set(listing)
    # No private runtime module (_components, _certifi...) and no helper of ours: only the dunders.
    assert [name for name in listing if name.startswith("_")] == [
        "__all__",
        "__doc__",
        "__file__",
        "__name__",
        "__path__",
    ]


# --- patch points: a test patches under one name, plugin code calls under the other -----------------


def _action(plugin_on_path, module: str, cls: str):
    step = getattr(importlib.import_module(f"komand_wordcount.actions.{module}.action"), cls)()
    step.connection = SimpleNamespace(separator=" ")
    return step


def test_patching_komand_helper_open_url_reaches_plugin_code(plugin_on_path):
    action = _action(plugin_on_path, "fetch_title", "FetchTitle")
    page = io.BytesIO(b"<html><title> Patched </title></html>")
    with mock.patch("komand.helper.open_url", return_value=page) as fake:
        assert action.run({"url": "https://example.invalid/"}) == {"title": "Patched"}
    fake.assert_called_once_with("https://example.invalid/")


def test_patching_the_runtime_name_reaches_komand_plugin_code(plugin_on_path):
    action = _action(plugin_on_path, "fetch_title", "FetchTitle")
    page = io.BytesIO(b"<title>Via runtime</title>")
    with mock.patch("insightconnect_plugin_runtime.helper.open_url", return_value=page):
        assert action.run({"url": "https://example.invalid/"}) == {"title": "Via runtime"}


def test_patching_komand_helper_open_url_reaches_the_helpers_own_callers(httpserver):
    """check_url falls back to open_url when HEAD is refused; the komand-named patch is what it calls."""
    import komand.helper

    httpserver.expect_request("/file", method="HEAD").respond_with_data("", status=405)
    with mock.patch("komand.helper.open_url", return_value=SimpleNamespace(status=206)) as fake:
        assert runtime.helper.check_url(httpserver.url_for("/file")) is True
    fake.assert_called_once()
    assert komand.helper.open_url is runtime.helper.open_url  # restored under both names


def test_the_unpatched_helper_talks_to_a_real_server(plugin_on_path, httpserver):
    httpserver.expect_request("/page").respond_with_data("<title>Real page</title>", content_type="text/html")
    action = _action(plugin_on_path, "fetch_title", "FetchTitle")
    assert action.run({"url": httpserver.url_for("/page")}) == {"title": "Real page"}


def test_patching_komand_helper_clean_reaches_plugin_code(plugin_on_path):
    action = _action(plugin_on_path, "count_words", "CountWords")
    with mock.patch("komand.helper.clean", side_effect=lambda value: {"cleaned": value}):
        assert action.run({"text": "a b"}) == {"cleaned": {"count": 2, "words": ["a", "b"]}}
    assert action.run({"text": "a b"}) == {"count": 2, "words": ["a", "b"]}


def test_patching_komand_trigger_send_captures_the_events(plugin_on_path):
    trigger = importlib.import_module("komand_wordcount.triggers.emit_count.trigger").EmitCount()
    sent = []
    with mock.patch("komand.Trigger.send", autospec=True, side_effect=lambda self, output: sent.append(output)):
        trigger.run({"text": "x y", "times": 2})
    assert sent == [{"count": 2, "round": 1}, {"count": 2, "round": 2}]
    assert runtime.Trigger.send is _komand().Trigger.send  # restored on the one shared class


# --- cost and absence ---------------------------------------------------------------------------------

HEAVY = ("flask", "werkzeug", "gunicorn", "requests", "urllib3", "boto3", "botocore", "opentelemetry")


def _top_level_modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_import_komand_loads_nothing_heavy():
    loaded = _top_level_modules_after(
        "import komand\nkomand.Plugin, komand.Action, komand.Trigger, komand.Connection, komand.Input, komand.CLI\n"
        "from komand.exceptions import PluginException"
    )
    assert "komand" in loaded and "insightconnect_plugin_runtime" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_interpreter_start_imports_neither_komand_nor_the_runtime():
    """The .pth only installs the finder: a Python process that never imports komand pays nothing else."""
    loaded = _top_level_modules_after("pass")
    assert "icon_runtime_komand" in loaded  # the finder is installed by the .pth
    assert not {"komand", "insightconnect_plugin_runtime"} & loaded


def test_the_start_up_module_imports_only_what_python_has_loaded_already():
    """Run without site (-S), so nothing else is imported: the finder module adds nothing but itself."""
    import icon_runtime_komand

    code = (
        "import os, sys\n"
        "before = set(sys.modules)\n"
        "import icon_runtime_komand\n"
        "icon_runtime_komand.install()\n"
        "print(sorted(set(sys.modules) - before))\n"
    )
    parent = str(Path(icon_runtime_komand.__file__).parents[1])
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], capture_output=True, text=True, check=True, env={"PYTHONPATH": parent}
    ).stdout
    assert out.strip() == "['icon_runtime_komand']"


def test_komand_helper_without_icon_runtime_helpers_names_the_distribution():
    """With the helpers' source tree removed from the path, komand.helper says what to install."""
    code = (
        "import sys\n"
        "sys.path[:] = [p for p in sys.path if 'runtime-helpers' not in p]\n"
        "import komand\n"
        "try:\n"
        "    import insightconnect_plugin_runtime.helper\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    print('SKIP helpers are installed into site-packages')\n"
        "    raise SystemExit(0)\n"
        "komand.Action\n"
        "for attempt in ('attribute', 'import'):\n"
        "    try:\n"
        "        komand.helper if attempt == 'attribute' else __import__('komand.helper')\n"
        "    except ModuleNotFoundError as error:\n"
        "        print(attempt, type(error).__name__, error)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    if out.startswith("SKIP"):
        pytest.skip(out)
    lines = out.strip().splitlines()
    assert len(lines) == 2, out
    for line in lines:
        assert "MissingDistributionError" in line and "pip install icon-runtime-helpers" in line
