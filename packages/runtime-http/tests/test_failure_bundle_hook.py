"""The failure-bundle step hook costs nothing while bundles are off: the writer is not even imported."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from insightconnect_plugin_runtime.api import _failure_bundle_hook

PROBE = """
import json, sys
from insightconnect_plugin_runtime._extensions import step_hooks

hooks = step_hooks()
kinds = [type(hook(None)).__name__ for hook in hooks]
loaded = sorted(m for m in ("insightconnect_plugin_runtime.api._failure_bundle", "http.client") if m in sys.modules)
print(json.dumps({"kinds": kinds, "loaded": loaded}))
"""


def test_the_hook_is_loaded_without_the_writer_while_bundles_are_off(tmp_path: Path) -> None:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICON_RUNTIME")}
    env["ICON_RUNTIME_DISABLED_EXTENSIONS"] = "tracing"
    argv = [sys.executable, str(script)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["kinds"] == ["nullcontext"]  # the failure-bundle hook is there, and does nothing
    assert seen["loaded"] == []


def test_the_hook_hands_over_to_the_writer_while_bundles_are_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from insightconnect_plugin_runtime.api import _failure_bundle

    calls: list[object] = []
    monkeypatch.setattr(_failure_bundle, "step_hook", lambda call: calls.append(call) or contextlib.nullcontext(1))
    monkeypatch.delenv(_failure_bundle_hook.ENV_DIR, raising=False)
    assert isinstance(_failure_bundle_hook.step_hook("call"), contextlib.nullcontext) and calls == []
    monkeypatch.setenv(_failure_bundle_hook.ENV_DIR, str(tmp_path))
    with _failure_bundle_hook.step_hook("call") as entered:
        assert entered == 1
    assert calls == ["call"]
    assert _failure_bundle.ENV_DIR == _failure_bundle_hook.ENV_DIR
