"""State every gunicorn process must agree on: shutdown flag, worker counts, step work in flight.

Module globals become private copies after ``fork``: with two workers, ``/admin/shutdown`` would stop
only the worker that answered it and ``/admin/status`` would see only its own requests. They live in
anonymous shared memory created in the master before the fork (``multiprocessing.sharedctypes``), so
every worker reads and writes the same values without a round-trip to the master, and the worker count
comes from the arbiter's own table instead of ``ps``.

In-flight work is counted per worker slot, not in one shared counter: a worker killed with
``kill -9`` in the middle of a request would otherwise leave the counter too high forever. The
master clears the slot of every worker it reaps.

The worker count the admin endpoints ask for is one shared number (``wanted_workers``), changed
under the cross-process lock within ``1..max_workers``, which the master follows each time it looks
at its workers. Signals only wake it: two ``/workers/add`` calls at once can neither both pass the
ceiling nor be lost when the kernel merges their signals. SIGTTIN/SIGTTOU sent from outside change
the same number through the same check.
"""

from __future__ import annotations

import ctypes
import os
import threading
from multiprocessing import get_context
from multiprocessing.sharedctypes import RawArray, RawValue

MAX_WORKER_SLOTS = 256


class SharedState:
    """Counters shared by the master and every worker (fork inherits the mapping)."""

    def __init__(self, slots: int = MAX_WORKER_SLOTS, max_workers: int = 0) -> None:
        self._shutdown = RawValue(ctypes.c_int, 0)
        self._live_workers = RawValue(ctypes.c_int, 0)
        self._target_workers = RawValue(ctypes.c_int, 0)
        self._wanted_workers = RawValue(ctypes.c_int, 0)
        #: Most workers the arbiter may run (0: no ceiling); set before the fork, read-only after.
        self.max_workers = max_workers
        self._pids = RawArray(ctypes.c_int, slots)
        self._active = RawArray(ctypes.c_int, slots)
        self._slot_lock = get_context("fork").Lock()
        self._local_lock = threading.Lock()
        self._slot: int | None = None
        self._slot_pid = 0
        #: The gunicorn master, when the app runs under one (admin shutdown stops it).
        self.master_pid: int | None = None

    # --- shutdown --------------------------------------------------------------------------------

    @property
    def shutting_down(self) -> bool:
        return bool(self._shutdown.value)

    def begin_shutdown(self) -> bool:
        """Raise the flag; True if this call raised it (so the caller starts the drain once)."""
        with self._local_lock:
            first = not self._shutdown.value
            self._shutdown.value = 1
        return first

    def raise_shutdown_flag(self) -> None:
        """Raise the flag without taking a lock: safe in a signal handler, which may interrupt a
        :meth:`begin_shutdown` of the same thread."""
        self._shutdown.value = 1

    # --- workers ---------------------------------------------------------------------------------

    def set_workers(self, live: int, target: int) -> None:
        self._live_workers.value = live
        self._target_workers.value = target

    @property
    def wanted_workers(self) -> int:
        """The count the master should run; 0 until someone asked for a change."""
        return int(self._wanted_workers.value)

    def request_workers(self, delta: int, lowest: int, highest: int) -> int | None:
        """Ask for ``delta`` more (or fewer) workers; the new wanted count, or None (and nothing
        changes) if it would leave ``lowest..highest``."""
        with self._slot_lock:
            wanted = (self._wanted_workers.value or self._target_workers.value) + delta
            if not lowest <= wanted <= highest:
                return None
            self._wanted_workers.value = wanted
            return wanted

    @property
    def live_workers(self) -> int:
        return int(self._live_workers.value)

    @property
    def target_workers(self) -> int:
        return int(self._target_workers.value)

    # --- work in flight --------------------------------------------------------------------------

    def _own_slot(self) -> int:
        pid = os.getpid()
        if self._slot is not None and self._slot_pid == pid:
            return self._slot
        with self._slot_lock:
            free = None
            for index, owner in enumerate(self._pids):
                if owner == pid:
                    free = index
                    break
                if free is None and owner == 0:
                    free = index
            if free is None:  # more workers than slots: share the last one rather than fail
                free = len(self._pids) - 1
            self._pids[free] = pid
            self._active[free] = 0
        self._slot, self._slot_pid = free, pid
        return free

    def work_started(self) -> None:
        slot = self._own_slot()
        with self._local_lock:
            self._active[slot] += 1

    def work_finished(self) -> None:
        slot = self._own_slot()
        with self._local_lock:
            self._active[slot] = max(0, self._active[slot] - 1)

    @property
    def active_work(self) -> int:
        return sum(self._active[i] for i, pid in enumerate(self._pids) if pid)

    def forget_process(self, pid: int) -> None:
        """Called by the master when a worker exited, however it died."""
        with self._slot_lock:
            for index, owner in enumerate(self._pids):
                if owner == pid:
                    self._pids[index] = 0
                    self._active[index] = 0
