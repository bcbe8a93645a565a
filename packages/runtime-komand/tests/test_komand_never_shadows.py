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
