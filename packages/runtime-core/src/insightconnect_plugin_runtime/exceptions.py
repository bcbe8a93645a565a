"""Exceptions plugins raise and the runtime reports.

Hierarchy::

    Exception
    ├── ClientException            the caller sent something wrong            -> HTTP 400
    │   └── MessageError           the message itself is malformed (CLI exit 2)
    │       └── UnknownStepError   no such action/trigger/task                -> HTTP 404
    ├── ServerException            something failed on the far side           -> HTTP 500
    │   └── StepOutputError        the step returned output its schema rejects
    ├── LoggedException            carries the error envelope of a failed step
    ├── KeyError
    │   └── UnknownPresetError     ``preset=`` names no preset
    └── ConnectionTestException    structured failure: cause / assistance / data -> HTTP 400
        └── PluginException        same, reported as a plugin failure
            └── APIException       same, plus the upstream ``status_code``

``ConnectionTestException(preset=...)`` takes its cause and assistance from the ``causes`` and
``assistances`` tables; plugins' own tests compare against those tables, so the wording is ours.
"""

from __future__ import annotations

from enum import StrEnum, auto
from http import HTTPStatus
from typing import Any


class ResponseExceptionData:
    """Where the helpers take an exception's ``data`` from when a request fails: the response's
    text, its parsed JSON, the response object itself, or the exception's own message."""

    RESPONSE_TEXT, RESPONSE_JSON, RESPONSE, EXCEPTION = ("response_text", "response_json", "response", "exception")


class HTTPStatusCodes:
    """HTTP error status codes by name (4xx and 5xx), for plugins that build their own status maps.

    Filled from :class:`http.HTTPStatus`, plus the spellings plugins know from the InsightConnect
    runtime where the standard library names a code differently.
    """


_STATUS_ALIASES = {
    413: "PAYLOAD_TOO_LARGE",
    414: "URI_TOO_LONG",
    416: "RANGE_NOT_SATISFIABLE",
    418: "I_AM_A_TEAPOT",
    422: "UNPROCESSABLE_ENTITY",
}
for _status in HTTPStatus:
    if _status.value >= 400:
        setattr(HTTPStatusCodes, _status.name, _status.value)
for _code, _alias in _STATUS_ALIASES.items():
    setattr(HTTPStatusCodes, _alias, _code)
del _status, _code, _alias


class ClientException(Exception):
    """The message or input sent to the plugin is wrong; the caller must fix it (HTTP 400)."""


class MessageError(ClientException):
    """The message is not a valid v1 message (bad JSON shape, version, type or missing fields).

    icon-runtime addition: lets the CLI exit with 2 (usage error) rather than 1 (step failed).
    """


class UnknownStepError(MessageError):
    """The message names an action, trigger or task the plugin does not have (HTTP 404)."""


class ServerException(Exception):
    """A server the plugin depends on failed (HTTP 500)."""


class StepOutputError(ServerException):
    """The step returned something its own output schema rejects: a plugin bug (HTTP 500)."""


class LoggedException(Exception):
    """A step failed; ``output`` is the error envelope already built for the reply."""

    def __init__(self, ex: BaseException, output: dict[str, Any]) -> None:
        super().__init__(ex)
        self.ex = ex
        self.output = output

    def __str__(self) -> str:
        return str(self.ex)


class _Preset(StrEnum):
    """Names of the ready-made causes and assistances.

    Members are strings equal to their lower-cased names (``Preset.NOT_FOUND == "not_found"``), so
    plugins may pass either the member or the plain string, and both index the tables below.
    """

    API_KEY = auto()
    UNAUTHORIZED = auto()
    RATE_LIMIT = auto()
    USERNAME_PASSWORD = auto()
    NOT_FOUND = auto()
    SERVER_ERROR = auto()
    SERVICE_UNAVAILABLE = auto()
    INVALID_JSON = auto()
    UNKNOWN = auto()
    BASE64_ENCODE = auto()
    BASE64_DECODE = auto()
    TIMEOUT = auto()
    BAD_REQUEST = auto()
    INVALID_CREDENTIALS = auto()
    METHOD_NOT_ALLOWED = auto()
    CONFLICT = auto()
    CONNECTION_ERROR = auto()
    REDIRECT_ERROR = auto()


_CAUSES: dict[str, str] = {
    _Preset.API_KEY: "The service rejected the API key.",
    _Preset.UNAUTHORIZED: "The account is not permitted to use this part of the service.",
    _Preset.RATE_LIMIT: "The service is limiting the rate of requests from this account.",
    _Preset.USERNAME_PASSWORD: "The service rejected the username or the password.",
    _Preset.NOT_FOUND: "The requested resource or endpoint could not be found.",
    _Preset.SERVER_ERROR: "The service reported an internal error.",
    _Preset.SERVICE_UNAVAILABLE: "The service is not available right now.",
    _Preset.INVALID_JSON: "The service answered with something that is not valid JSON.",
    _Preset.UNKNOWN: "An unexpected problem stopped the plugin.",
    _Preset.BASE64_ENCODE: "The data could not be base64-encoded.",
    _Preset.BASE64_DECODE: "The data could not be base64-decoded.",
    _Preset.TIMEOUT: "The request to the service took too long and was abandoned.",
    _Preset.BAD_REQUEST: "The service could not accept the request as it was sent.",
    _Preset.INVALID_CREDENTIALS: "The service did not accept the credentials.",
    _Preset.METHOD_NOT_ALLOWED: "The service does not accept this HTTP method for the resource.",
    _Preset.CONFLICT: "The request conflicts with the current state of the resource.",
    _Preset.CONNECTION_ERROR: "The plugin could not open a connection to the service.",
    _Preset.REDIRECT_ERROR: "The service redirected the request too many times.",
}

_ASSISTANCES: dict[str, str] = {
    _Preset.API_KEY: "Check the API key in the plugin connection and try again.",
    _Preset.UNAUTHORIZED: "Ask the service administrator to grant the account the needed permissions.",
    _Preset.RATE_LIMIT: "Wait a while and retry, or run the workflow less often.",
    _Preset.USERNAME_PASSWORD: "Check the username and password in the plugin connection.",
    _Preset.NOT_FOUND: "Check the URL and identifiers in the connection and the step input.",
    _Preset.SERVER_ERROR: "Check the connection and the input; if it keeps happening, contact the vendor.",
    _Preset.SERVICE_UNAVAILABLE: "Retry later; the service may be down for maintenance.",
    _Preset.INVALID_JSON: "The service sent a non-JSON or empty body; check its status and the request.",
    _Preset.UNKNOWN: "Look at the step log for details; if it keeps happening, contact support.",
    _Preset.BASE64_ENCODE: "This usually means the plugin passed the wrong data; contact the plugin author.",
    _Preset.BASE64_DECODE: "Check the input is valid base64 (length and padding).",
    _Preset.TIMEOUT: "Check network access to the service and that it is responding, then retry.",
    _Preset.BAD_REQUEST: "Check the step input against what the service expects.",
    _Preset.INVALID_CREDENTIALS: "Check the credentials in the plugin connection and try again.",
    _Preset.METHOD_NOT_ALLOWED: "Use an HTTP method the service supports for this resource.",
    _Preset.CONFLICT: "Check the resource's current state before repeating the request.",
    _Preset.CONNECTION_ERROR: "Check the service address and the network path to it.",
    _Preset.REDIRECT_ERROR: "Check the URL; the service may be redirecting in a loop.",
}


class UnknownPresetError(KeyError):
    """A preset name that is not in the tables; a ``KeyError`` as plugins expect, with a readable message.

    ``KeyError`` renders its argument with ``repr``, which would quote the whole sentence; this one
    prints the sentence as it is and names the presets that exist.
    """

    def __init__(self, preset: Any, known: list[str] | tuple[str, ...] = ()) -> None:
        super().__init__(preset)
        self.preset = preset
        self.known = list(known or sorted(_CAUSES))

    def __str__(self) -> str:
        return f"Unknown exception preset {self.preset!r}; the presets are: {', '.join(self.known)}."


class ConnectionTestException(Exception):
    """A failure with a cause, an assistance and optional data, shown to the workflow user.

    Args:
        cause: what went wrong; ignored when ``preset`` is given.
        assistance: what the user can do about it; ignored when ``preset`` is given.
        data: extra detail (usually the upstream response); rendered with ``str``.
        preset: one of :class:`ConnectionTestException.Preset`, which replaces ``cause`` and
            ``assistance``; a false-y value (``None``, ``""``) means no preset. An unknown name raises
            :class:`UnknownPresetError` (a ``KeyError``).
    """

    Preset = _Preset
    causes: dict[str, str] = _CAUSES
    assistances: dict[str, str] = _ASSISTANCES

    #: Prefix of ``str(exc)``; subclasses say whose failure it is.
    _summary = "Connection test failed!"
    _data_label = "Response was:"

    def __init__(
        self,
        cause: str | None = None,
        assistance: str | None = None,
        data: Any = None,
        preset: str | None = None,
    ) -> None:
        if preset:  # "", None, 0 ...: no preset, the plugin's own cause and assistance stand
            try:
                cause = self.causes[preset]
                assistance = self.assistances[preset]
            except KeyError:
                raise UnknownPresetError(preset, sorted(self.causes)) from None
        self.cause: str = cause or ""
        self.assistance: str = assistance or ""
        self.data: Any = str(data) if data else ""
        self.preset = preset
        super().__init__(self.cause, self.assistance, self.data)

    def __str__(self) -> str:
        parts = [self._summary, self.cause, self.assistance]
        if self.data:
            parts += [self._data_label, str(self.data)]
        return " ".join(" ".join(part for part in parts if part).splitlines())


class PluginException(ConnectionTestException):
    """The plugin could not do its work; the user sees the cause and assistance."""

    _summary = "The plugin step failed."
    _data_label = "Response was"


class APIException(PluginException):
    """A :class:`PluginException` that also records the upstream HTTP ``status_code``."""

    def __init__(
        self,
        cause: str | None = None,
        assistance: str | None = None,
        data: Any = None,
        preset: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(cause=cause, assistance=assistance, data=data, preset=preset)
        self.status_code = status_code
