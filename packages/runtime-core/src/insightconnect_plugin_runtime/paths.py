"""Keeping file names inside the directory they belong to (public API, since icon-runtime-core 0.4).

Trigger state files, outboxes and the legacy cache helpers of icon-runtime-helpers
(``helper.find_file_in_dir``, ``helper.safeguard_and_return_file_path``) take names that come from
plugins or their input; a name such as ``../../etc/passwd`` or an absolute path must not reach a file
outside the directory. Both functions follow semver with the core distribution.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PathTraversalError", "find_file_in_dir", "safeguard_and_return_file_path"]


class PathTraversalError(ValueError):
    """A file name tried to leave the directory it must stay in (a ``ValueError``, as callers expect)."""


def safeguard_and_return_file_path(base_dir: str | Path, file_path: str | Path) -> str:
    """Return ``file_path`` resolved under ``base_dir``; raise :class:`PathTraversalError` if it escapes.

    A relative ``file_path`` is taken relative to ``base_dir``; symbolic links are resolved before
    the check, so a link pointing outside is refused too. ``base_dir`` itself is accepted.
    """
    base = Path(base_dir).resolve()
    candidate = Path(file_path)
    if not candidate.is_absolute():
        candidate = base / candidate
    resolved = candidate.resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise PathTraversalError(
            f"Refusing file path {str(file_path)!r}: it resolves outside {str(base)!r} (path traversal)."
        )
    return str(resolved)


def find_file_in_dir(base_dir: str | Path, file_name: str) -> str | None:
    """Path of ``file_name`` inside ``base_dir`` if it is an existing file, else ``None``.

    Raises :class:`PathTraversalError` when ``file_name`` would leave ``base_dir``.
    """
    path = safeguard_and_return_file_path(base_dir, os.path.join(str(base_dir), file_name))
    return path if os.path.isfile(path) else None
