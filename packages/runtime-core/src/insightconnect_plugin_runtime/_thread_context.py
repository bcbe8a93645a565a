"""Threads a step starts run in a copy of the step's context: its execution, and every other context variable.

Which execution a line belongs to lives in a context variable, and so do the things other parts keep per
step (http's failure-bundle recording, structlog's bound request context, a tracing span). A new thread
starts with an empty context, and ``ThreadPoolExecutor`` runs tasks in its worker's. So, once
installed, a thread started while an execution is current runs its target in a copy of the starting
thread's whole context taken at ``start`` (``threading.Thread.start``, which ``threading.Timer``
shares), and a callable submitted to a ``concurrent.futures.ThreadPoolExecutor`` (``submit``, which
``map``, ``asyncio.to_thread`` and asyncio's ``run_in_executor`` use) runs in a copy taken at
``submit``. It is a copy: what the thread sets stays in the thread, and a thread never enters a
context another thread may be running in. A thread given its own ``context=`` (Python 3.14) keeps it
and only gets the execution set in it.

The executor's own worker threads are started with no execution current: they serve many requests,
and each task runs in its own copy, so nothing a task sees or sets stays in the worker for the next
one. Threads
started while no execution is current are left as Python starts them (no copy): code outside steps
behaves as without this module.

Such a thread or task also holds its execution's masker in the process-wide authority until it ends,
so a thread that outlives its step keeps being masked with the step's secrets.

Not attributed (their lines are still masked by the process-wide authority with the secrets of every
execution in flight, but do not reach a ``body.log``): threads started with ``_thread.start_new_thread``,
threads started before the step (a pool the plugin created at import time and feeds through its own
queue), other executors than ``ThreadPoolExecutor``, and other processes.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import threading
from types import ModuleType
from typing import Any

from ._after_import import when_imported
from ._in_flight import IN_FLIGHT
from ._logging import _current

_installed = False
_OWN_CONTEXT = sys.version_info >= (3, 14)  # threading.Thread takes a context= of its own
_lock = threading.Lock()


def _run_in(execution: Any, function: Any, *args: Any, **kwargs: Any) -> Any:
    token = _current.set(execution)
    try:
        return function(*args, **kwargs)
    finally:
        _current.reset(token)


def install() -> None:
    """Patch thread start and executor submit, once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    _patch_thread_start()
    # Patched when the plugin (or a library) first imports the pool, before it can be used: a run
    # that uses no pool does not import it.
    when_imported("concurrent.futures.thread", _patch_executor_submit)


def _patch_thread_start() -> None:
    original_start = threading.Thread.start

    @functools.wraps(original_start)
    def start(self: threading.Thread) -> None:
        execution = _current.get()
        if execution is None:
            return original_start(self)
        masker = execution.masker
        run = self.run
        if _OWN_CONTEXT and getattr(self, "_context", None) is not None:  # Thread(context=...): the caller's choice
            target: Any = functools.partial(_run_in, execution, run)
        else:
            target = functools.partial(contextvars.copy_context().run, run)

        def attributed_run() -> None:
            try:
                target()
            finally:
                IN_FLIGHT.release(masker)

        IN_FLIGHT.acquire(masker)
        self.run = attributed_run  # type: ignore[method-assign]
        try:
            original_start(self)
        except BaseException:
            IN_FLIGHT.release(masker)
            raise

    threading.Thread.start = start  # type: ignore[method-assign]


def _patch_executor_submit(pool_module: ModuleType) -> None:
    ThreadPoolExecutor = pool_module.ThreadPoolExecutor  # noqa: N806 - the class, by its own name
    original_submit = ThreadPoolExecutor.submit

    @functools.wraps(original_submit)
    def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        execution = _current.get()
        if execution is None:
            return original_submit(self, fn, *args, **kwargs)
        masker = execution.masker
        task = functools.partial(contextvars.copy_context().run, fn)
        IN_FLIGHT.acquire(masker)
        token = _current.set(None)  # worker threads the pool starts now serve every later request too
        try:
            future = original_submit(self, task, *args, **kwargs)
        except BaseException:
            IN_FLIGHT.release(masker)
            raise
        finally:
            _current.reset(token)
        future.add_done_callback(lambda _: IN_FLIGHT.release(masker))
        return future

    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
