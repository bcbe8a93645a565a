"""Guards for the split-distribution layout (see docs/extension-points.md).

A stray ``__init__.py`` in a sibling silently shadows core's in editable installs, and overlapping
wheels break independent upgrades; these tests catch both. icon-runtime-komand is the one member
outside the shared package: it ships ``icon_runtime_komand/`` and a ``.pth``, never a ``komand/``
file that a real KOMAND SDK owns.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p for p in (REPO / "packages").iterdir() if (p / "pyproject.toml").exists())
KOMAND = REPO / "packages" / "runtime-komand"
#: The members contributing modules to ``insightconnect_plugin_runtime`` (all but the komand aliases).
CODE_PACKAGES = [p for p in PACKAGES if (p / "src").exists() and p != KOMAND]
CORE = REPO / "packages" / "runtime-core"
KOMAND_FILES = {"icon_runtime_komand/__init__.py", "icon_runtime_komand/_alias.py", "icon_runtime_komand.pth"}
CORE_ONLY = {"insightconnect_plugin_runtime/__init__.py", "insightconnect_plugin_runtime/py.typed"}


def _shipped(package: Path) -> set[str]:
    src = package / "src"
    return {str(path.relative_to(src)) for path in src.rglob("*") if path.is_file() and "__pycache__" not in path.parts}


def test_each_src_holds_only_the_shared_import_package():
    for package in CODE_PACKAGES:
        assert sorted(p.name for p in (package / "src").iterdir()) == ["insightconnect_plugin_runtime"], package


@pytest.mark.parametrize("package", [p for p in CODE_PACKAGES if p != CORE], ids=lambda p: p.name)
def test_no_sibling_ships_an_init_or_py_typed(package):
    shipped = _shipped(package)
    assert not [f for f in shipped if f.endswith("__init__.py")], f"{package.name} ships an __init__.py"
    assert not CORE_ONLY & shipped


def test_komand_src_holds_only_its_finder_package_and_pth():
    assert sorted(p.name for p in (KOMAND / "src").iterdir()) == ["icon_runtime_komand", "icon_runtime_komand.pth"]
    assert {f for f in _shipped(KOMAND) if not f.endswith(".pyc")} == KOMAND_FILES


def test_komand_pth_only_installs_the_finder():
    lines = (KOMAND / "src" / "icon_runtime_komand.pth").read_text().splitlines()
    assert lines == ["import icon_runtime_komand; icon_runtime_komand.install()"]


def test_source_file_sets_are_disjoint():
    seen: dict[str, str] = {}
    for package in [*CODE_PACKAGES, KOMAND]:
        for name in _shipped(package):
            if name.endswith(".pyc"):
                continue
            assert name not in seen, f"{name} is in both {seen[name]} and {package.name}"
            seen[name] = package.name


def test_every_member_is_imported_from_its_packages_src():
    import insightconnect_plugin_runtime

    for entry in insightconnect_plugin_runtime.__path__:
        assert Path(entry).resolve().is_relative_to(REPO / "packages"), entry
    for package in CODE_PACKAGES:
        assert str((package / "src" / "insightconnect_plugin_runtime").resolve()) in {
            str(Path(p).resolve()) for p in insightconnect_plugin_runtime.__path__
        }, f"{package.name} is not installed editable"


def test_the_reference_runtime_is_not_installed_alongside():
    with pytest.raises(PackageNotFoundError):
        distribution("insightconnect-plugin-runtime")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, set[str]]:
    pytest.importorskip("hatchling")
    out = tmp_path_factory.mktemp("wheels")
    built: dict[str, set[str]] = {}
    for package in PACKAGES:
        before = set(out.iterdir())
        subprocess.run(
            [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(out)],
            cwd=package,
            check=True,
            capture_output=True,
        )
        (wheel,) = set(out.iterdir()) - before
        names = zipfile.ZipFile(wheel).namelist()
        built[package.name] = {n for n in names if ".dist-info/" not in n}
    return built


def test_wheels_have_disjoint_file_sets(wheels):
    owners: dict[str, str] = {}
    for package, files in wheels.items():
        for name in files:
            assert name not in owners, f"{name} is in the wheels of {owners[name]} and {package}"
            owners[name] = package


def test_only_core_wheel_ships_init_files(wheels):
    for package, files in wheels.items():
        inits = {f for f in files if f.endswith("__init__.py")}
        if package == "runtime-core":
            assert "insightconnect_plugin_runtime/__init__.py" in inits
        elif package == KOMAND.name:
            assert inits == {"icon_runtime_komand/__init__.py"}
        else:
            assert not inits, f"{package} wheel ships {inits}"


def test_komand_wheel_ships_no_file_a_real_komand_owns(wheels):
    """Installing icon-runtime-komand next to the real KOMAND SDK overwrites none of its files."""
    assert wheels[KOMAND.name] == KOMAND_FILES
    for package, files in wheels.items():
        assert not [f for f in files if f.split("/")[0] in ("komand", "komand.pth")], package
    assert not [f for f in wheels[KOMAND.name] if f.startswith("insightconnect_plugin_runtime/")]
