"""Legacy cache and lock files under ``helper.CACHE_DIR`` (a container volume), and ``open_file``.

The cache directory is read from the public ``helper`` module on every call, so tests can point
``helper.CACHE_DIR`` at a temporary directory. Every name is resolved and checked so that it cannot
leave that directory, and lock files are created atomically so two waiters never both hold a lock.
"""

from __future__ import annotations

import os
import time
from typing import BinaryIO, TextIO

from insightconnect_plugin_runtime.paths import safeguard_and_return_file_path

from ._helper_base import logger, public

#: The literal prefix plugins write in absolute cache names; it is mapped onto ``helper.CACHE_DIR``.
_LEGACY_CACHE_PREFIX = "/var/cache"


def _resolve_in(base_dir: str, name: str | os.PathLike[str]) -> str:
    """Resolve ``name`` inside ``base_dir``; a name under the legacy ``/var/cache`` prefix is mapped
    onto ``helper.CACHE_DIR`` first. Raises ``ValueError`` if the result would leave ``base_dir``."""
    text = os.fspath(name)
    if text == _LEGACY_CACHE_PREFIX or text.startswith(_LEGACY_CACHE_PREFIX + "/"):
        text = os.path.join(public().CACHE_DIR, text[len(_LEGACY_CACHE_PREFIX) :].lstrip("/"))
    return safeguard_and_return_file_path(base_dir, text)


def _cache_path(cache_file: str) -> str:
    return _resolve_in(public().CACHE_DIR, cache_file)


def _lock_dir() -> str:
    helper = public()
    return os.path.join(helper.CACHE_DIR, helper.LOCK_DIR_NAME)


def _lock_path(lock_file: str) -> str:
    """Relative lock names go into the lock directory; absolute ones must stay in the cache dir."""
    text = os.fspath(lock_file)
    if os.path.isabs(text):
        return _resolve_in(public().CACHE_DIR, text)
    return _resolve_in(_lock_dir(), text)


def check_cachefile(cache_file: str) -> bool:
    """True when the cache directory exists and holds ``cache_file``."""
    path = _cache_path(cache_file)
    return os.path.isdir(public().CACHE_DIR) and os.path.exists(path)


def open_file(file_path: str) -> BinaryIO | None:
    """Open an existing file for binary reading; ``None`` (and a log line) when it is missing."""
    directory = os.path.dirname(file_path) or "."
    if not os.path.isdir(directory):
        logger.info("open_file: directory %s does not exist", directory)
        return None
    if not os.path.isfile(file_path):
        logger.info("open_file: file %s does not exist", file_path)
        return None
    return open(file_path, "rb")  # noqa: SIM115 - the caller owns the file object


def open_cachefile(cache_file: str, append: bool = False) -> TextIO | None:
    """Open (creating it if needed) a text file in the cache directory.

    Returns a file opened ``"a+"`` when ``append`` else ``"r+"``, or ``None`` when the cache
    directory does not exist (the plugin was not given a cache volume).
    """
    cache_dir = public().CACHE_DIR
    if not os.path.isdir(cache_dir):
        logger.error("open_cachefile: cache directory %s does not exist", cache_dir)
        return None
    path = _cache_path(cache_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        logger.info("open_cachefile: creating %s", path)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # cache files may hold tokens: owner only
    return open(path, "a+" if append else "r+")  # noqa: SIM115 - the caller owns the file object


def remove_cachefile(cache_file: str) -> bool:
    """Delete a cache file; True if it existed and was removed."""
    path = _cache_path(cache_file)
    if os.path.isdir(public().CACHE_DIR) and os.path.isfile(path):
        os.remove(path)
        return True
    return False


def lock_cache(
    lock_file: str,
    timeout: float | None = None,
    poll_interval: float | None = None,
) -> bool:
    """Take the named lock, waiting while another process holds it.

    The lock file is created atomically (``O_CREAT | O_EXCL``), so two waiters can never both
    succeed. Waiting sleeps ``poll_interval`` between attempts and gives up after ``timeout``
    seconds (default ``helper.LOCK_TIMEOUT_SECONDS``), returning False; ``timeout=0`` tries once.
    """
    helper = public()
    wait = helper.LOCK_TIMEOUT_SECONDS if timeout is None else timeout
    pause = helper.LOCK_POLL_SECONDS if poll_interval is None else poll_interval
    path = _lock_path(lock_file)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("lock_cache: %s is still held after %.1f s; giving up", path, wait)
                return False
            time.sleep(min(pause, remaining))
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        return True


def unlock_cache(lock_file: str, wait_time: float) -> bool:
    """Release the named lock after ``wait_time`` seconds; True if a lock file was removed."""
    path = _lock_path(lock_file)
    time.sleep(wait_time)
    try:
        os.remove(path)
    except FileNotFoundError:
        return False
    return True
