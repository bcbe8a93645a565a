"""Where trigger events go: nowhere (``Noop``), stdout (``Stdout``) or the orchestrator (``Http``).

The HTTP dispatcher posts with a timeout and checks the status: a refused, timed-out or non-2xx post is
raised to the trigger as :class:`DispatchError` instead of being logged and forgotten, so a trigger
never checkpoints past an event that was not delivered. It uses the standard library only (no
``requests`` import for a one-shot run).
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import ssl

from .exceptions import PluginException

DEFAULT_TIMEOUT_SECONDS = float(os.environ.get("ICON_RUNTIME_DISPATCH_TIMEOUT", "30"))
IDEMPOTENCY_HEADER = "Idempotency-Key"


class DispatchError(PluginException):
    """A trigger event could not be handed to the orchestrator."""


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

        cafile = os.environ.get("SSL_CERT_FILE")
        return ssl.create_default_context(cafile=cafile if cafile and os.path.exists(cafile) else None)

    def write(self, msg: Any, idempotency_key: str | None = None) -> None:
        import urllib.error
        import urllib.request

        url = self.url if "://" in self.url else f"http://{self.url}"
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        request = urllib.request.Request(url, data=json.dumps(msg).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context()) as reply:
                status = reply.status
                reply.read()
        except urllib.error.HTTPError as error:
            raise DispatchError(
                cause=f"The orchestrator refused the trigger event (HTTP {error.code}).",
                assistance="The event was not delivered; the trigger will stop and can be restarted.",
            ) from error
        except (OSError, ValueError) as error:
            raise DispatchError(
                cause="The trigger event could not be delivered to the orchestrator.",
                assistance="Check that the dispatcher URL is reachable; the event was not delivered.",
                data=f"{type(error).__name__}: {error}",
            ) from error
        if not 200 <= status < 300:
            raise DispatchError(
                cause=f"The orchestrator answered the trigger event with HTTP {status}.",
                assistance="The event was not acknowledged; the trigger will stop and can be restarted.",
            )
