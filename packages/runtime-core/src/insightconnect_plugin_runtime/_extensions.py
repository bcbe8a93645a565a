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
import sys
from contextlib import AbstractContextManager, ExitStack
from typing import Any

from ._contracts import (
    GROUP_CLI_COMMANDS,
    GROUP_SERVER,
    GROUP_SERVER_HOOKS,
    GROUP_STEP_HOOKS,
    ServeFunction,
    StepCall,
    StepHook,
)

log = logging.getLogger("insightconnect_plugin_runtime.extensions")
PREFIX = "insightconnect_plugin_runtime."


def _disabled() -> set[str]:
    from .settings import names

    return set(names("ICON_RUNTIME_DISABLED_EXTENSIONS"))


class _EntryPoint:
    """``name = module:attr`` from an ``entry_points.txt``; ``load`` imports it."""

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def load(self) -> Any:
        import importlib

        module_name, _, attrs = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target


@functools.cache
def _all_runtime_entry_points() -> dict[str, tuple[_EntryPoint, ...]]:
    """Our groups from every installed distribution's ``entry_points.txt``, read once.

    ``importlib.metadata`` would do the same but costs a sixth of a one-shot run to import (it pulls
    in the email parser); the format is simple INI and only our own groups are of interest.
    """
    found: dict[str, dict[str, _EntryPoint]] = {}
    seen_dirs: set[str] = set()
    for entry in sys.path:
        if not isinstance(entry, str) or entry in seen_dirs or not os.path.isdir(entry or "."):
            continue
        seen_dirs.add(entry)
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            group = None
            for line in text.splitlines():
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    group = line[1:-1].strip()
                elif group and group.startswith(PREFIX) and "=" in line and not line.startswith(("#", ";")):
                    ep_name, _, value = line.partition("=")
                    found.setdefault(group, {}).setdefault(ep_name.strip(), _EntryPoint(ep_name.strip(), value))
    return {group: tuple(sorted(eps.values(), key=lambda ep: ep.name)) for group, eps in found.items()}


def _entry_points(group: str) -> tuple[Any, ...]:
    return _all_runtime_entry_points().get(group, ())


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


def cli_commands() -> tuple[tuple[str, Any], ...]:
    """``(name, command)`` for every sub-command a sibling adds to ``bin/<plugin>``."""
    return load_group(GROUP_CLI_COMMANDS)


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
    _all_runtime_entry_points.cache_clear()
    load_group.cache_clear()
