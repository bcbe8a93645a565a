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
