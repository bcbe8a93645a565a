"""Shared fixtures: run the example plugin's bin script as a subprocess, as the orchestrator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "samples" / "example"
BIN = SAMPLE / "bin" / "icon_example"
SECRET = "example-secret-key-123"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def reply(self) -> Any:
        return json.loads(self.stdout)


def load_message(name: str) -> dict[str, Any]:
    return json.loads((SAMPLE / "messages" / f"{name}.json").read_text())


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PLUGIN_RUNTIME_ENVIRONMENT", None)
    env["ICON_RUNTIME_CACHE_DIR"] = str(tmp_path / "cache") + "/"
    env["ICON_RUNTIME_FLAG_DIR"] = str(tmp_path / "flags") + "/"
    return env


@pytest.fixture
def run_cli(cli_env: dict[str, str]):
    def run(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None, timeout: float = 60):
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            [sys.executable, str(BIN), *args],
            input=data if data is not None else b"",
            capture_output=True,
            timeout=timeout,
            env=env or cli_env,
            cwd=SAMPLE,
        )
        return Result(proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))

    return run
