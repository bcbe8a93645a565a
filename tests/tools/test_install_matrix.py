"""bench/install_matrix.py: what it installs is read from the packages, not listed by hand."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("install_matrix", REPO / "bench" / "install_matrix.py")
install_matrix = importlib.util.module_from_spec(spec)
sys.modules["install_matrix"] = install_matrix
spec.loader.exec_module(install_matrix)


def test_targets_are_the_meta_package_then_every_distribution_and_extra() -> None:
    targets = install_matrix.targets()
    assert targets[0] == "icon-runtime"
    for pyproject in REPO.glob("packages/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        assert project["name"] in targets
        if project["name"] == "icon-runtime":
            continue  # its extras only name distributions that are targets of their own
        for extra in project.get("optional-dependencies", {}):
            assert f"{project['name']}[{extra}]" in targets
    assert "icon-runtime-tracing[otlp]" in targets and "icon-runtime-http[gevent]" in targets
    assert len(targets) == len(set(targets))


def test_every_python_of_the_matrix_has_an_oldest_pip() -> None:
    assert set(install_matrix.OLD_PIPS) == set(install_matrix.PYTHONS)
    assert install_matrix.OLD_PIPS["3.11"][0].startswith("22.0")


def test_installs_ignore_the_machines_pip_configuration() -> None:
    env = install_matrix.clean_env()
    assert env["PIP_CONFIG_FILE"] == install_matrix.os.devnull
    assert not any(key.startswith("UV_") or key in ("PIP_FIND_LINKS", "PIP_INDEX_URL") for key in env)
