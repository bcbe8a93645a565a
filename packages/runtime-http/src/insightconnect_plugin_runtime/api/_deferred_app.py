"""The Flask app of ``bin/<plugin> http``, built when a request first needs it.

Step POSTs, the requests a plugin server exists for, are answered by the fast path (``_fastpath``)
without Flask. Importing Flask and building the app is the largest part of a server's start, so when
nothing needs the app at start (no server hook with ``init_app`` or ``post_fork``) the master forks
its first workers without it: each of them builds it on its first other request (info, health,
OpenAPI, metrics), and the master builds it right after those first forks so that every worker
forked later shares its copy.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class DeferredApp:
    """A WSGI app that builds the real one (once per process, thread-safe) on its first request."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._app: Any = None
        self._lock = threading.Lock()

    @property
    def app(self) -> Any:
        """The built app, building it now if no request did yet."""
        app = self._app
        if app is None:
            with self._lock:
                if self._app is None:
                    self._app = self._build()
                app = self._app
        return app

    def url_map(self) -> Any:
        return self.app.url_map

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            app = self.app
        except Exception:  # noqa: BLE001 - answered below; the next request tries again
            # Built before the fork, this failure would have stopped the server at start; here the
            # worker already answers steps, so the request gets the server's JSON error, not
            # gunicorn's HTML page.
            log.exception(
                "Could not build the API app for %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO")
            )
            return _json_error(environ, start_response)
        return app(environ, start_response)


def _json_error(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    message = "The server failed unexpectedly; its log has the details."
    payload = {
        "error": message,
        "code": 500,
        "name": "Internal Server Error",
        "description": message,
        "method": environ.get("REQUEST_METHOD", ""),
        "path": environ.get("PATH_INFO", ""),
    }
    body = json.dumps(payload).encode()
    start_response(
        "500 INTERNAL SERVER ERROR", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
