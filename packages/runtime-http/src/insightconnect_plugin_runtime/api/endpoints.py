"""The Flask app of a plugin server: every endpoint of contract 6.4, health probes, OpenAPI, metrics.

:class:`Endpoints` builds the app from three groups of routes, each in its own module: the step
endpoints (``_step_routes``: the one route table, shared with the fast path), the description
endpoints (``_describe_routes``: info, spec, OpenAPI, steps) and the management endpoints
(``_admin_routes``: workers, shutdown, readiness). Errors the server answers itself (405, 413,
unknown routes, unexpected failures) are JSON, never Flask's HTML pages, so a client always gets
one format.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from ._admin_routes import AdminEndpoints
from ._custom_config import ConfigStore
from ._describe_routes import DescribeEndpoints
from ._log import SERVER_LOGGER, bind_request_context
from ._metrics import Metrics
from ._plain_wsgi import JSON_TYPE  # noqa: F401 - kept importable from this module
from ._responses import error_response, json_response  # noqa: F401 - json_response kept importable
from ._settings import ServerSettings
from ._shared import SharedState
from ._spec import PluginSpec
from ._step_routes import (  # noqa: F401 - names kept importable from this module
    INT_ID,
    ORG_ID,
    REQUEST_ID,
    SHUTDOWN_MESSAGE,
    STEP_ROUTES,
    StepEndpoints,
    StepRoute,
)

log = logging.getLogger(SERVER_LOGGER)

PLUGIN_SPEC_DOCKERFILE = "/python/src/plugin.spec.yaml"
PLUGIN_SPEC_PACK = "/workspace/plugin.spec.yaml"


class Endpoints(StepEndpoints, DescribeEndpoints, AdminEndpoints):
    """Builds the app for one plugin; holds what every request needs, prepared once."""

    def __init__(
        self,
        plugin: Any,
        settings: ServerSettings,
        state: SharedState,
        spec: PluginSpec | None = None,
        config_store: ConfigStore | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        StepEndpoints.__init__(self, plugin, settings, state, config_store)
        if spec is not None:
            self.__dict__["spec"] = spec
        self.metrics = metrics
        self.include_admin = not settings.cloud and settings.admin_enabled
        self.include_admin_status = settings.track_work
        self._openapi_yaml = None
        self._drain_thread = None

    def create_app(self, middleware: bool = True) -> Flask:
        """The Flask app; ``middleware=False`` leaves out the metrics wrapper (the caller wraps the
        app itself, as the deferred app of ``bin/<plugin> http`` does)."""
        app = Flask("insightconnect_plugin_runtime.server", static_folder=None)
        app.config["MAX_CONTENT_LENGTH"] = self.reader.max_bytes
        app.json.sort_keys = False  # type: ignore[attr-defined]
        self._register_steps(app)
        self._register_describe(app)
        self._register_admin(app)
        app.add_url_rule("/metrics", "metrics", self.scrape_metrics, methods=["GET"])
        self._register_docs(app)
        if self.cloud:
            app.before_request(self._bind_request_context)
        app.register_error_handler(HTTPException, self._http_error)
        app.register_error_handler(Exception, self._unexpected_error)
        self._metrics_middleware = None
        if self.metrics is not None and middleware:
            from ._metrics import MetricsMiddleware

            self._metrics_middleware = MetricsMiddleware(app.wsgi_app, self.metrics, lambda: app.url_map)
            app.wsgi_app = self._metrics_middleware  # type: ignore[method-assign]
        return app

    def enable_fast_path(self, app: Flask) -> bool:
        """Route step POSTs around Flask's request cycle, unless something else hooks into it.

        Called once the server hooks had their ``init_app``; see ``_fastpath``.
        """
        from ._fastpath import StepFastPath, flask_hooks_are_ours

        if not flask_hooks_are_ours(app, (self._bind_request_context,)):
            log.info("Flask request hooks are installed: step requests go through Flask")
            return False
        bind = bind_request_context if self.cloud else None
        if self._metrics_middleware is not None:
            self._metrics_middleware.app = StepFastPath(self._metrics_middleware.app, self, bind)
        else:
            app.wsgi_app = StepFastPath(app.wsgi_app, self, bind)  # type: ignore[method-assign]
        return True

    def _bind_request_context(self) -> None:
        bind_request_context(request.environ)

    def _http_error(self, error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(status, error.description or error.name, error.name)
        if status == 405:
            allowed = error.get_response().headers.get("Allow")
            if allowed:
                response.headers["Allow"] = allowed
        return response

    def _unexpected_error(self, error: Exception) -> Response:
        log.error("Unexpected error answering %s %s", request.method, request.path, exc_info=error)
        return error_response(500, "The server failed unexpectedly; its log has the details.")

    def scrape_metrics(self) -> Response:
        if self.metrics is None:
            return error_response(404, "Metrics are not enabled.")
        data, content_type = self.metrics.scrape()
        return Response(data, content_type=content_type)
