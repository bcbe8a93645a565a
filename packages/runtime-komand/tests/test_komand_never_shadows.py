"""A real KOMAND SDK always wins over our aliases, wherever it sits on ``sys.path``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import json, sys
sys.path.append(sys.argv[1])          # the real komand goes LAST on sys.path, after site-packages
import komand
result = {"real": getattr(komand, "REAL", False), "file": komand.__file__}
import komand.helper
result["helper_real"] = getattr(komand.helper, "REAL", False)
try:
    import komand.exceptions          # the real one has no such module: it must not be filled in
except ModuleNotFoundError as error:
    result["exceptions"] = "missing: " + error.name
else:
    result["exceptions"] = komand.exceptions.__name__
import insightconnect_plugin_runtime
result["runtime_helper_loaded"] = "insightconnect_plugin_runtime.helper" in sys.modules
print(json.dumps(result))
"""


@pytest.fixture
def real_komand(tmp_path: Path) -> Path:
    package = tmp_path / "site" / "komand"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("REAL = True\n")
    (package / "helper.py").write_text("REAL = True\n")
    dist_info = tmp_path / "site" / "komand-3.4.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: komand\nVersion: 3.4.0\n")
    return tmp_path / "site"


def test_a_real_komand_is_imported_instead_of_ours(real_komand):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(real_komand)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result["real"] is True
    assert result["file"] == str(real_komand / "komand" / "__init__.py")
    assert result["helper_real"] is True
    assert result["exceptions"] == "missing: komand.exceptions"
    assert result["runtime_helper_loaded"] is False


def test_without_a_real_komand_ours_is_imported(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out)
    assert result["real"] is False
    assert result["file"].endswith("icon_runtime_komand/_alias.py")
    assert result["exceptions"] == "insightconnect_plugin_runtime.exceptions"
    assert result["runtime_helper_loaded"] is True


def test_submodule_finder_declines_while_a_real_komand_is_imported(monkeypatch):
    """Even installed (ours was imported once), the alias finder never fills in a real komand's gaps."""
    import types

    import icon_runtime_komand
    import komand  # ours, for the contrast at the end

    finder = icon_runtime_komand.SubmoduleAliasFinder()
    monkeypatch.setitem(sys.modules, "komand", types.ModuleType("komand"))
    assert finder.find_spec("komand.exceptions") is None
    assert finder.find_spec("komand.helper") is None
    real = types.ModuleType("komand")
    real.__icon_runtime_komand__ = "yes"  # only the exact marker value counts
    monkeypatch.setitem(sys.modules, "komand", real)
    assert finder.find_spec("komand.exceptions") is None
    monkeypatch.setitem(sys.modules, "komand", komand)
    assert finder.find_spec("komand.exceptions").name == "komand.exceptions"
    assert finder.find_spec("komandx.exceptions") is None
    assert finder.find_spec("json") is None


def test_installers_add_one_finder_each_in_the_right_place():
    import icon_runtime_komand

    first, last = object(), object()
    meta_path = [first, last]
    finder = icon_runtime_komand.install(meta_path)
    assert meta_path == [first, last, finder] and isinstance(finder, icon_runtime_komand.KomandFinder)
    assert icon_runtime_komand.install(meta_path) is finder and len(meta_path) == 3
    aliases = icon_runtime_komand.install_submodule_finder(meta_path)
    assert meta_path == [aliases, first, last, finder]
    assert isinstance(aliases, icon_runtime_komand.SubmoduleAliasFinder)
    assert icon_runtime_komand.install_submodule_finder(meta_path) is aliases and len(meta_path) == 4


def test_the_komand_finder_answers_only_for_komand_itself():
    import icon_runtime_komand

    finder = icon_runtime_komand.KomandFinder()
    spec = finder.find_spec("komand")
    assert spec.name == "komand" and spec.origin.endswith("icon_runtime_komand/_alias.py")
    assert spec.submodule_search_locations == []
    for other in ("komand.helper", "komandx", "json", "insightconnect_plugin_runtime"):
        assert finder.find_spec(other) is None
