"""The endpoints that manage the server: worker count, shutdown and its drain, readiness.

On-prem orchestrators drive them; they can require a bearer token, be switched off
(``ICON_RUNTIME_ADMIN=off``) and never grow the worker count past its ceiling (``_admin``). The
worker count is gunicorn's own (``SharedState``), so every worker answers the same.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
import time
from typing import Any

from flask import Response, request

from ._admin import UNAUTHORIZED_MESSAGE, WORKER_CEILING_MESSAGE, is_authorized
from ._log import SERVER_LOGGER
from ._responses import error_response, json_response

log = logging.getLogger(SERVER_LOGGER)


class AdminEndpoints:
    """The management views of :class:`~.endpoints.Endpoints` (a mixin: the state is the app's)."""

    settings: Any
    state: Any
    include_admin: bool
    include_admin_status: bool
    _drain_thread: threading.Thread | None

    def _register_admin(self, app: Any) -> None:
        get = {"methods": ["GET"]}
        post = {"methods": ["POST"]}
        app.add_url_rule("/api/v1/status", "status", lambda: json_response({"status": "Ready"}), **get)
        app.add_url_rule("/api/v1/workers", "workers", self.workers, **get)
        if self.settings.admin_enabled:
            app.add_url_rule("/api/v1/workers/add", "workers_add", self._guarded(self.workers_add), **post)
            app.add_url_rule("/api/v1/workers/remove", "workers_remove", self._guarded(self.workers_remove), **post)
        if self.include_admin:
            app.add_url_rule("/api/v1/admin/shutdown", "admin_shutdown", self._guarded(self.admin_shutdown), **post)
        if self.include_admin_status:
            app.add_url_rule("/api/v1/admin/status", "admin_status", self.admin_status, **get)
        app.add_url_rule("/api/v1/health/live", "health_live", lambda: json_response({"status": "alive"}), **get)
        app.add_url_rule("/api/v1/health/ready", "health_ready", self.ready, **get)

    def _guarded(self, view: Any) -> Any:
        """``view`` behind the admin token check (a no-op without a configured token)."""

        @functools.wraps(view)
        def guarded() -> Response:
            if not is_authorized(self.settings.admin_token, request.headers.get("Authorization")):
                response = error_response(401, UNAUTHORIZED_MESSAGE)
                response.headers["WWW-Authenticate"] = 'Bearer realm="icon-runtime-admin"'
                return response
            return view()  # type: ignore[no-any-return]

        return guarded

    def workers(self) -> Response:
        return json_response({"num_workers": self._live_workers()})

    def _live_workers(self) -> int:
        return self.state.live_workers if self.state.master_pid is not None else 1

    def _signal_master(self, sig: int) -> bool:
        if self.state.master_pid is None:
            return False
        os.kill(self.state.master_pid, sig)
        return True

    def workers_add(self) -> Response:
        if self.state.master_pid is None:
            return error_response(400, "Workers can only be added when the plugin runs under gunicorn.")
        ceiling = self.settings.max_workers
        wanted = self.state.request_workers(+1, 1, ceiling)
        if wanted is None:
            return error_response(409, WORKER_CEILING_MESSAGE.format(ceiling=ceiling))
        self._signal_master(signal.SIGCHLD)  # only wakes the master: it then follows the wanted count
        return json_response({"num_workers": wanted})

    def workers_remove(self) -> Response:
        if self.state.master_pid is None:
            return error_response(400, "Workers can only be removed when the plugin runs under gunicorn.")
        wanted = self.state.request_workers(-1, 1, max(self.settings.max_workers, self.state.target_workers))
        if wanted is None:
            return error_response(400, "The last worker cannot be removed.")
        self._signal_master(signal.SIGCHLD)
        return json_response({"num_workers": wanted})

    def admin_shutdown(self) -> Response:
        if self.state.begin_shutdown():
            log.info("Shutdown requested: new step work is refused from now on")
            if self.settings.shutdown_stops_server and self.state.master_pid is not None:
                self._drain_thread = threading.Thread(target=self._drain_then_stop, name="icon-drain", daemon=True)
                self._drain_thread.start()
        return json_response({"message": "Shutdown accepted: running work finishes, new step work is refused."})

    def _drain_then_stop(self) -> None:
        started = time.monotonic()
        # Stay up (readiness 503) for the shutdown delay even when idle, so a load balancer that polls
        # readiness stops routing here before the listener closes; step work drains meanwhile.
        not_before = started + self.settings.shutdown_delay
        deadline = started + max(self.settings.graceful_timeout, self.settings.shutdown_delay)
        while (self.state.active_work > 0 or time.monotonic() < not_before) and time.monotonic() < deadline:
            time.sleep(0.05)
        log.info("Step work drained (%d left); stopping the server", self.state.active_work)
        self._signal_master(signal.SIGTERM)

    def admin_status(self) -> Response:
        initiated = self.state.shutting_down
        active = self.state.active_work
        return json_response(
            {"shutdown_initiated": initiated, "shutdown_safe": initiated and active == 0, "active_work": active}
        )

    def ready(self) -> Response:
        if self.state.shutting_down:
            return json_response({"status": "shutting down"}, 503)
        return json_response({"status": "ready"})
