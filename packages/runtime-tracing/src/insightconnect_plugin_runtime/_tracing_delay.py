"""``monitor_task_delay``: warn when a task's saved cursor falls too far behind the present.

A task that pages through an upstream API stores a timestamp in its state; if that timestamp is
older than a threshold the integration is not keeping up, which the cloud alerts on through an
error log line. The check runs after the task returned and must never change what the task returned
nor raise into it: every failure here becomes a log line.

* ``custom_config`` is read from the keyword *or* the third positional argument, because the
  runtime calls ``run(params, state, custom_config)`` positionally: reading only the keyword would
  never see the per-org ``task_delay_threshold`` override.
* ``datetime`` values in the state are accepted as they are, and one unreadable key is logged and
  skipped, so the other keys are still checked.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

THRESHOLD_KEY = "task_delay_threshold"
DEFAULT_THRESHOLD = timedelta(days=2)

_BEHIND_MESSAGE = "Task is falling behind: its saved position is older than the allowed delay"
_UNREADABLE_MESSAGE = "Task delay check could not read a timestamp from the task state"
_FAILED_MESSAGE = "Task delay check failed; the task result is returned unchanged"

_DURATION = re.compile(r"(\d+)([smhd])", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

_fallback_log = logging.getLogger("insightconnect_plugin_runtime.telemetry")


def monitor_task_delay(
    timestamp_keys: str | list[str], default_delay_threshold: str = "2d"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a task's ``run`` to log an error when a state timestamp is older than the threshold."""
    keys = [timestamp_keys] if isinstance(timestamp_keys, str) else list(timestamp_keys)

    def decorate(run: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(run)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = run(self, *args, **kwargs)
            try:
                threshold = _configured_threshold(args, kwargs, default_delay_threshold)
                _check(self, result, keys, threshold)
            except Exception as exc:
                _log_error(self, _FAILED_MESSAGE, error=repr(exc))
            return result

        return wrapper

    return decorate


def parse_threshold(value: Any) -> timedelta:
    """Core's ``util.parse_from_string`` when present, else the same rule implemented here."""
    try:
        from .util import parse_from_string  # type: ignore[attr-defined]
    except Exception:  # core's util not there (yet) or without the function
        return _parse_duration(value)
    return parse_from_string(value)


def _parse_duration(value: Any) -> timedelta:
    """``(\\d+)([smhd])`` matched at the start, any case (``"5days"``, ``"12H"``); else 2 days."""
    if not isinstance(value, str) or not value:
        return DEFAULT_THRESHOLD
    match = _DURATION.match(value)
    if match is None:
        return DEFAULT_THRESHOLD
    return timedelta(**{_UNITS[match.group(2).lower()]: int(match.group(1))})


def to_utc(value: Any) -> datetime:
    """Read epoch seconds, epoch milliseconds, a date string or a datetime as an aware UTC datetime.

    Numbers (and numeric strings) are seconds unless that is out of the datetime range, in which
    case they are milliseconds. Naive datetimes and strings without an offset are local time.
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not a timestamp")
    if isinstance(value, datetime):
        moment = value
    else:
        moment = _from_epoch(value) if _is_number(value) else _from_text(value)
    return moment.astimezone(UTC)  # naive -> interpreted as local time


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _from_epoch(value: Any) -> datetime:
    number = float(value)
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.fromtimestamp(number / 1000, tz=UTC)


def _from_text(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"cannot read a timestamp from {type(value).__name__}")
    from dateutil import parser  # only tasks that use the decorator pay for dateutil

    return parser.parse(value)


def _configured_threshold(args: tuple[Any, ...], kwargs: Mapping[str, Any], default: str) -> Any:
    custom_config = kwargs.get("custom_config")
    if custom_config is None and len(args) >= 3:
        custom_config = args[2]
    if isinstance(custom_config, Mapping) and custom_config.get(THRESHOLD_KEY):
        return custom_config[THRESHOLD_KEY]
    return default


def _check(step: Any, result: Any, keys: list[str], threshold: Any) -> None:
    _output, state, has_more_pages, _status_code, _error = result
    if not isinstance(state, Mapping):
        return
    now = datetime.now(UTC)
    limit = now - parse_threshold(threshold)
    for key in keys:
        value = state.get(key)
        if not value:
            continue
        try:
            moment = to_utc(value)
        except Exception as exc:
            _log_error(step, _UNREADABLE_MESSAGE, field=key, current_value=value, error=repr(exc))
            continue
        if moment < limit:
            _log_error(
                step,
                _BEHIND_MESSAGE,
                field=key,
                current_value=value,
                normalized_time=moment.isoformat(),
                threshold_time=limit.isoformat(),
                configured_threshold=threshold,
                has_more_pages=has_more_pages,
            )
            return


def _log_error(step: Any, message: str, **fields: Any) -> None:
    """structlog loggers take the fields as keywords; a plain stdlib logger gets them in the text."""
    logger = getattr(step, "logger", None) or _fallback_log
    try:
        if isinstance(logger, logging.Logger | logging.LoggerAdapter):
            raise TypeError("stdlib logger")
        logger.error(message, **fields)
    except TypeError:
        try:
            rendered = " ".join(f"{key}={value!r}" for key, value in fields.items())
            logger.error("%s: %s", message, rendered)
        except Exception:
            _fallback_log.error("%s: %r", message, fields)
    except Exception:
        _fallback_log.error("%s: %r", message, fields)
