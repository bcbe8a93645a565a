"""The pytest plugin of icon-runtime-testing (entry point ``pytest11``): fixtures for plugin tests.

A plugin's ``conftest.py`` defines ``icon_plugin`` (the plugin instance under test, for instance
``load_plugin("bin/my_plugin")``) and optionally ``icon_connection`` (the connection parameters,
default: the connection schema's sample); tests then take ``icon_kit``::

    def test_lookup(icon_kit):
        result = icon_kit.action("lookup", {"ip": "198.51.100.7"})
        assert result.ok and result.output["found"] is True

Importing this module is cheap: the kit's modules load when a fixture is first used.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def icon_plugin() -> Any:
    """Override in your conftest.py: return the plugin under test."""
    raise pytest.UsageError(
        "Define an 'icon_plugin' fixture returning your plugin, e.g. "
        "load_plugin('bin/<plugin>') from insightconnect_plugin_runtime.testing."
    )


@pytest.fixture
def icon_connection() -> dict[str, Any] | None:
    """Override to give the connection parameters; ``None`` uses the connection schema's sample."""
    return None


@pytest.fixture
def icon_kit(icon_plugin: Any, icon_connection: Any, tmp_path: Any) -> Any:
    """A :class:`~insightconnect_plugin_runtime.testing.PluginKit` for the plugin, with its own state dir."""
    from insightconnect_plugin_runtime.testing import PluginKit

    return PluginKit(icon_plugin, icon_connection, state_dir=tmp_path / "icon-state")


@pytest.fixture
def icon_http_kit(icon_plugin: Any, icon_connection: Any, tmp_path: Any) -> Any:
    """Like ``icon_kit``, through the HTTP app (skipped when icon-runtime-http is not installed)."""
    from insightconnect_plugin_runtime._testing_http import http_available
    from insightconnect_plugin_runtime.testing import PluginKit

    if not http_available():
        pytest.skip("icon-runtime-http is not installed")
    return PluginKit(icon_plugin, icon_connection, via="http", state_dir=tmp_path / "icon-state")
