"""Fixtures: run the KOMAND-style test plugin (``komand_plugin/``) through its bin script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from komand_testkit import BIN, PLUGIN, Result  # noqa: E402


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
    env["PYTHONPATH"] = str(PLUGIN)
    env["ICON_RUNTIME_CACHE_DIR"] = str(tmp_path / "cache") + "/"
    env["ICON_RUNTIME_FLAG_DIR"] = str(tmp_path / "flags") + "/"
    return env


@pytest.fixture
def run_cli(plugin_env: dict[str, str]):
    def run(*args: str, stdin: str = "", timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, str(BIN), *args],
            input=stdin.encode(),
            capture_output=True,
            timeout=timeout,
            env=plugin_env,
            cwd=PLUGIN,
        )
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    return run


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test plugin's package importable in this process (for patch tests)."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    yield PLUGIN
    for name in [name for name in sys.modules if name == "komand_wordcount" or name.startswith("komand_wordcount.")]:
        del sys.modules[name]
