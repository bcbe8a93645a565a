"""The same start messages through the HTTP app of icon-runtime-http (Flask test client, in process).

Only loaded when a test asks for ``via="http"``; without icon-runtime-http installed that raises a
clear error naming the distribution to install.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Mapping
from typing import Any

from ._testing_output import captured_stdio
from ._testing_run import StepResult, _collect_records, _roundtrip
from ._testing_spans import captured_spans

_ROUTES = {
    ("action", False): "/api/v1/actions/{name}",
    ("action", True): "/api/v1/actions/{name}/test",
    ("trigger", True): "/api/v1/triggers/{name}/test",
    ("task", False): "/api/v1/tasks/{name}",
    ("task", True): "/api/v1/tasks/{name}/test",
    ("connection_test", True): "/api/v1/connection/test",
    ("connection_test", False): "/api/v1/connection/test",
}

_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def http_available() -> bool:
    try:
        from insightconnect_plugin_runtime import server  # noqa: F401
    except ImportError:
        return False
    return True


def _client(plugin: Any) -> Any:
    client = _clients.get(plugin)
    if client is None:
        try:
            from insightconnect_plugin_runtime.server import PluginServer
        except ImportError as missing:
            raise RuntimeError(
                "via='http' needs the icon-runtime-http distribution (pip install icon-runtime-http)."
            ) from missing
        client = _clients[plugin] = PluginServer(plugin).app.test_client()
    return client


def execute_http(plugin: Any, message: Mapping[str, Any], *, is_test: bool = False) -> StepResult:
    """POST ``message`` to the route the orchestrator would use; the reply is the response body."""
    sent = _roundtrip(plugin, dict(message))
    kind = sent["type"].removesuffix("_start")
    route = _ROUTES.get((kind, is_test))
    if route is None:
        raise ValueError(f"The HTTP API has no route to {'test' if is_test else 'run'} a {kind}.")
    name = sent["body"].get(kind, "")
    client = _client(plugin)
    started = time.perf_counter()
    with _collect_records() as records, captured_spans() as spans, captured_stdio() as stdio:
        response = client.post(route.format(name=name), data=json.dumps(sent), content_type="application/json")
    seconds = time.perf_counter() - started
    reply = json.loads(response.data) if response.data else {}
    return StepResult(
        message=sent,
        reply=reply,
        records=list(records.lines),
        http_status=response.status_code,
        seconds=seconds,
        spans=spans,
        stdout=stdio.text("stdout"),
        stderr=stdio.text("stderr"),
    )
