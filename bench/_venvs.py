"""Side-by-side environments for benchmarks: the reference 6.6.1 and ours, never in one venv.

Both distributions write ``insightconnect_plugin_runtime/``, so each gets its own virtual
environment under ``bench/.work``. Creation is idempotent and guarded by a lock file.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"
REFERENCE = "insightconnect-plugin-runtime==6.6.1"
# 6.6.1 pins certifi==2026.10.19, which the index does not serve; its other pins install as they are.
REFERENCE_DEPS = [
    "requests", "python_jsonschema_objects==0.5.2", "jsonschema", "certifi", "Flask", "gunicorn", "gevent",
    "marshmallow", "apispec", "apispec-webframeworks", "PyYAML", "blinker", "structlog", "python-json-logger",
    "Jinja2", "python-dateutil", "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http",
    "opentelemetry-instrumentation-flask", "opentelemetry-instrumentation-requests", "urllib3",
]  # fmt: skip


@contextmanager
def _locked(name: str):
    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _pip(venv: Path, *args: str) -> None:
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
                   check=True)  # fmt: skip


def _ready(venv: Path, probe: str) -> bool:
    python = venv / "bin" / "python"
    return python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def reference_venv() -> Path:
    venv = WORK / "ref-venv"
    with _locked("ref-venv"):
        if not _ready(venv, "import insightconnect_plugin_runtime.server, gunicorn, flask"):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            _pip(venv, "--no-deps", REFERENCE)
            _pip(venv, *REFERENCE_DEPS)
    return venv


def our_venv(name: str, packages: list[str]) -> Path:
    """A venv with the given workspace packages installed (not editable, as in production)."""
    venv = WORK / name
    with _locked(name):
        marker = venv / ".installed"
        wanted = "\n".join(packages)
        if not (
            marker.exists() and marker.read_text() == wanted and _ready(venv, "import insightconnect_plugin_runtime")
        ):
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
            _pip(venv, "--upgrade", "pip")  # pip 23's resolver gives up on OpenTelemetry's beta pins
            _pip(venv, *[str(REPO / "packages" / p) for p in packages])
            marker.write_text(wanted)
        else:  # refresh our code, keep the dependencies
            _pip(venv, "--no-deps", "--force-reinstall", *[str(REPO / "packages" / p) for p in packages])
    return venv
