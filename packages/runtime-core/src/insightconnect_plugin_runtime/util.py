"""Small utilities plugins and the runtime share: environment switches, schema samples, retries.

Secret masking lives in ``_masking.py`` and is re-exported here as ``OutputMasker``, the name plugins
and their tests import. Nothing here imports Flask at module level: ``shutdown_signal_guard``
builds its reply lazily so that one-shot runs never load the HTTP stack.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._output_masker import OutputMasker

if TYPE_CHECKING:
    from datetime import timedelta

#: ``parse_from_string``'s default: two days (``datetime`` is imported only when a duration is parsed).
_TWO_DAYS: Any = object()

__all__ = [
    "DEFAULT_NUMBER_OF_ITERATIONS",
    "DEFAULT_REPLACE_THRESHOLD",
    "KEYS_TO_CHECK_SECRETS",
    "OTEL_ENDPOINT",
    "OutputMasker",
    "TrackWork",
    "default_for",
    "default_for_object",
    "enable_work_tracker",
    "flush_logging_handlers",
    "is_running_in_cloud",
    "parse_from_string",
    "retry_on_exception",
    "sample",
    "shutdown_signal_guard",
    "trace",
    "valid_work_type_from_path",
]

KEYS_TO_CHECK_SECRETS = ("secretKey", "password", "key", "token")
DEFAULT_REPLACE_THRESHOLD = 0.8
DEFAULT_NUMBER_OF_ITERATIONS = 50
OTEL_ENDPOINT = "otel_tracing"

_WORK_PATH = re.compile(r"/(actions|tasks)(/|$)")
_DURATION = re.compile(r"(\d+)([smhd])", re.IGNORECASE)
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def is_running_in_cloud() -> bool:
    """True when the orchestrator runs the plugin in Rapid7's cloud (read on every call)."""
    from .settings import running_in_cloud

    return running_in_cloud()


def enable_work_tracker() -> bool:
    """``TRACK_WORK`` decides; by default on for on-prem servers and off in the cloud."""
    from .settings import flag

    return flag("TRACK_WORK", not is_running_in_cloud())


class TrackWork:
    """Thread-safe count of step requests in flight (never below zero)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0

    @property
    def active(self) -> int:
        with self._lock:
            return self._active

    def add_work(self) -> None:
        with self._lock:
            self._active += 1

    def work_finished(self) -> None:
        with self._lock:
            self._active = max(0, self._active - 1)


def flush_logging_handlers(logger: logging.Logger) -> None:
    for handler in logger.handlers:
        handler.flush()


def trace() -> Any:
    """The traceback of the exception being handled, if any."""
    return sys.exc_info()[2]


def valid_work_type_from_path(path: str) -> re.Match[str] | None:
    """Whether a request path runs plugin work (actions or tasks) that shutdown must wait for."""
    return _WORK_PATH.search(path)


def parse_from_string(
    duration: Any, default: timedelta = _TWO_DAYS, unit_map: dict[str, str] | None = None
) -> timedelta:
    """Turn ``"5d"``, ``"12H"``, ``"30m"``, ``"45s"`` into a timedelta; anything else gives ``default``
    (two days unless given)."""
    from datetime import timedelta

    if default is _TWO_DAYS:
        default = timedelta(days=2)
    if not isinstance(duration, str) or not duration:
        return default
    match = _DURATION.match(duration.strip())
    if match is None:
        return default
    units = unit_map or _DURATION_UNITS
    unit = units.get(match.group(2).lower())
    if unit is None:
        return default
    return timedelta(**{unit: int(match.group(1))})


def shutdown_signal_guard(
    shutdown_event: threading.Event,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Flask view decorator: answer 503 (JSON) instead of starting new work once shutdown began."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if shutdown_event.is_set():
                from flask import jsonify

                reply = jsonify({"error": "The plugin is shutting down and accepts no new work."})
                reply.status_code = 503
                return reply
            return view(*args, **kwargs)

        return guarded

    return decorator


def retry_on_exception(retries: int = 3, delay: float = 0.05) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Method decorator: retry a flaky call up to ``retries`` times, then let the last error through.

    Each failure is logged through ``self.logger``; a short growing delay separates attempts, so a
    briefly unavailable resource gets a chance to come back.
    """

    def decorator(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            import time

            for attempt in range(1, retries + 1):
                try:
                    return method(self, *args, **kwargs)
                except Exception as error:
                    logger = getattr(self, "logger", None) or logging.getLogger(__name__)
                    logger.warning(f"{method.__name__} failed ({attempt}/{retries}): {error}")
                    time.sleep(delay * attempt)
            return method(self, *args, **kwargs)

        return wrapper

    return decorator


# --- schema samples ---------------------------------------------------------------------------


def default_for_object(obj: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Defaults for every property of an object schema."""
    return {name: default_for(prop, defs) for name, prop in (obj.get("properties") or {}).items()}


def default_for(prop: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A plausible value for one schema: its default, else one derived from its type."""
    if not isinstance(prop, dict):
        return None
    if "default" in prop:
        return prop["default"]
    ref = prop.get("$ref")
    if ref is not None:
        target = defs.get(ref)
        return default_for(target, defs) if target is not None else {}
    for branch in prop.get("oneOf") or ():
        value = default_for(branch, defs)
        if value is not None:
            return value
    if prop.get("enum"):
        return prop["enum"][0]
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return {
        "array": lambda: [],
        "object": lambda: default_for_object(prop, defs),
        "string": lambda: "",
        "boolean": lambda: False,
        "integer": lambda: 0,
        "number": lambda: 0,
    }.get(kind, lambda: None)()


def sample(source: dict[str, Any] | None) -> dict[str, Any]:
    """An example value for a step's input/output schema, for ``bin/<plugin> sample``."""
    if not source or not source.get("properties"):
        return {}
    defs = {f"#/definitions/{name}": schema for name, schema in (source.get("definitions") or {}).items()}
    return default_for_object(source, defs)


def mask_secrets_in_flight(text: str) -> str:
    """``text`` with every secret of every step execution in flight in this process masked.

    The process-wide masking authority that core's logging uses; sibling distributions (tracing)
    apply it to whatever they export. Identity when no execution holds a secret.
    """
    from ._in_flight import IN_FLIGHT

    return IN_FLIGHT.mask_text(text)
