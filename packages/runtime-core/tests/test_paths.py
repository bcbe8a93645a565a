"""The public path checks siblings use (``insightconnect_plugin_runtime.paths``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from insightconnect_plugin_runtime import _paths, paths


def test_names_inside_the_directory_resolve(tmp_path: Path) -> None:
    assert paths.safeguard_and_return_file_path(tmp_path, "a/b.json") == str(tmp_path.resolve() / "a" / "b.json")
    assert paths.safeguard_and_return_file_path(str(tmp_path), tmp_path / "c") == str(tmp_path.resolve() / "c")
    assert paths.safeguard_and_return_file_path(tmp_path, ".") == str(tmp_path.resolve())
    assert paths.safeguard_and_return_file_path(tmp_path, "x/../y") == str(tmp_path.resolve() / "y")


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/etc/passwd"])
def test_names_leaving_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    base = tmp_path / "base"
    base.mkdir()
    with pytest.raises(paths.PathTraversalError, match="path traversal"):
        paths.safeguard_and_return_file_path(base, name)
    assert issubclass(paths.PathTraversalError, ValueError)


def test_a_sibling_directory_with_the_same_prefix_is_outside(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    with pytest.raises(ValueError):
        paths.safeguard_and_return_file_path(tmp_path / "cache", tmp_path / "cache-other" / "f")


def test_a_link_pointing_outside_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    os.symlink(tmp_path, base / "up")
    with pytest.raises(ValueError):
        paths.safeguard_and_return_file_path(base, "up/secret")


def test_find_file_in_dir(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "d").mkdir()
    assert paths.find_file_in_dir(tmp_path, "f.txt") == str(tmp_path.resolve() / "f.txt")
    assert paths.find_file_in_dir(tmp_path, "missing.txt") is None
    assert paths.find_file_in_dir(tmp_path, "d") is None
    with pytest.raises(ValueError):
        paths.find_file_in_dir(tmp_path / "d", "../f.txt")


def test_the_former_private_module_still_serves_released_helpers() -> None:
    """icon-runtime-helpers 0.1 and 0.2 import ``_paths``; they must get the same functions."""
    assert paths.__all__ == ["PathTraversalError", "find_file_in_dir", "safeguard_and_return_file_path"]
    for name in paths.__all__:
        assert getattr(_paths, name) is getattr(paths, name)
