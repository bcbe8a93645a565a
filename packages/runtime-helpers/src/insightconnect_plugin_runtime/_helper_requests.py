"""``make_request``: send a ``requests.Request`` and turn every failure into a plugin exception.

Plugins' tests patch ``requests.Session.send`` (and ``requests.sessions.Session.send``), so the
request always goes through ``requests.Session().send``. ``max_response_size`` is enforced on the
bytes actually read, since ``Content-Length`` may be absent or wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests

from insightconnect_plugin_runtime.exceptions import APIException

from ._helper_base import public
from ._helper_responses import _transport_exception

_READ_CHUNK = 64 * 1024


def _too_large(limit: int, detail: str) -> APIException:
    return APIException(
        cause=f"The response is larger than the allowed {limit} bytes.",
        assistance="Ask for less data at once (a smaller page, a narrower time range or fewer fields).",
        data=detail,
        status_code=400,
    )


class _CappedRaw:
    """Wraps ``response.raw`` and fails once more than ``limit`` body bytes have been read.

    ``Content-Length`` cannot be trusted (absent with chunked or close-delimited bodies, or simply
    wrong), so the cap is enforced on the bytes actually delivered, decoded ones included.
    """

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._seen = 0

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            self._raw.close()
            raise _too_large(self._limit, f"Stopped reading after {self._seen} bytes.")
        return data

    def read(self, amt: int | None = None, *args: Any, **kwargs: Any) -> bytes:
        if amt is not None:
            return self._count(self._raw.read(amt, *args, **kwargs))
        parts = []
        while True:
            chunk = self._count(self._raw.read(_READ_CHUNK, *args, **kwargs))
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def stream(self, amt: int | None = _READ_CHUNK, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._count(chunk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _declared_length(response: Any) -> int | None:
    try:
        value = response.headers.get("content-length")
        return int(value) if isinstance(value, str | bytes | int) else None
    except (AttributeError, TypeError, ValueError):
        return None


def _enforce_size_cap(response: Any, limit: int, stream: bool) -> None:
    """Apply ``max_response_size``: header check first (cheap), then a cap on the bytes read."""
    declared = _declared_length(response)
    if declared is not None and declared > limit:
        raise _too_large(limit, f"The server announced {declared} bytes; at most {limit} are allowed.")
    if not isinstance(response, requests.Response) or response.raw is None:
        return  # a test double: nothing to read
    response.raw = _CappedRaw(response.raw, limit)
    if not stream:
        _ = response.content  # read now, within the cap, so the caller gets a plain response


def make_request(
    _request: requests.Request,
    timeout: float = 60,
    verify: bool | str = True,
    cert: str | tuple[str, str] | None = None,
    stream: bool = False,
    allow_redirects: bool = True,
    exception_custom_configs: dict[int, Exception] = {},  # noqa: B006 - signature plugins call; never mutated
    exception_data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - signature plugins call; never mutated
    max_response_size: int | None = None,
) -> requests.Response:
    """Send ``_request`` through a fresh ``requests.Session`` and turn failures into plugin exceptions.

    Transport errors become ``PluginException`` presets (TIMEOUT, CONNECTION_ERROR, REDIRECT_ERROR,
    UNKNOWN); HTTP error statuses go through :func:`response_handler`. ``max_response_size`` caps the
    body size whatever ``Content-Length`` says. With ``stream=True`` the session stays open until the
    caller closes the response, so the body can still be read.
    """
    session = requests.Session()
    try:
        response = _send_once(
            session,
            _request,
            transport={"timeout": timeout, "verify": verify, "cert": cert, "allow_redirects": allow_redirects},
            stream=stream,
            max_response_size=max_response_size,
        )
        public().response_handler(
            response,
            custom_configs=exception_custom_configs,
            data_location=exception_data_location,
            allowed_status_codes=allowed_status_codes,
        )
    except BaseException:
        session.close()
        raise
    if stream and isinstance(response, requests.Response):
        _close_session_with(response, session)  # the caller still reads the body
    else:
        session.close()
    return response


def _send_once(
    session: requests.Session,
    _request: requests.Request,
    transport: dict[str, Any],
    stream: bool,
    max_response_size: int | None,
) -> requests.Response:
    """Send the request; a capped response is read lazily so the cap applies before the body is in
    memory. Transport failures become plugin exceptions; an ``HTTPError`` raised by a hook passes."""
    try:
        response = session.send(
            session.prepare_request(_request), stream=stream or max_response_size is not None, **transport
        )
        if max_response_size is not None:
            _enforce_size_cap(response, max_response_size, stream)
        return response
    except requests.exceptions.HTTPError:
        raise
    except requests.exceptions.RequestException as error:
        raise _transport_exception(error) from error


def _close_session_with(response: requests.Response, session: requests.Session) -> None:
    close_response = response.close

    def close() -> None:
        try:
            close_response()
        finally:
            session.close()

    response.close = close  # type: ignore[method-assign]
