"""Loads what sibling distributions plug into core, once per process.

The entry-point scan is done once and cached. A missing optional piece gives a no-op default; a piece
that fails to load is logged and skipped so that a broken extension never stops a plugin from running
(after OpenTelemetry's instrumentation loader). ``ICON_RUNTIME_DISABLED_EXTENSIONS`` (comma-separated
entry-point names, or ``*``) switches extensions off.
"""

from __future__ import annotations

import functools
import logging
import os
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from ._contracts import GROUP_SERVER, GROUP_SERVER_HOOKS, GROUP_STEP_HOOKS, ServeFunction, StepCall, StepHook

log = logging.getLogger("insightconnect_plugin_runtime.extensions")


def _disabled() -> set[str]:
    raw = os.environ.get("ICON_RUNTIME_DISABLED_EXTENSIONS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


@functools.cache
def _entry_points(group: str) -> tuple[Any, ...]:
    from importlib.metadata import entry_points

    return tuple(sorted(entry_points(group=group), key=lambda ep: ep.name))


@functools.cache
def load_group(group: str) -> tuple[tuple[str, Any], ...]:
    """Load every entry point of ``group``; broken ones are logged and skipped."""
    disabled = _disabled()
    loaded: list[tuple[str, Any]] = []
    for ep in _entry_points(group):
        if "*" in disabled or ep.name in disabled:
            continue
        try:
            loaded.append((ep.name, ep.load()))
        except Exception:  # a broken extension must not take the runtime down
            log.warning("Skipping extension %s in %s: it failed to load", ep.name, group, exc_info=True)
    return tuple(loaded)


def load_server() -> ServeFunction | None:
    """The ``http`` server entry point, or ``None`` when icon-runtime-http is not installed."""
    for name, serve in load_group(GROUP_SERVER):
        if name == "http":
            return serve  # type: ignore[no-any-return]
    return None


def step_hooks() -> tuple[StepHook, ...]:
    return tuple(hook for _, hook in load_group(GROUP_STEP_HOOKS))


def server_hooks() -> tuple[Any, ...]:
    return tuple(hook for _, hook in load_group(GROUP_SERVER_HOOKS))


def around_step(call: StepCall) -> AbstractContextManager[Any]:
    """Enter every step hook around one execution; a hook that fails is logged and skipped."""
    stack = ExitStack()
    for hook in step_hooks():
        try:
            stack.enter_context(hook(call))
        except Exception:
            log.warning("Step hook %r failed to start; continuing without it", hook, exc_info=True)
    return stack


def reset_cache() -> None:
    """Forget the scan (tests install and remove extensions)."""
    _entry_points.cache_clear()
    load_group.cache_clear()
