"""The compat-legacy harness blames the right party, reads pip's failures and Dockerfile installs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "compat" / "compat_legacy.py"
spec = importlib.util.spec_from_file_location("compat_legacy", SCRIPT)
compat_legacy = importlib.util.module_from_spec(spec)
sys.modules["compat_legacy"] = compat_legacy  # dataclasses look their module up there
spec.loader.exec_module(compat_legacy)

ROOT = Path("/work/plugins/sample")


def _traceback(*frames: str, final: str) -> str:
    lines = ["Traceback (most recent call last):"]
    lines += [f'  File "{frame}", line 3, in <module>\n    code()' for frame in frames]
    return "\n".join([*lines, final])


@pytest.mark.parametrize(
    ("frames", "final", "missing", "cause"),
    [
        # A komand name we do not provide is ours, wherever it is raised.
        ([f"{ROOT}/komand_x/a.py"], "ModuleNotFoundError: No module named 'komand.message'", None, "ours"),
        ([f"{ROOT}/komand_x/a.py"], "AttributeError: module 'komand' has no attribute 'Thing'", None, "ours"),
        (
            [f"{ROOT}/bin/x", "/v/lib/python3.11/site-packages/insightconnect_plugin_runtime/cli.py"],
            "KeyError: 'x'",
            None,
            "ours",
        ),
        ([f"{ROOT}/bin/x", "/v/site-packages/icon_runtime_komand/_alias.py"], "TypeError: bad", None, "ours"),
        # Python 2 code: syntax, or a Python 2 standard-library module.
        ([f"{ROOT}/komand_x/a.py"], "SyntaxError: Missing parentheses in call to 'print'", None, "py2"),
        ([f"{ROOT}/komand_x/a.py"], "ModuleNotFoundError: No module named 'urllib2'", "urllib2", "py2"),
        ([f"{ROOT}/komand_x/a.py"], "ModuleNotFoundError: No module named 'StringIO'", None, "py2"),
        # A pinned dependency broken on this Python.
        (
            [f"{ROOT}/komand_x/a.py", "/v/lib/python3.11/site-packages/old/__init__.py"],
            "ImportError: cannot import name 'Mapping' from 'collections'",
            None,
            "py311-dep",
        ),
        (
            [f"{ROOT}/komand_x/a.py", "/v/lib/python3.11/site-packages/old/x.py"],
            "SyntaxError: invalid syntax",
            None,
            "py311-dep",
        ),
        (
            [f"{ROOT}/komand_x/connection.py"],
            "ImportError: cannot import name 'SumoLogic' from 'sumologic' (/v/lib/site-packages/sumologic/__init__.py)",
            "sumologic",
            "py311-dep",
        ),
        # The plugin's own gaps.
        ([f"{ROOT}/komand_x/a.py"], "ModuleNotFoundError: No module named 'bs4'", "bs4", "undeclared"),
        ([f"{ROOT}/komand_x/a.py"], "NameError: name 'foo' is not defined", None, "plugin"),
    ],
)
def test_attribution(frames, final, missing, cause):
    assert compat_legacy.attribute(_traceback(*frames, final=final), ROOT, missing) == cause


def test_an_error_without_a_traceback_is_ours_to_look_at():
    assert compat_legacy.attribute("No action, trigger or task is named 'x'.", ROOT) == "ours"


@pytest.mark.parametrize(
    ("output", "requirement"),
    [
        ("ERROR: No matching distribution found for pycrypto==2.6.1\n", "pycrypto==2.6.1"),
        ("  Failed building wheel for lxml\nERROR: could not build", "lxml"),
        ("ERROR: Could not build wheels for numpy, which is required", "numpy"),
        (
            "ERROR: cffi-1.12.2-cp37-cp37m-linux_x86_64.whl is not a supported wheel on this platform.",
            "cffi-1.12.2-cp37-cp37m-linux_x86_64.whl",
        ),
    ],
)
def test_the_failed_requirement_is_read_from_pip(output, requirement):
    assert compat_legacy.failed_requirement(output) == requirement


def test_dockerfile_installs_count_as_requirements(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "maya-0.6.1-py2.py3-none-any.whl").write_bytes(b"")
    (tmp_path / "Dockerfile").write_text(
        "FROM komand/python-3-plugin:2\n"
        "RUN pip install python-magic && pip install cortex4py==1.0.0\n"
        "RUN easy_install beautifulsoup4\n"
        "RUN if [ -f requirements.txt ]; then pip install -r requirements.txt; fi\n"
        "RUN pip install vendor/*.whl\n"
        "RUN pip install git+https://github.com/example/client\n"
    )
    assert compat_legacy.dockerfile_requirements(tmp_path) == [
        "python-magic",
        "cortex4py==1.0.0",
        "beautifulsoup4",
        str(tmp_path / "vendor" / "maya-0.6.1-py2.py3-none-any.whl"),
        "git+https://github.com/example/client",
    ]


def test_komand_requirement_lines_are_left_out():
    pattern = compat_legacy.RUNTIME_REQUIREMENT
    assert pattern.match("komand==1.0.1") and pattern.match("insightconnect-plugin-runtime")
    assert pattern.match("Insightconnect_Plugin_Runtime>=5")
    assert pattern.match("komand") and pattern.match("komand ; python_version>'3'")
    assert not pattern.match("komand-helper==1") and not pattern.match("komandx")
    assert not pattern.match("requests==2.20.0")
