"""The step endpoints: one route table, and what every step request goes through.

:data:`STEP_ROUTES` is the only list of step URLs: Flask registers its rules from it and the fast
path (``_fastpath``) looks requests up in it, so the two routers cannot disagree. A request is
refused with 503 once shutdown started, its body is read within its limits (413/400/408), the
message must match the route (400), the cloud task configuration is added, then core's
:func:`execute` runs it and the reply's ``http_status`` is answered. Every reply is JSON and masked
with the request's connection secrets.

Nothing here imports Flask or werkzeug: the fast path answers step requests with this module and
``_plain_wsgi`` alone, so a server whose first requests are steps loads neither before it answers
them (``_deferred_app``). :meth:`StepEndpoints.handle` answers a :class:`~._plain_wsgi.StepAnswer`,
which the Flask views turn into a werkzeug response; Flask's ``request`` is imported inside the views
that only Flask calls.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from insightconnect_plugin_runtime.execution import (
    ACTION,
    CONNECTION_TEST,
    TASK,
    TRIGGER,
    Context,
    Reply,
    StepKind,
    execute,
    refusal,
)
from insightconnect_plugin_runtime.masking import masker_for

from ._body import BodyError, BodyReader
from ._codec import dumps
from ._log import SERVER_LOGGER
from ._plain_wsgi import StepAnswer, is_http_error
from ._read_deadline import WATCHDOG

log = logging.getLogger(SERVER_LOGGER)


#: Header names of the InsightConnect orchestrator.
ORG_ID = "X-IPIMS-ORGID"
INT_ID = "X-INTEGRATION-ID"
REQUEST_ID = "X-REQUEST-ID"

SHUTDOWN_MESSAGE = "The plugin is shutting down and accepts no new work."
_TRACE_HEADERS = (("traceparent", "HTTP_TRACEPARENT"), ("tracestate", "HTTP_TRACESTATE"), ("baggage", "HTTP_BAGGAGE"))


@dataclass(frozen=True)
class StepRoute:
    """One step URL: its Flask rule and endpoint name, and how it runs the message it receives."""

    rule: str
    endpoint: str
    kind: StepKind
    is_test: bool = False
    connection_test_type: str = "test"


def _step_routes() -> tuple[StepRoute, ...]:
    # Triggers have no run endpoint: a trigger runs until the process stops, started by the CLI.
    routes = (
        ("/actions/<name>", "action_run", ACTION, False, "test"),
        ("/actions/<name>/test", "action_test", ACTION, True, "test"),
        ("/triggers/<name>/test", "trigger_test", TRIGGER, True, "test"),
        ("/tasks/<name>", "task_run", TASK, False, "test"),
        ("/tasks/<name>/test", "task_test", TASK, True, "test_task"),
    )
    return tuple(
        StepRoute(prefix + rule, endpoint_prefix + endpoint, kind, is_test, test_type)
        for prefix, endpoint_prefix in (("", ""), ("/api/v1", "v1_"))
        for rule, endpoint, kind, is_test, test_type in routes
    )


#: Every step route whose URL names the step (``<name>``), by Flask rule.
STEP_ROUTES: tuple[StepRoute, ...] = _step_routes()
ROUTE_BY_RULE: dict[str, StepRoute] = {route.rule: route for route in STEP_ROUTES}
CONNECTION_TEST_RULE = "/api/v1/connection/<connection_test_type>"
#: The connection test route by its ``<connection_test_type>``.
CONNECTION_TEST_ROUTES: dict[str, StepRoute] = {
    test_type: StepRoute(CONNECTION_TEST_RULE, "connection_test", CONNECTION_TEST, True, test_type)
    for test_type in ("test", "test_task")
}


class StepEndpoints:
    """The step views of :class:`~.endpoints.Endpoints`, and on their own the fast path's handler."""

    plugin: Any
    settings: Any
    state: Any
    reader: Any
    encoder: Any
    connection_schema: Any
    cloud: bool
    config_store: Any

    def __init__(self, plugin: Any, settings: Any, state: Any, config_store: Any = None) -> None:
        """What :meth:`handle` needs, and nothing of Flask (the fast path serves with this alone)."""
        self.plugin = plugin
        self.settings = settings
        self.state = state
        self.config_store = config_store
        self.reader = BodyReader(settings.limits, decoder=getattr(plugin, "custom_decoder", None))
        self.encoder = getattr(plugin, "custom_encoder", None)
        self.connection_schema = getattr(plugin.connection, "schema", None)
        self.cloud = settings.cloud

    def _register_steps(self, app: Any) -> None:
        for route in STEP_ROUTES:
            app.add_url_rule(route.rule, route.endpoint, self._step_view(route), methods=["POST"])
        app.add_url_rule(CONNECTION_TEST_RULE, "connection_test", self.connection_test, methods=["POST"])

    def _step_view(self, route: StepRoute) -> Any:
        from flask import request

        def view(name: str) -> Any:
            req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not many
            return self.handle(req, route, name).to_response()

        view.__name__ = route.endpoint
        return view

    def handle(self, req: Any, route: StepRoute, name: str) -> StepAnswer:
        """Run one step request; ``req`` is a werkzeug request (Flask's) or the fast path's
        :class:`~._plain_wsgi.StepRequest`, which has the same ``environ``, ``stream``,
        ``content_length`` and ``headers``."""
        kind = route.kind
        environ = req.environ
        known = kind is CONNECTION_TEST or name in kind.steps(self.plugin)
        environ["icon.step"] = (kind.name, name if known else "-", route.rule)
        if self.state.shutting_down:
            return self._refuse(503, kind, SHUTDOWN_MESSAGE, None)
        deadline_seconds = self.settings.body_read_seconds
        with WATCHDOG.guard(environ.get("gunicorn.socket"), deadline_seconds) as deadline:
            try:
                message, spare = self.reader.load_spare(req.stream, req.content_length)
            except Exception as error:  # noqa: BLE001 - anything else is raised again just below
                if not isinstance(error, (BodyError, OSError)) and not is_http_error(error):
                    raise
                message, spare, failure = None, None, error
            else:
                failure = None
        if deadline.fired:
            text = f"The request body did not arrive within {deadline_seconds:g} seconds."
            return self._refuse(408, kind, text, None)
        if isinstance(failure, BodyError):
            return self._refuse(failure.status, kind, str(failure), None)
        if failure is not None and is_http_error(failure):  # the stream itself enforced MAX_CONTENT_LENGTH
            text = self.reader.too_large_message if failure.code == 413 else (failure.description or failure.name)
            return self._refuse(failure.code or 400, kind, text, None)
        if failure is not None:
            return self._refuse(400, kind, "The request body could not be read.", None)
        problem = _route_problem(kind, name, message)
        if problem is not None:
            return self._refuse(400, kind, problem, message)
        body = message.get("body") if isinstance(message, dict) else None
        if kind is TASK and not route.is_test and self.cloud and isinstance(body, dict):
            self._add_custom_config(name, body, req.headers)
        if self.settings.debug:
            self._log_message("Request input", message, message)
        carrier = {h: environ[key] for h, key in _TRACE_HEADERS if key in environ}
        context = Context(route.is_test, self.settings.debug, route.connection_test_type, carrier)
        self.state.work_started()
        try:
            reply = execute(self.plugin, message, context)
        finally:
            self.state.work_finished()
        if self.settings.debug:
            self._log_message("Request output", reply.envelope, message)
        if kind is CONNECTION_TEST and reply.ok and (reply.envelope.get("body") or {}).get("output") is None:
            return StepAnswer(204, None)
        return self._reply(reply, spare)

    def connection_test(self, connection_test_type: str) -> Any:
        from flask import request

        from ._responses import error_response

        route = CONNECTION_TEST_ROUTES.get(connection_test_type)
        if route is None:
            request.environ["icon.step"] = ("connection_test", "-", CONNECTION_TEST_RULE)
            return error_response(
                404, f"Unknown connection test {connection_test_type!r}: use 'test' or 'test_task'.", "Not Found"
            )
        return self.handle(request._get_current_object(), route, "connection").to_response()  # type: ignore[attr-defined]

    def _masker(self, message: Any) -> Any:
        body = message.get("body") if isinstance(message, dict) else None
        connection = body.get("connection") if isinstance(body, dict) else None
        return masker_for(connection, self.connection_schema)

    def _refuse(self, status: int, kind: StepKind, text: str, message: Any) -> StepAnswer:
        """An error envelope for a step request the server rejects before running it."""
        return self._reply(refusal(self.plugin, kind, message, text, status))

    def _reply(self, reply: Reply, spare: bytearray | None = None) -> StepAnswer:
        """The reply as JSON; written into ``spare`` (the spent request body) when msgspec writes it."""
        text: str | bytes | bytearray
        if self.encoder is None:
            try:  # msgspec for plain data when installed (_codec); the fallback lives in Reply.to_json
                text = dumps(reply.envelope, spare)
            except (TypeError, ValueError):
                text = reply.to_json()
        else:
            text = reply.to_json(self.encoder)
        if reply.unwritable is not None:
            log.error(reply.unwritable)
        return StepAnswer(reply.http_status, text)

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


def _route_problem(kind: StepKind, name: str, message: Any) -> str | None:
    if not isinstance(message, dict):
        return None  # core explains what a message must look like
    actual = message.get("type")
    if actual is not None and actual != kind.start_type:
        return f"This endpoint runs {kind.start_type} messages; the message is of type {actual!r}."
    body = message.get("body")
    step_key = kind.name
    if kind is not CONNECTION_TEST and isinstance(body, dict) and step_key in body and body[step_key] != name:
        return f"The message names the {step_key} {body[step_key]!r} but the route names {name!r}."
    return None
