"""Where trigger events go: nowhere (``Noop``), stdout (``Stdout``) or the orchestrator (``Http``).

The HTTP dispatcher posts with a timeout and checks the status: a refused, timed-out or non-2xx post is
raised to the trigger as :class:`DispatchError` instead of being logged and forgotten, so a trigger
never checkpoints past an event that was not delivered. Redirects are never followed: a POST
redirected (and turned into a GET without body by the 301/302/303 rules) would be acknowledged by
whatever answers the new address although the event never arrived, so a 3xx is a failure naming
its ``Location``. The error says whether the rejection is permanent (a 4xx other than 408, 409, 425
and 429: sending the same event again cannot succeed) and carries ``Retry-After``. It uses the
standard library only (no ``requests`` import for a one-shot run).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import ssl

from . import settings
from .exceptions import PluginException

DEFAULT_TIMEOUT_SECONDS = float(settings.number("ICON_RUNTIME_DISPATCH_TIMEOUT", 30.0, positive=True))
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: 4xx answers that say "not now" rather than "never": timeout, conflict, too early, too many requests.
TRANSIENT_CLIENT_ERRORS = frozenset({408, 409, 425, 429})
REASON_EXCERPT = 200


def is_permanent_rejection(status: int | None) -> bool:
    """True for an answer after which the same event can never be accepted (a 4xx, bar the transient ones)."""
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_CLIENT_ERRORS


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date); None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    import time

    return max(0.0, when.timestamp() - time.time())


class DispatchError(PluginException):
    """A trigger event could not be handed to the orchestrator.

    ``status`` is the HTTP status when the orchestrator answered, ``retry_after`` the seconds its
    ``Retry-After`` asked for, ``location`` the target of a redirect; ``permanent`` is True when the
    orchestrator refused this event for good.
    """

    def __init__(
        self,
        *args: Any,
        status: int | None = None,
        retry_after: float | None = None,
        location: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.status = status
        self.retry_after = retry_after
        self.location = location

    @property
    def permanent(self) -> bool:
        return is_permanent_rejection(self.status)


def _refuse_redirects() -> Any:
    """A urllib redirect handler that follows nothing: the 3xx reaches ``write`` as an ``HTTPError``."""
    import urllib.request

    class RefuseRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return RefuseRedirects()


class Noop:
    """Keeps the last event; useful in tests."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = config or {}
        self.webhook_url = self.config.get("webhook_url", "")
        self.msg: Any = None

    def write(self, msg: Any, idempotency_key: str | None = None) -> None:
        self.msg = msg


class Stdout:
    """Writes each event as one JSON line (debug mode)."""

    def __init__(self, config: dict[str, Any] | None = None, stream: TextIO | None = None) -> None:
        config = config or {}
        self.stream = stream
        self.webhook_url = config.get("webhook_url", "")
        self.custom_encoder = config.get("custom_encoder")
        self.custom_decoder = config.get("custom_decoder")

    def write(self, msg: Any, idempotency_key: str | None = None) -> None:
        stream = self.stream or sys.stdout
        stream.write(json.dumps(msg, cls=self.custom_encoder) + "\n")
        stream.flush()


class Http:
    """Posts each event as JSON to ``config["url"]`` and insists on a 2xx answer."""

    def __init__(self, config: dict[str, Any] | None = None, timeout: float | None = None) -> None:
        if not config or not config.get("url"):
            raise ValueError("The HTTP dispatcher needs a configuration with a 'url'.")
        self.url: str = config["url"]
        self.webhook_url: str = config.get("webhook_url", "")
        self.timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout

    def _context(self) -> ssl.SSLContext | None:
        if not self.url.lower().startswith("https"):
            return None
        import ssl

        cafile = settings.text("SSL_CERT_FILE")
        return ssl.create_default_context(cafile=cafile if cafile and os.path.exists(cafile) else None)

    def write(self, msg: Any, idempotency_key: str | None = None) -> None:
        import urllib.error
        import urllib.request

        url = self.url if "://" in self.url else f"http://{self.url}"
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        opener = urllib.request.build_opener(_refuse_redirects(), urllib.request.HTTPSHandler(context=self._context()))
        try:
            request = urllib.request.Request(url, data=json.dumps(msg).encode(), headers=headers, method="POST")
            # urllib's opener answers only 2xx; every other status arrives as HTTPError, 3xx included
            # (the redirect handler above refuses to follow).
            with opener.open(request, timeout=self.timeout) as reply:
                reply.read()
        except urllib.error.HTTPError as error:
            raise _answer_error(error) from error
        except (OSError, ValueError) as error:
            raise DispatchError(
                cause="The trigger event could not be delivered to the orchestrator.",
                assistance="Check that the dispatcher URL is reachable; the event was not delivered.",
                data=f"{type(error).__name__}: {error}",
            ) from error


def _answer_error(error: Any) -> DispatchError:
    """The ``DispatchError`` for a non-2xx answer (urllib's ``HTTPError``): redirect, rejection or failure."""
    status = int(error.code)
    headers = error.headers
    if 300 <= status < 400:
        location = headers.get("Location") if headers is not None else None
        target = location or "no Location"
        return DispatchError(
            cause=f"The orchestrator redirected the trigger event (HTTP {status}) to {target}.",
            assistance="Redirects are never followed, so the event was not delivered: set the dispatcher URL "
            "to the address the orchestrator redirects to.",
            status=status,
            location=location,
        )
    try:
        excerpt = error.read(REASON_EXCERPT).decode("utf-8", "replace")
    except Exception:  # noqa: BLE001 - the body is only a hint
        excerpt = ""
    permanent = is_permanent_rejection(status)
    verb = "rejected" if permanent else "refused"
    return DispatchError(
        cause=f"The orchestrator {verb} the trigger event (HTTP {status} {error.reason}).",
        assistance="The orchestrator will not accept this event as it is."
        if permanent
        else "The event was not delivered; it is sent again.",
        data=" ".join(excerpt.split()),
        status=status,
        retry_after=parse_retry_after(headers.get("Retry-After") if headers is not None else None),
    )
