"""The replies of the Flask views: werkzeug responses with Flask's defaults, and the JSON error body.

The step fast path answers without these (``_plain_wsgi``): they import werkzeug, and Flask with it
for the request an error body names.
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Response as _WerkzeugResponse

from ._plain_wsgi import JSON_TYPE


class Response(_WerkzeugResponse):
    """A reply with ``flask.Response``'s defaults (HTML when no type is given), without Flask.

    Flask takes it from a view as it is (it only changes the class to its own).
    """

    default_mimetype = "text/html"


def json_response(payload: Any, status: int = 200, encoder: Any = None) -> Response:
    text = json.dumps(payload, cls=encoder) if encoder is not None else json.dumps(payload)
    return Response(text, status=status, mimetype=JSON_TYPE)


def error_response(status: int, message: str, name: str | None = None) -> Response:
    """The JSON body of every error the server itself answers (never Flask's HTML page)."""
    from http import HTTPStatus

    from flask import request

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
