"""Worker threads share one malloc arena, so each does not keep its own copy of a large request's memory.

glibc's ``malloc`` gives each new thread an arena of its own (up to eight per core) and keeps what a
thread freed in that thread's arena. A gthread worker answers requests on several threads, so after a
few large requests each of them holds the memory of one (a 5 MiB message: about 15 MiB each), and an
idle worker ended at 71 MiB instead of 55. With one arena the threads reuse what another freed (with
two, requests alternated between them and kept two copies); the GIL serialises most allocations
anyway, so sharing it costs no measurable time (``bench/payload_bench.py``).

Set once in the master before the fork (workers inherit it). Left alone when the operator chose
(``MALLOC_ARENA_MAX`` or a ``GLIBC_TUNABLES`` malloc setting), and a no-op off glibc. Freed memory is
deliberately not handed back to the system between requests (no fixed mmap threshold, no
``malloc_trim``): the next large request would pay page faults for all of it, which doubled its time.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

#: ``mallopt`` parameter number of the arena limit (glibc's ``malloc.h``).
M_ARENA_MAX = -8
#: The main arena, shared by every thread.
ARENAS = 1


def limit_malloc_arenas(environ: Mapping[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas (see the module docstring); True when the cap was set."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in environ:
        return False
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols to look up, or no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, ARENAS))
