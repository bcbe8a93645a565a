"""From an HTTP answer or a ``requests`` failure to the plugin exception a workflow user should see,
and retrying while a service says it is rate limiting.

Plugins' tests hand duck-typed fake responses to ``response_handler`` and ``extract_json``; these
functions only touch ``status_code``, ``text``, ``json()``, ``headers`` and ``raise_for_status``.
"""

from __future__ import annotations

import copy
import email.utils
import functools
import time
from collections.abc import Callable
from typing import Any

import requests

from insightconnect_plugin_runtime.exceptions import (
    APIException,
    PluginException,
    ResponseExceptionData,
)

from ._helper_base import F, logger, public
from ._helper_urls import _url_for_log

#: HTTP status -> preset of the :class:`APIException` raised for it; other errors are UNKNOWN.
_STATUS_PRESETS: dict[int, str] = {
    400: PluginException.Preset.BAD_REQUEST,
    401: PluginException.Preset.INVALID_CREDENTIALS,
    403: PluginException.Preset.UNAUTHORIZED,
    404: PluginException.Preset.NOT_FOUND,
    405: PluginException.Preset.METHOD_NOT_ALLOWED,
    408: PluginException.Preset.TIMEOUT,
    409: PluginException.Preset.CONFLICT,
    429: PluginException.Preset.RATE_LIMIT,
    500: PluginException.Preset.SERVER_ERROR,
    503: PluginException.Preset.SERVICE_UNAVAILABLE,
}


def _transport_exception(error: requests.exceptions.RequestException) -> PluginException:
    """Map a requests transport error to a preset; Timeout first, as ConnectTimeout is both."""
    if isinstance(error, requests.exceptions.Timeout):
        preset = PluginException.Preset.TIMEOUT
    elif isinstance(error, requests.exceptions.ConnectionError):
        preset = PluginException.Preset.CONNECTION_ERROR
    elif isinstance(error, requests.exceptions.TooManyRedirects):
        preset = PluginException.Preset.REDIRECT_ERROR
    else:
        preset = PluginException.Preset.UNKNOWN
    return PluginException(preset=preset, data=str(error))


def _return_response_data(response: Any, exception: Exception, data_location: str | None = None) -> Any:
    """The ``data`` to attach to an exception, taken from where ``data_location`` says."""
    if data_location == ResponseExceptionData.EXCEPTION:
        return str(exception)
    if data_location == ResponseExceptionData.RESPONSE:
        return response
    if data_location == ResponseExceptionData.RESPONSE_TEXT:
        return response.text
    if data_location == ResponseExceptionData.RESPONSE_JSON:
        try:
            return response.json()
        except ValueError:
            return exception
    return None


def _retry_after_seconds(response: Any) -> float | None:
    """Seconds to wait according to ``Retry-After`` (delta-seconds or HTTP-date); None if absent."""
    try:
        value = response.headers.get("Retry-After")
    except AttributeError:
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _status_error(response: Any) -> Exception | None:
    """The error for a 4xx/5xx response, or None.

    ``raise_for_status`` is preferred because plugins' mocks configure it;
    fakes without it are judged by ``status_code``.
    """
    raise_for_status = getattr(response, "raise_for_status", None)
    if callable(raise_for_status):
        try:
            raise_for_status()
        except requests.exceptions.HTTPError as error:
            return error
        return None
    status = int(response.status_code)
    if 400 <= status < 600:
        return requests.exceptions.HTTPError(f"HTTP {status} from {getattr(response, 'url', '?')}")
    return None


def _with_data(template: Exception, data: Any) -> Exception:
    """A copy of a caller's pre-built exception carrying ``data``; the caller's object is untouched."""
    try:
        exception = copy.copy(template)
    except Exception:  # an exception class copy cannot rebuild: raise the caller's own object
        exception = template
    if data is not None:
        exception.data = data  # type: ignore[attr-defined]
    return exception


def response_handler(
    response: requests.Response,
    custom_configs: dict[int, Exception] = {},  # noqa: B006 - signature plugins call; never mutated
    data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - signature plugins call; never mutated
) -> None:
    """Raise the matching plugin exception for a 4xx/5xx ``response``; return None otherwise.

    Priority: a status listed in ``allowed_status_codes`` passes; a pre-built exception in
    ``custom_configs`` is raised (as a copy with ``data`` set); a mapped status raises an
    :class:`APIException` with that preset and ``status_code``; anything else is UNKNOWN. A
    ``retry_after`` attribute (seconds or None) is set on the exception for :func:`rate_limiting`.
    """
    error = _status_error(response)
    if error is None:
        return None
    status = int(response.status_code)
    data = _return_response_data(response, error, data_location)
    if status in allowed_status_codes:
        return None
    logger.info("HTTP request to %s failed with status %s", _url_for_log(getattr(response, "url", "?")), status)
    exception: Exception
    if status in custom_configs:
        exception = _with_data(custom_configs[status], data)
    elif status in _STATUS_PRESETS:
        exception = APIException(preset=_STATUS_PRESETS[status], status_code=status)
        exception.data = data
    else:
        exception = PluginException(preset=PluginException.Preset.UNKNOWN, data=data)
    try:
        exception.retry_after = _retry_after_seconds(response)  # type: ignore[attr-defined]
    except AttributeError:
        pass  # exceptions with __slots__ cannot take the hint
    raise exception


def extract_json(response: requests.Response) -> dict[str, Any]:
    """The JSON body of ``response``; an INVALID_JSON ``PluginException`` when it is not JSON."""
    try:
        return response.json()
    except ValueError as error:
        raise PluginException(preset=PluginException.Preset.INVALID_JSON, data=str(error))


def request_error_handling(
    custom_configs: dict[int, Exception] = {},  # noqa: B006 - signature plugins call; never mutated
    exception_data_location: str | None = None,
    allowed_status_codes: list[int] = [],  # noqa: B006 - signature plugins call; never mutated
) -> Callable[[F], F]:
    """Decorator for API-client methods that call ``requests`` themselves.

    Transport errors become plugin exceptions as in :func:`make_request`; an ``HTTPError`` raised by
    the method (via ``raise_for_status``) goes through :func:`response_handler`, and the method
    returns None when the status is allowed.
    """

    def decorator(function: F) -> F:
        @functools.wraps(function)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return function(self, *args, **kwargs)
            except requests.exceptions.HTTPError as error:
                response_handler(
                    error.response,
                    custom_configs=custom_configs,
                    data_location=exception_data_location,
                    allowed_status_codes=allowed_status_codes,
                )
                return None
            except requests.exceptions.RequestException as error:
                raise _transport_exception(error) from error

        return wrapper  # type: ignore[return-value]

    return decorator


def backoff_function(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt``: grows geometrically (about x1.5 per try)."""
    return 2 ** (attempt * 0.6)


def _is_rate_limited(error: PluginException) -> bool:
    return error.preset == PluginException.Preset.RATE_LIMIT or error.cause == PluginException.causes.get(
        PluginException.Preset.RATE_LIMIT
    )


def rate_limiting(max_tries: int, back_off_function: Callable[[int], float] = backoff_function) -> Callable[[F], F]:
    """Retry a call while it fails with the RATE_LIMIT preset, calling it at most ``max_tries`` times.

    The wait before retry ``n`` is the server's ``Retry-After`` when the exception carries one (see
    :func:`response_handler`), else ``back_off_function(n)``; either is capped at
    ``helper.RATE_LIMIT_MAX_WAIT_SECONDS``. Any other exception propagates at once, without a retry.
    """
    tries = max(1, int(max_tries))

    def decorator(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, tries + 1):
                try:
                    return function(*args, **kwargs)
                except PluginException as error:
                    if not _is_rate_limited(error) or attempt == tries:
                        raise
                    hinted = getattr(error, "retry_after", None)
                    wait = back_off_function(attempt) if hinted is None else hinted
                    wait = min(max(float(wait), 0.0), public().RATE_LIMIT_MAX_WAIT_SECONDS)
                    logger.info("Rate limited (attempt %d of %d); retrying in %.2f s", attempt, tries, wait)
                    time.sleep(wait)
            raise AssertionError("unreachable")  # pragma: no cover

        return wrapper  # type: ignore[return-value]

    return decorator
