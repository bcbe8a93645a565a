"""Console logging of the server itself, sharing core's formats and the request context.

Step and connection lines go through core's ``plugin`` logger (configured with
``configure_console``). The server's own lines (start-up, config service, errors, debug request
dumps) use the stdlib logger ``insightconnect_plugin_runtime.server`` with the same formatter, plus
a filter that copies the request context bound with ``structlog.contextvars`` into each record, so a
cloud JSON line always carries ``request_id``, ``org_id``, ``int_id`` and ``request_path``. gunicorn's
error log is routed through the same handler so that a cloud container prints only JSON lines.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

SERVER_LOGGER = "insightconnect_plugin_runtime.server"

#: Headers whose values are bound into every log line of a request (cloud), by log field name.
CONTEXT_HEADERS = (("request_id", "X-REQUEST-ID"), ("org_id", "X-IPIMS-ORGID"), ("int_id", "X-INTEGRATION-ID"))


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Only the cloud binds request context, and binding imports structlog: when it is not
        # loaded nothing was bound, and an on-prem server never pays for importing it.
        contextvars_module = sys.modules.get("structlog.contextvars")
        if contextvars_module is None:
            return True
        for key, value in contextvars_module.get_contextvars().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def bind_request_context(environ: dict[str, Any]) -> None:
    """Cloud: the request's ids and path go into every log line until the next request."""
    from structlog.contextvars import bind_contextvars, clear_contextvars

    clear_contextvars()
    context = {key: environ.get("HTTP_" + header.upper().replace("-", "_")) for key, header in CONTEXT_HEADERS}
    context["request_path"] = environ.get("PATH_INFO", "")
    bind_contextvars(**{k: v for k, v in context.items() if v is not None})


def _handler(json_lines: bool, debug: bool, stream: Any = None) -> logging.Handler:
    from insightconnect_plugin_runtime.console import JSONFormatter, PlainFormatter

    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if json_lines else PlainFormatter())
    handler.addFilter(RequestContextFilter())
    handler.setLevel(logging.DEBUG if debug else logging.INFO)
    return handler


def configure_server_logging(json_lines: bool, debug: bool, stream: Any = None) -> logging.Handler:
    """Console handlers for the plugin logger (core) and the server logger (here)."""
    from insightconnect_plugin_runtime.console import configure_console

    configure_console(json_lines=json_lines, debug=debug, stream=stream)
    handler = _handler(json_lines, debug, stream)
    logger = logging.getLogger(SERVER_LOGGER)
    logger.handlers = [handler]
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    logger.propagate = False
    return handler


def gunicorn_logger_class(json_lines: bool, debug: bool) -> Any:
    """A gunicorn logger class whose error log uses the server's console format."""
    from gunicorn.glogging import Logger

    class ServerLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            self.error_log.handlers = [_handler(json_lines, debug)]
            self.error_log.propagate = False

    return ServerLogger
