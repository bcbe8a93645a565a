"""A direct route to the step endpoints that skips Flask's per-request machinery.

Step POSTs are the only hot path of a plugin server. For them Flask would push an app and a request
context, build a URL adapter, run the (empty) hook lists and resolve half a dozen context-local
proxies, which together cost as much as a small action. This WSGI wrapper finds the step route of a
request in the same table Flask registers (``_step_routes.ROUTE_BY_RULE``, keyed by Flask rule) and
calls :meth:`Endpoints.handle` with the plain request of ``_plain_wsgi`` (werkzeug is not even
imported for a step under gunicorn); every other request, and every step request when anything else
hooks into Flask's request cycle (for example a tracing server hook registering ``before_request``),
goes through Flask unchanged.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from ._plain_wsgi import StepAnswer, step_request
from ._step_routes import ROUTE_BY_RULE, StepRoute

log = logging.getLogger("insightconnect_plugin_runtime.server")

#: (prefix)/(segment)/(name)(/test): the shape of every rule in ROUTE_BY_RULE, ``<name>`` as in Flask.
_STEP_PATH = re.compile(r"^(/api/v1)?/([a-z]+)/([^/]+)(/test)?$")
_UNEXPECTED = '{"error": "The server failed unexpectedly; its log has the details.", "code": 500}'


class StepFastPath:
    def __init__(self, app: Any, endpoints: Any, bind_context: Any = None) -> None:
        self.app = app
        self.endpoints = endpoints
        self.bind_context = bind_context

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("REQUEST_METHOD") == "POST":
            match = _STEP_PATH.match(environ.get("PATH_INFO", ""))
            if match is not None:
                prefix, segment, name, test = match.groups()
                route = ROUTE_BY_RULE.get(f"{prefix or ''}/{segment}/<name>{test or ''}")
                if route is not None:  # anything else (a trigger run: 405) is Flask's to answer
                    return self._step(route, name, environ, start_response)
        return self.app(environ, start_response)

    def _step(self, route: StepRoute, name: str, environ: dict[str, Any], start_response: Any) -> Any:
        if self.bind_context is not None:
            self.bind_context(environ)
        try:
            answer = self.endpoints.handle(step_request(environ, self.endpoints.reader.max_bytes), route, name)
        except Exception:
            log.exception("Unexpected error answering POST %s", environ.get("PATH_INFO"))
            answer = StepAnswer(500, _UNEXPECTED)
        return answer(environ, start_response)


def flask_hooks_are_ours(app: Any, own: tuple[Any, ...]) -> bool:
    """True when nothing but the server itself hooks into Flask's request cycle."""
    for registry in (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs):
        for functions in registry.values():
            if any(function not in own for function in functions):
                return False
    return not app.url_value_preprocessors and not app.url_default_functions
