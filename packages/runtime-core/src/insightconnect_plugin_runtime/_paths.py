"""Path checks shared by trigger state files (core) and the cache helpers (icon-runtime-helpers).

``helper.py`` re-exports these names, so they live here where both distributions can reach them
without core depending on the helpers distribution.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class PathTraversalError(ValueError):
    """A file name tried to leave the directory it must stay in."""


def safeguard_and_return_file_path(base_dir: str | Path, file_path: str | Path) -> str:
    """Return ``file_path`` resolved under ``base_dir``; raise ``ValueError`` if it escapes it."""
    from pathlib import Path  # imported when a path is checked, not with every trigger module

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
    """Path of ``file_name`` inside ``base_dir`` if it is an existing file, else ``None``."""
    path = safeguard_and_return_file_path(base_dir, os.path.join(str(base_dir), file_name))
    return path if os.path.isfile(path) else None
