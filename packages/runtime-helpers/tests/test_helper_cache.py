"""Cache files and locks stay under CACHE_DIR; locks are atomic and time out."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from insightconnect_plugin_runtime import helper


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch) -> Path:
    base = tmp_path / "cache"
    base.mkdir()
    monkeypatch.setattr(helper, "CACHE_DIR", str(base))
    return base


def test_open_cachefile_creates_and_reopens(cache_dir: Path) -> None:
    with helper.open_cachefile("plugin/state.txt") as handle:
        handle.write("one")
    assert (cache_dir / "plugin" / "state.txt").read_text() == "one"
    with helper.open_cachefile("plugin/state.txt", append=True) as handle:
        handle.write("two")
    with helper.open_cachefile("plugin/state.txt") as handle:
        assert handle.read() == "onetwo"
    assert helper.check_cachefile("plugin/state.txt")
    assert helper.remove_cachefile("plugin/state.txt")
    assert not helper.check_cachefile("plugin/state.txt")
    assert not helper.remove_cachefile("plugin/state.txt")


def test_legacy_absolute_names_map_onto_cache_dir(cache_dir: Path) -> None:
    helper.open_cachefile("/var/cache/legacy.txt").close()
    assert (cache_dir / "legacy.txt").exists()
    assert helper.check_cachefile("/var/cache/legacy.txt")


def test_missing_cache_dir_gives_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(helper, "CACHE_DIR", str(tmp_path / "absent"))
    assert helper.open_cachefile("x") is None
    assert not helper.check_cachefile("x")


@pytest.mark.parametrize("name", ["../escape", "a/../../escape", "/etc/passwd", "/var/cache/../../etc/passwd"])
def test_cache_names_cannot_escape(cache_dir: Path, name: str) -> None:
    for function in (helper.open_cachefile, helper.check_cachefile, helper.remove_cachefile):
        with pytest.raises(ValueError):
            function(name)
    assert not (cache_dir.parent / "escape").exists()


@pytest.mark.parametrize("name", ["../escape", "../../escape", "/etc/escape.lock"])
def test_lock_names_cannot_escape(cache_dir: Path, name: str) -> None:
    with pytest.raises(ValueError):
        helper.lock_cache(name, timeout=0)
    with pytest.raises(ValueError):
        helper.unlock_cache(name, 0)
    assert not (cache_dir.parent / "escape").exists()


def test_lock_and_unlock(cache_dir: Path) -> None:
    assert helper.lock_cache("job", timeout=0)
    assert (cache_dir / "lock" / "job").exists()
    assert helper.lock_cache("job", timeout=0.2, poll_interval=0.05) is False
    assert helper.unlock_cache("job", 0)
    assert not helper.unlock_cache("job", 0)
    assert helper.lock_cache("job", timeout=0)


def test_lock_waits_until_released(cache_dir: Path) -> None:
    assert helper.lock_cache("job", timeout=0)
    releaser = threading.Timer(0.2, helper.unlock_cache, args=("job", 0))
    releaser.start()
    assert helper.lock_cache("job", timeout=5, poll_interval=0.02)
    releaser.join()


def test_lock_is_exclusive_across_threads(cache_dir: Path) -> None:
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def contend() -> None:
        barrier.wait()
        results.append(helper.lock_cache("race", timeout=0))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_absolute_lock_under_cache_dir(cache_dir: Path) -> None:
    assert helper.lock_cache(str(cache_dir / "mine.lock"), timeout=0)
    assert (cache_dir / "mine.lock").exists()
    assert helper.unlock_cache(str(cache_dir / "mine.lock"), 0)


def test_open_file_and_encode_file(tmp_path: Path) -> None:
    target = tmp_path / "data.bin"
    target.write_bytes(b"hello")
    with helper.open_file(str(target)) as handle:
        assert handle.read() == b"hello"
    assert helper.open_file(str(tmp_path / "nope")) is None
    assert helper.open_file(str(tmp_path / "no-dir" / "nope")) is None
    assert helper.encode_file(str(target)) == b"aGVsbG8="
    assert helper.encode_file(str(tmp_path / "nope")) is None


def test_path_helpers_are_reexported_from_core(tmp_path: Path) -> None:
    from insightconnect_plugin_runtime import _paths

    assert helper.safeguard_and_return_file_path is _paths.safeguard_and_return_file_path
    assert helper.find_file_in_dir is _paths.find_file_in_dir
    (tmp_path / "f.txt").write_text("x")
    assert helper.find_file_in_dir(tmp_path, "f.txt") == str((tmp_path / "f.txt").resolve())
    assert helper.find_file_in_dir(tmp_path, "g.txt") is None
    with pytest.raises(ValueError):
        helper.safeguard_and_return_file_path(tmp_path, "../x")


def test_cache_and_lock_files_are_private_whatever_the_umask(cache_dir: Path) -> None:
    import os
    import stat

    previous = os.umask(0o022)  # the usual container umask would leave new files world-readable
    try:
        helper.open_cachefile("plugin/token.txt").close()
        assert helper.lock_cache("private-job", timeout=0)
    finally:
        os.umask(previous)
    for path in (cache_dir / "plugin" / "token.txt", cache_dir / "lock" / "private-job"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
