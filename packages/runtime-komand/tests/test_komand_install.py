"""pip, next to a real KOMAND SDK: neither distribution overwrites or removes the other's files."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1]
REAL_FILES = {"komand/__init__.py": "REAL = True\n", "komand/helper.py": "REAL = True\n"}

pytestmark = pytest.mark.slow


def _record_row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _real_komand_wheel(directory: Path) -> Path:
    """A minimal wheel of a distribution named komand that owns komand/ (stands in for the KOMAND SDK)."""
    wheel = directory / "komand-3.4.0-py3-none-any.whl"
    info = "komand-3.4.0.dist-info"
    files = dict(REAL_FILES)
    files[f"{info}/METADATA"] = "Metadata-Version: 2.1\nName: komand\nVersion: 3.4.0\n"
    files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    rows = [_record_row(name, text.encode()) for name, text in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = "\n".join(rows) + "\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return wheel


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    pytest.importorskip("hatchling")
    work = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(work)],
        cwd=PACKAGE,
        check=True,
        capture_output=True,
    )
    (ours,) = work.glob("icon_runtime_komand-*.whl")
    real = _real_komand_wheel(work)
    target = work / "venv"
    venv.create(target, with_pip=True)
    python = str(target / "bin" / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True
    ).stdout.strip()
    return python, Path(purelib), ours, real


def _pip(python: str, *args: str) -> None:
    subprocess.run([python, "-m", "pip", "--disable-pip-version-check", "-q", *args], check=True, capture_output=True)


def _komand_origin(python: str) -> str:
    code = "import importlib.util; print(importlib.util.find_spec('komand').origin)"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def _assert_both_installed(python: str, purelib: Path) -> None:
    for name, text in REAL_FILES.items():
        assert (purelib / name).read_text() == text
    assert (purelib / "icon_runtime_komand.pth").exists()
    assert _komand_origin(python) == str(purelib / "komand" / "__init__.py")


def test_either_install_order_keeps_the_real_komand_files_and_import(env):
    python, purelib, ours, real = env
    # Theirs first, ours second; removing ours leaves theirs whole.
    _pip(python, "install", "--no-deps", "--no-index", str(real))
    _pip(python, "install", "--no-deps", "--no-index", str(ours))
    _assert_both_installed(python, purelib)
    _pip(python, "uninstall", "-y", "icon-runtime-komand")
    assert all((purelib / name).read_text() == text for name, text in REAL_FILES.items())
    assert _komand_origin(python) == str(purelib / "komand" / "__init__.py")
    _pip(python, "uninstall", "-y", "komand")
    # Ours first, theirs second; removing theirs leaves ours serving komand.
    _pip(python, "install", "--no-deps", "--no-index", str(ours))
    _pip(python, "install", "--no-deps", "--no-index", str(real))
    _assert_both_installed(python, purelib)
    _pip(python, "uninstall", "-y", "komand")
    assert not (purelib / "komand").exists()
    assert _komand_origin(python).endswith("icon_runtime_komand/_alias.py")
