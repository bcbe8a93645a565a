"""Former home of :mod:`insightconnect_plugin_runtime.paths`, kept for icon-runtime-helpers up to 0.2.

Those releases import ``_paths`` and declare ``icon-runtime-core>=0.1,<1``, so every core 0.x keeps
this module. New code imports the public :mod:`.paths`.
"""

from __future__ import annotations

from .paths import PathTraversalError, find_file_in_dir, safeguard_and_return_file_path

__all__ = ["PathTraversalError", "find_file_in_dir", "safeguard_and_return_file_path"]
