"""glibc's malloc, set so a worker reuses the memory of its last large request instead of faulting it in anew.

* **One arena.** glibc's ``malloc`` gives each new thread an arena of its own (up to eight per core)
  and keeps what a thread freed in that thread's arena. A gthread worker answers requests on several
  threads, so after a few large requests each of them holds the memory of one (a 5 MiB message: about
  15 MiB each), and an idle worker ended at 71 MiB instead of 55. With one arena the threads reuse
  what another freed (with two, requests alternated between them and kept two copies); the GIL
  serialises most allocations anyway, so sharing it costs no measurable time.
* **Freed memory kept, within a bound.** By default glibc raises its mmap threshold to the largest
  buffer freed so far and trims the heap once twice that much is free at its top: a 5 MiB message
  frees about 17 MiB at once, so the heap was handed back after every such request and the next one
  paid about 4,000 page faults to take it again, a third of its time (``bench/payload_bench.py``;
  on and off from one run to the next, with where the freed buffers happened to lie). Buffers up to
  :data:`HEAP_BUFFER_BYTES` now come from the heap, and up to :data:`KEEP_FREE_BYTES` of it stays
  free for the next request before any is trimmed. A mmap threshold fixed low instead (every large
  buffer handed back at once) was measured too: the faults then doubled a request's time.

Set once in the master before the fork (workers inherit it). Each part is left alone when the operator
chose (``MALLOC_ARENA_MAX``; ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or
``MALLOC_TOP_PAD_``; any ``glibc.malloc`` tunable in ``GLIBC_TUNABLES`` for both), and a no-op off glibc.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping
from typing import Any

#: ``mallopt`` parameter numbers (glibc's ``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: The main arena, shared by every thread.
ARENAS = 1
#: Buffers below this come from the heap, so their memory can be reused (glibc's largest threshold
#: on 64-bit; larger ones are mapped and handed back when freed, as always).
HEAP_BUFFER_BYTES = 32 * 1024 * 1024
#: Free memory at the heap's top kept for the next request: a 5 MiB message frees about 17 MiB, a
#: message at the 48 MiB body limit (with ``HEAP_BUFFER_BYTES``-sized pieces) somewhat more than this.
KEEP_FREE_BYTES = 64 * 1024 * 1024
#: Environment variables through which glibc reads the thresholds itself.
_THRESHOLD_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def _mallopt() -> Any:
    """glibc's ``mallopt``, or None off Linux or without it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # no C library symbols to look up, or no mallopt
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return mallopt


def _tuned_by_operator(environ: Mapping[str, str]) -> bool:
    return "glibc.malloc." in environ.get("GLIBC_TUNABLES", "")


def limit_malloc_arenas(environ: Mapping[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas (see the module docstring); True when the cap was set."""
    environ = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in environ or _tuned_by_operator(environ):
        return False
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, ARENAS))


def keep_freed_memory(environ: Mapping[str, str] | None = None) -> bool:
    """Serve buffers below :data:`HEAP_BUFFER_BYTES` from the heap and keep up to
    :data:`KEEP_FREE_BYTES` of it free (see the module docstring); True when both were set."""
    environ = os.environ if environ is None else environ
    if _tuned_by_operator(environ) or any(name in environ for name in _THRESHOLD_VARIABLES):
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    # Either setting turns glibc's moving thresholds off; the mmap threshold goes first so no large
    # buffer is mapped in between.
    return bool(mallopt(M_MMAP_THRESHOLD, HEAP_BUFFER_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE_BYTES))
