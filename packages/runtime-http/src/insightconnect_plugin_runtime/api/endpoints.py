"""The Flask app: every endpoint of contract 6.4, plus health probes, OpenAPI, Swagger UI and metrics.

Step endpoints (legacy ``/actions/<name>``... and ``/api/v1/...``) all go through
:meth:`Endpoints.run_step`: refuse new work once shutdown started (503), read the body within its
limits (413/400), check that the message matches the route (400), add the cloud task configuration,
then hand the message to :meth:`Plugin.handle_step` and map a failure with core's
``http_status_for``. Every reply the server builds itself is JSON and is masked with the request's
connection secrets; core masks the envelopes it builds.

Differences from the reference (see the README): no ``200 null``; 405/413 and unknown routes are
JSON, not HTML; a message whose type or step name does not match the route is a 400; unknown steps
are 404 on the details endpoints too (they consult the registered steps, with the spec file only for
titles); the spec file is read once; the worker count comes from gunicorn's own table; the admin
endpoints see every worker, can require a bearer token, can be switched off and never grow the
worker count past its ceiling (``_admin``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import threading
import time
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from insightconnect_plugin_runtime._components import installed_distributions
from insightconnect_plugin_runtime._masking import masker_for
from insightconnect_plugin_runtime._runner import build_envelope, http_status_for
from insightconnect_plugin_runtime.exceptions import ClientException, LoggedException

from ._admin import UNAUTHORIZED_MESSAGE, WORKER_CEILING_MESSAGE, is_authorized
from ._body import BodyError, BodyReader
from ._codec import dumps
from ._custom_config import ConfigStore
from ._log import CONTEXT_HEADERS, SERVER_LOGGER
from ._metrics import Metrics
from ._openapi import build_openapi
from ._read_deadline import WATCHDOG
from ._settings import ServerSettings
from ._shared import SharedState
from ._spec import PluginSpec, load_spec

log = logging.getLogger(SERVER_LOGGER)

#: Header names of the InsightConnect orchestrator (kept from the reference's module constants).
ORG_ID = "X-IPIMS-ORGID"
INT_ID = "X-INTEGRATION-ID"
REQUEST_ID = "X-REQUEST-ID"
PLUGIN_SPEC_DOCKERFILE = "/python/src/plugin.spec.yaml"
PLUGIN_SPEC_PACK = "/workspace/plugin.spec.yaml"

JSON_TYPE = "application/json"
SHUTDOWN_MESSAGE = "The plugin is shutting down and accepts no new work."
_TRACE_HEADERS = (("traceparent", "HTTP_TRACEPARENT"), ("tracestate", "HTTP_TRACESTATE"), ("baggage", "HTTP_BAGGAGE"))
#: plugin.spec.yaml fields that /api/v1/info reports (null when the spec lacks one).
_INFO_FIELDS = tuple("name description version vendor plugin_spec_version title support tags enable_cache".split())

#: kind -> (message type, registry attribute, reply type)
_STEP_ROUTES = {
    "action": ("action_start", "actions", "action_event"),
    "trigger": ("trigger_start", "triggers", "trigger_event"),
    "task": ("task_start", "tasks", "task_event"),
    "connection_test": ("connection_test", "", "connection_test"),
}


def json_response(payload: Any, status: int = 200, encoder: Any = None) -> Response:
    text = json.dumps(payload, cls=encoder) if encoder is not None else json.dumps(payload)
    return Response(text, status=status, mimetype=JSON_TYPE)


def error_response(status: int, message: str, name: str | None = None) -> Response:
    """The JSON body of every error the server itself answers (never Flask's HTML page)."""
    from http import HTTPStatus

    try:
        phrase = name or HTTPStatus(status).phrase
    except ValueError:
        phrase = name or "Error"
    payload = {
        "error": message,
        "code": status,
        "name": phrase,
        "description": message,
        "method": request.method,
        "path": request.path,
    }
    return json_response(payload, status)


def bind_request_context(environ: dict[str, Any]) -> None:
    """Cloud: the request's ids and path go into every log line until the next request."""
    from structlog.contextvars import bind_contextvars, clear_contextvars

    clear_contextvars()
    context = {key: environ.get("HTTP_" + header.upper().replace("-", "_")) for key, header in CONTEXT_HEADERS}
    context["request_path"] = environ.get("PATH_INFO", "")
    bind_contextvars(**{k: v for k, v in context.items() if v is not None})


class Endpoints:
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
        self.plugin = plugin
        self.settings = settings
        self.state = state
        if spec is not None:
            self.__dict__["spec"] = spec
        self.config_store = config_store
        self.metrics = metrics
        self.reader = BodyReader(settings.limits, decoder=getattr(plugin, "custom_decoder", None))
        self.encoder = getattr(plugin, "custom_encoder", None)
        self.connection_schema = getattr(plugin.connection, "schema", None)
        self.cloud = settings.cloud
        self.include_admin = not settings.cloud and settings.admin_enabled
        self.include_admin_status = settings.track_work
        self._openapi_yaml: str | None = None
        self._drain_thread: threading.Thread | None = None

    # Built on first use (once per process) rather than in the master: the hot path of a worker never
    # needs YAML, importlib.metadata or the OpenAPI document, so they cost it neither time nor memory.

    @functools.cached_property
    def spec(self) -> PluginSpec:
        return load_spec()

    @functools.cached_property
    def openapi(self) -> dict[str, Any]:
        return build_openapi(self.plugin, self.include_admin, self.include_admin_status, self.settings.admin_enabled)

    @functools.cached_property
    def openapi_json(self) -> str:
        return json.dumps(self.openapi)

    @functools.cached_property
    def _info(self) -> dict[str, Any]:
        return self._build_info()

    # --- app ---------------------------------------------------------------------------------------

    def create_app(self) -> Flask:
        app = Flask("insightconnect_plugin_runtime.server", static_folder=None)
        app.config["MAX_CONTENT_LENGTH"] = self.reader.max_bytes
        app.json.sort_keys = False  # type: ignore[attr-defined]
        self._register_steps(app)
        self._register_api(app)
        self._register_docs(app)
        if self.cloud:
            app.before_request(self._bind_request_context)
        app.register_error_handler(HTTPException, self._http_error)
        app.register_error_handler(Exception, self._unexpected_error)
        self._metrics_middleware = None
        if self.metrics is not None:
            from ._metrics import MetricsMiddleware

            self._metrics_middleware = MetricsMiddleware(app.wsgi_app, self.metrics, app.url_map)
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

    def _register_steps(self, app: Flask) -> None:
        def route(rule: str, endpoint: str, view: Any) -> None:
            app.add_url_rule(rule, endpoint, view, methods=["POST"])
            app.add_url_rule(f"/api/v1{rule}", f"v1_{endpoint}", view, methods=["POST"])

        route("/actions/<name>", "action_run", lambda name: self.run_step("action", name))
        route("/actions/<name>/test", "action_test", lambda name: self.run_step("action", name, True))
        route("/triggers/<name>/test", "trigger_test", lambda name: self.run_step("trigger", name, True))
        route("/tasks/<name>", "task_run", lambda name: self.run_step("task", name))
        route("/tasks/<name>/test", "task_test", lambda name: self.run_step("task", name, True, "test_task"))
        app.add_url_rule(
            "/api/v1/connection/<connection_test_type>", "connection_test", self.connection_test, methods=["POST"]
        )

    def _register_api(self, app: Flask) -> None:
        get = {"methods": ["GET"]}
        post = {"methods": ["POST"]}
        app.add_url_rule("/api/v1/info", "plugin_info", self.info, **get)
        app.add_url_rule("/api/v1/spec", "plugin_spec", self.plugin_spec, **get)
        app.add_url_rule("/api/v1/api", "api_spec", self.api_spec, **get)
        app.add_url_rule("/api/v1/status", "status", lambda: json_response({"status": "Ready"}), **get)
        app.add_url_rule("/api/v1/connection", "connection", self.connection_details, **get)
        for segment, kind in (("actions", "action"), ("triggers", "trigger"), ("tasks", "task")):
            app.add_url_rule(f"/api/v1/{segment}", segment, self._lister(segment), **get)
            app.add_url_rule(f"/api/v1/{segment}/<name>", f"{kind}_details", self._details(kind, segment), **get)
        app.add_url_rule("/api/v1/definitions/actions", "action_definitions", self.action_definitions, **get)
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
        app.add_url_rule("/metrics", "metrics", self.scrape_metrics, **get)

    def _register_docs(self, app: Flask) -> None:
        from flask_swagger_ui import get_swaggerui_blueprint

        blueprint = get_swaggerui_blueprint(
            "/api/v1/docs",
            "/api/v1/api",
            config={"app_name": f"{self.plugin.name} API"},
            blueprint_name="swagger_ui",
        )
        app.register_blueprint(blueprint)

    # --- per-request hooks ---------------------------------------------------------------------------

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

    # --- step endpoints ---------------------------------------------------------------------------------

    def run_step(self, kind: str, name: str, is_test: bool = False, connection_test_type: str = "test") -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not many
        rule = req.url_rule.rule if req.url_rule else "-"
        return self.handle(req, rule, kind, name, is_test, connection_test_type)

    def handle(
        self, req: Any, rule: str, kind: str, name: str, is_test: bool = False, connection_test_type: str = "test"
    ) -> Response:
        """Run one step request; ``req`` is a werkzeug request (Flask's, or the fast path's)."""
        message_type, registry_name, reply_type = _STEP_ROUTES[kind]
        registry = getattr(self.plugin, registry_name) if registry_name else {}
        environ = req.environ
        known = kind == "connection_test" or name in registry
        environ["icon.step"] = (kind, name if known else "-", rule)
        if self.state.shutting_down:
            return self._refuse(503, reply_type, SHUTDOWN_MESSAGE, None)
        deadline_seconds = self.settings.body_read_seconds
        with WATCHDOG.guard(environ.get("gunicorn.socket"), deadline_seconds) as deadline:
            try:
                message = self.reader.load(req.stream, req.content_length)
            except (BodyError, HTTPException, OSError) as error:
                message, failure = None, error
            else:
                failure = None
        if deadline.fired:
            text = f"The request body did not arrive within {deadline_seconds:g} seconds."
            return self._refuse(408, reply_type, text, None)
        if isinstance(failure, BodyError):
            return self._refuse(failure.status, reply_type, str(failure), None)
        if isinstance(failure, HTTPException):  # the stream itself enforced MAX_CONTENT_LENGTH
            text = self.reader.too_large_message if failure.code == 413 else (failure.description or failure.name)
            return self._refuse(failure.code or 400, reply_type, text, None)
        if failure is not None:
            return self._refuse(400, reply_type, "The request body could not be read.", None)
        problem = self._route_problem(kind, name, message_type, message)
        if problem is not None:
            return self._refuse(400, reply_type, problem, message)
        body = message.get("body") if isinstance(message, dict) else None
        if kind == "task" and not is_test and self.cloud and isinstance(body, dict):
            self._add_custom_config(name, body, req.headers)
        if self.settings.debug:
            self._log_message("Request input", message, message)
        carrier = {h: environ[key] for h, key in _TRACE_HEADERS if key in environ}
        self.state.work_started()
        try:
            reply = self.plugin.handle_step(
                message,
                is_test=is_test,
                is_debug=self.settings.debug,
                connection_test_type=connection_test_type,
                carrier=carrier,
            )
            status = 200
        except LoggedException as failure:
            reply, status = failure.output, http_status_for(failure.ex)
        finally:
            self.state.work_finished()
        if self.settings.debug:
            self._log_message("Request output", reply, message)
        if kind == "connection_test" and status == 200 and (reply.get("body") or {}).get("output") is None:
            return Response(status=204)
        return self._reply(reply, status, message)

    def connection_test(self, connection_test_type: str) -> Response:
        if connection_test_type not in ("test", "test_task"):
            request.environ["icon.step"] = ("connection_test", "-", "/api/v1/connection/<connection_test_type>")
            return error_response(
                404, f"Unknown connection test {connection_test_type!r}: use 'test' or 'test_task'.", "Not Found"
            )
        return self.run_step("connection_test", "connection", is_test=True, connection_test_type=connection_test_type)

    def _route_problem(self, kind: str, name: str, message_type: str, message: Any) -> str | None:
        if not isinstance(message, dict):
            return None  # core explains what a message must look like
        actual = message.get("type")
        if actual is not None and actual != message_type:
            return f"This endpoint runs {message_type} messages; the message is of type {actual!r}."
        body = message.get("body")
        if kind != "connection_test" and isinstance(body, dict) and kind in body and body[kind] != name:
            return f"The message names the {kind} {body[kind]!r} but the route names {name!r}."
        return None

    def _masker(self, message: Any) -> Any:
        body = message.get("body") if isinstance(message, dict) else None
        connection = body.get("connection") if isinstance(body, dict) else None
        return masker_for(connection, self.connection_schema)

    def _refuse(self, status: int, reply_type: str, text: str, message: Any) -> Response:
        """An error envelope for a step request the server rejects before running it."""
        error = ClientException(text)
        reply = build_envelope(self.plugin, reply_type, message, "", False, None, text, ex=error)
        masker = self._masker(message)
        reply = masker.mask_envelope(reply) if hasattr(masker, "mask_envelope") else masker.mask(reply)
        return self._reply(reply, status, None)

    def _reply(self, reply: Any, status: int, message: Any) -> Response:
        text: str | bytes
        try:
            if self.encoder is None:
                text = dumps(reply)  # bytes: msgspec for plain data when installed (_codec)
            else:  # the encoder may render values (objects, bytes, numbers) the envelope masking never saw
                text = self._masker(message).mask_envelope_json(json.dumps(reply, cls=self.encoder))
        except (TypeError, ValueError) as error:
            problem = f"The step result cannot be written as JSON: {error}"
            log.error(self._masker(message).mask_text(problem))
            body = dict(reply.get("body") or {}) if isinstance(reply, dict) else {}
            body.pop("output", None)
            body.update({"status": "error", "error": problem})
            reply = {"body": body, "version": "v1", "type": reply.get("type") if isinstance(reply, dict) else None}
            text = self._masker(message).mask_text(json.dumps(reply, default=str))
            status = 500
        return Response(text, status=status, mimetype=JSON_TYPE)

    def _log_message(self, label: str, payload: Any, message: Any) -> None:
        masker = self._masker(message)
        try:
            text = json.dumps(payload, default=str)
        except (TypeError, ValueError):
            text = repr(payload)
        log.debug("%s: %s", label, masker.mask_text(text))

    def _add_custom_config(self, task_name: str, body: dict[str, Any], headers: Any) -> None:
        store = self.config_store
        if store is None:
            return
        if not store.loaded:
            log.warning("No task configuration from the config service yet (%s)", store.last_error or "not fetched")
        config = store.config_for(
            task_name,
            headers.get(ORG_ID, ""),
            headers.get(INT_ID, ""),
            bool(body.get("state")),
            self.plugin.tasks,
        )
        if config:
            body["custom_config"] = config
            log.info("Custom config for task %s has the keys: %s", task_name, ", ".join(sorted(config)))

    # --- plugin description -------------------------------------------------------------------------

    def _build_info(self) -> dict[str, Any]:
        data = self.spec.data
        plugin = self.plugin
        fallback = {
            "name": plugin.name,
            "description": plugin.description,
            "version": plugin.version,
            "vendor": plugin.vendor,
        }
        info = {name: data.get(name, fallback.get(name)) for name in _INFO_FIELDS}
        distributions = installed_distributions()
        info.update(
            {
                "number_of_workers": self.settings.workers,
                "threads": self.settings.threads,
                "sdk_version": distributions.get("icon-runtime-core", "0.0.0"),
                "runtime_distributions": distributions,
            }
        )
        return info

    def info(self) -> Response:
        return json_response(self._info)

    def _format(self) -> str | None:
        wanted = request.args.get("format", "json").lower()
        return wanted if wanted in ("json", "yaml") else None

    def plugin_spec(self) -> Response:
        wanted = self._format()
        if wanted is None:
            return error_response(422, "The format must be json or yaml.")
        if not self.spec.found:
            return error_response(404, "The plugin has no plugin.spec.yaml where the server looked for it.")
        if wanted == "yaml":
            return Response(self.spec.text, mimetype="application/yaml")
        return json_response(self.spec.data)

    def api_spec(self) -> Response:
        wanted = self._format()
        if wanted is None:
            return error_response(422, "The format must be json or yaml.")
        if wanted == "yaml":
            if self._openapi_yaml is None:
                import yaml

                self._openapi_yaml = yaml.safe_dump(self.openapi, sort_keys=False)
            return Response(self._openapi_yaml, mimetype="application/yaml")
        return Response(self.openapi_json, mimetype=JSON_TYPE)

    def connection_details(self) -> Response:
        schema = self.connection_schema or {}
        fields = ("properties", "required", "title", "type")
        return json_response({name: schema.get(name) for name in fields if name in schema})

    def _lister(self, segment: str) -> Any:
        def names() -> Response:
            return json_response(list(getattr(self.plugin, segment)))

        names.__name__ = segment
        return names

    def _details(self, kind: str, segment: str) -> Any:
        def details(name: str) -> Response:
            step = getattr(self.plugin, segment).get(name)
            if step is None:
                return error_response(404, f"The plugin has no {kind} named {name!r}.")
            entry = self.spec.section(segment, name)
            fields = ("description", "title", "input", "output") + (("schedule", "state") if kind == "task" else ())
            if entry is not None:
                return json_response({k: entry[k] for k in fields if k in entry})
            result = {
                "description": getattr(step, "description", ""),
                "title": name,
                "input": getattr(step.input, "schema", None),
                "output": getattr(step.output, "schema", None),
            }
            if kind == "task":
                result["state"] = getattr(getattr(step, "state", None), "schema", None)
            return json_response(result)

        details.__name__ = f"{kind}_details"
        return details

    def action_definitions(self) -> Response:
        definitions = [
            {"identifier": name, "inputJsonSchema": getattr(action.input, "schema", None) or {}}
            for name, action in self.plugin.actions.items()
        ]
        return json_response({"actionsDefinitions": definitions})

    # --- workers and shutdown -----------------------------------------------------------------------------

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

    def scrape_metrics(self) -> Response:
        if self.metrics is None:
            return error_response(404, "Metrics are not enabled.")
        data, content_type = self.metrics.scrape()
        return Response(data, content_type=content_type)
