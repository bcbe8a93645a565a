"""``_thread_context``: threads and executor tasks a step starts run in a copy of the step's whole context
(its execution and every other context variable), taken at start or submit; nothing flows back, and the
executor's worker threads keep nothing of a task (issue 20)."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from insightconnect_plugin_runtime._in_flight import IN_FLIGHT
from insightconnect_plugin_runtime._logging import Execution, capture, current_execution
from insightconnect_plugin_runtime._masking import SecretMasker
from insightconnect_plugin_runtime._process_masking import install

SIBLING: contextvars.ContextVar[str] = contextvars.ContextVar("icon_test_sibling", default="unset")


@pytest.fixture(autouse=True)
def installed() -> None:
    install()


def _execution(secret: str) -> Execution:
    return Execution(masker=SecretMasker([secret]))


def _seen() -> tuple[str, Any]:
    return SIBLING.get(), current_execution()


def _in_thread(function: Any) -> Any:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(function()))
    thread.start()
    thread.join(5)
    return out[0]


def test_a_thread_started_in_a_step_sees_the_callers_context_variables():
    execution = _execution("ctx-secret-1")
    with capture(execution):
        token = SIBLING.set("caller")
        try:
            assert _in_thread(_seen) == ("caller", execution)
            timer_seen: list[Any] = []
            timer = threading.Timer(0, lambda: timer_seen.append(_seen()))
            timer.start()
            timer.join(5)
            assert timer_seen == [("caller", execution)]
        finally:
            SIBLING.reset(token)


def test_an_executor_task_submitted_in_a_step_sees_the_callers_context_variables():
    execution = _execution("ctx-secret-2")
    with ThreadPoolExecutor(max_workers=2) as pool, capture(execution):
        token = SIBLING.set("caller")
        try:
            assert pool.submit(_seen).result(5) == ("caller", execution)
            assert list(pool.map(lambda _: _seen(), range(3))) == [("caller", execution)] * 3
            assert asyncio.run(asyncio.to_thread(_seen)) == ("caller", execution)
        finally:
            SIBLING.reset(token)


def test_the_copy_is_taken_at_start_and_changes_in_the_thread_stay_there():
    execution = _execution("ctx-secret-3")
    started, changed = threading.Event(), threading.Event()
    seen: list[str] = []

    def worker() -> None:
        started.wait(5)
        seen.append(SIBLING.get())  # the caller has changed its value since start: not seen here
        SIBLING.set("thread")
        seen.append(SIBLING.get())
        changed.set()

    with capture(execution):
        token = SIBLING.set("at-start")
        try:
            thread = threading.Thread(target=worker)
            thread.start()
            SIBLING.set("after-start")
            started.set()
            changed.wait(5)
            thread.join(5)
            assert seen == ["at-start", "thread"]
            assert SIBLING.get() == "after-start"
            with ThreadPoolExecutor(max_workers=1) as pool:
                assert pool.submit(lambda: (SIBLING.set("task"), SIBLING.get())[1]).result(5) == "task"
            assert SIBLING.get() == "after-start"
        finally:
            SIBLING.reset(token)


def test_an_executor_worker_keeps_nothing_of_a_previous_task():
    first, second = _execution("ctx-secret-4"), _execution("ctx-secret-5")

    def set_and_see() -> tuple[str, Any]:
        SIBLING.set("set-by-task")
        return _seen()

    with ThreadPoolExecutor(max_workers=1) as pool:  # one worker: every task runs in the same thread
        with capture(first):
            token = SIBLING.set("first")
            try:
                assert pool.submit(set_and_see).result(5) == ("set-by-task", first)
            finally:
                SIBLING.reset(token)
        # The worker was started during the first step's submit, yet outside a step it sees none of it.
        assert pool.submit(_seen).result(5) == ("unset", None)
        with capture(second):
            assert pool.submit(_seen).result(5) == ("unset", second)
    assert first.masker not in IN_FLIGHT.active and second.masker not in IN_FLIGHT.active


def test_threads_started_outside_a_step_are_left_as_python_starts_them():
    token = SIBLING.set("no-step")
    try:
        inherits = bool(getattr(sys.flags, "thread_inherit_context", False))  # 3.14 free-threaded default
        assert _in_thread(_seen) == ("no-step" if inherits else "unset", None)
        with ThreadPoolExecutor(max_workers=1) as pool:
            assert pool.submit(_seen).result(5)[1] is None
    finally:
        SIBLING.reset(token)


def test_a_thread_running_its_own_copied_context_still_gets_the_execution():
    execution = _execution("ctx-secret-6")
    with capture(execution):
        token = SIBLING.set("caller")
        try:
            own = contextvars.copy_context()
            assert _in_thread(lambda: own.run(_seen)) == ("caller", execution)
        finally:
            SIBLING.reset(token)


def test_a_thread_given_its_own_context_keeps_it_and_gets_the_execution(monkeypatch):
    """Python 3.14's ``Thread(context=...)`` runs the thread in the context it was given: that choice
    is kept (no copy of the caller's) and only the execution is set in it. Before 3.14 the attribute
    is set by hand, as 3.14's ``Thread`` sets it; a thread without one still gets the copy."""
    from insightconnect_plugin_runtime import _thread_context

    execution = _execution("ctx-secret-7")
    given = contextvars.Context()
    with capture(execution):
        token = SIBLING.set("caller")
        try:
            out: list[Any] = []
            if sys.version_info >= (3, 14):
                thread = threading.Thread(target=lambda: out.append(_seen()), context=given)  # type: ignore[call-arg]
            else:
                monkeypatch.setattr(_thread_context, "_OWN_CONTEXT", True)
                thread = threading.Thread(target=lambda: out.append(_seen()))
                thread._context = given  # type: ignore[attr-defined]
            thread.start()
            thread.join(5)
            assert out == [("unset", execution)]
            assert _in_thread(_seen) == ("caller", execution)
        finally:
            SIBLING.reset(token)


def test_installing_twice_patches_once():
    from insightconnect_plugin_runtime import _thread_context

    start, submit = threading.Thread.start, ThreadPoolExecutor.submit
    _thread_context.install()
    assert (threading.Thread.start, ThreadPoolExecutor.submit) == (start, submit)
