"""gunicorn glue: the application object, the arbiter subclass and the server hooks.

The master hands gunicorn a WSGI app built before the fork: the whole Flask app, or the fast path in
front of a Flask app built on first use (``_deferred_app``), which the master builds in an
``after_start`` task right after the first forks. The arbiter subclass publishes its own worker
table into the shared state (no ``ps`` pipeline) and raises the shutdown flag as soon as
SIGTERM/SIGINT arrives (in the signal handler itself), so a request that still reaches a worker
while it drains gets a 503 instead of starting new work. The worker count follows
``SharedState.wanted_workers`` (set by the admin endpoints, or by SIGTTIN/SIGTTOU), never past the
ceiling.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from ._shared import SharedState

log = logging.getLogger("insightconnect_plugin_runtime.server")


class PluginArbiter(Arbiter):
    state: SharedState | None = None
    #: Run once in the master, right after the first workers were forked: start-up work that no
    #: request waits for (it would otherwise delay the first answer).
    after_start: tuple[Callable[[], None], ...] = ()

    def _publish(self, extra: int = 0) -> None:
        if self.state is not None:
            self.state.set_workers(len(self.WORKERS) + extra, int(self.num_workers or 0))

    def spawn_worker(self) -> int:
        self._publish(extra=1)  # written before the fork, so the new worker already counts itself
        pid = super().spawn_worker()
        self._publish()
        return pid  # type: ignore[no-any-return]

    def manage_workers(self) -> None:
        self._follow_wanted()
        super().manage_workers()
        self._publish()
        if self.after_start and self.WORKERS:
            pending, self.after_start = self.after_start, ()
            for task in pending:
                try:
                    task()
                except Exception:
                    log.warning("A start-up task failed", exc_info=True)

    def _ceiling(self) -> int:
        ceiling = self.state.max_workers if self.state is not None else 0
        return ceiling or 1 << 30

    def _follow_wanted(self) -> None:
        """Run the count the admin endpoints asked for (``SharedState.request_workers``)."""
        if self.state is None:
            return
        wanted = self.state.wanted_workers
        if wanted and wanted != self.num_workers:
            self.num_workers = max(1, min(wanted, self._ceiling()))

    def reap_workers(self) -> None:
        super().reap_workers()
        self._publish()

    def handle_ttin(self) -> None:
        self._change_workers(+1)

    def handle_ttou(self) -> None:
        self._change_workers(-1)

    def _change_workers(self, delta: int) -> None:
        """SIGTTIN/SIGTTOU from outside: the same ceiling and the same shared count as the endpoints."""
        if self.state is None:
            if delta > 0:
                super().handle_ttin()
            else:
                super().handle_ttou()
            return
        if self.state.request_workers(delta, 1, self._ceiling()) is None:
            log.warning("Not changing the worker count: %d run, within 1..%d", self.num_workers, self._ceiling())
            return
        self.manage_workers()

    def signal(self, sig: int, frame: Any) -> None:
        """The master's handler of the signals gunicorn queues: SIGTERM and SIGINT raise the shutdown
        flag at once, even while the master is busy with its start-up tasks (``after_start``) and
        will only get to the queue later."""
        if self.state is not None and sig in (signal.SIGTERM, signal.SIGINT):
            self.state.raise_shutdown_flag()
        super().signal(sig, frame)

    def handle_term(self) -> None:
        if self.state is not None:
            self.state.begin_shutdown()
        super().handle_term()

    def handle_int(self) -> None:
        if self.state is not None:
            self.state.begin_shutdown()
        super().handle_int()


class PluginApplication(BaseApplication):  # type: ignore[misc]
    """Serves a ready-made WSGI app with settings given as a dict."""

    def __init__(
        self,
        app: Any,
        settings: dict[str, Any],
        state: SharedState,
        post_fork: Iterable[Callable[[Any, Any], None]] = (),
        child_exit: Iterable[Callable[[Any, Any], None]] = (),
        after_start: Iterable[Callable[[], None]] = (),
    ) -> None:
        self.application = app
        self.settings = settings
        self.state = state
        self._post_fork = tuple(post_fork)
        self._child_exit = tuple(child_exit)
        self._after_start = tuple(after_start)
        super().__init__()

    def load_config(self) -> None:
        unknown = []
        for key, value in self.settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)
            else:
                unknown.append(key)
        if unknown:
            log.warning("Ignoring gunicorn settings it does not know: %s", ", ".join(sorted(unknown)))
        self.cfg.set("post_fork", self._on_post_fork)
        self.cfg.set("child_exit", self._on_child_exit)

    def _on_post_fork(self, server: Any, worker: Any) -> None:
        for hook in self._post_fork:
            try:
                hook(server, worker)
            except Exception:
                log.warning("A post-fork hook failed", exc_info=True)

    def _on_child_exit(self, server: Any, worker: Any) -> None:
        self.state.forget_process(worker.pid)
        for hook in self._child_exit:
            try:
                hook(server, worker)
            except Exception:
                log.warning("A child-exit hook failed", exc_info=True)

    def load(self) -> Any:
        return self.application

    def run(self) -> None:
        arbiter = PluginArbiter(self)
        arbiter.state = self.state
        arbiter.after_start = self._after_start
        arbiter.run()
