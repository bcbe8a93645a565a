"""How sibling distributions plug into core: entry-point contracts, and the extensions installed.

The groups and their contracts are described in docs/extension-points.md. A transport (the HTTP
server) uses :func:`server_hooks` to run the server hooks and :func:`installed_distributions` to say
what it runs on. Public API of icon-runtime-core, following semver.
"""

from __future__ import annotations

from typing import Any

from . import _extensions
from ._components import RUNTIME_DISTRIBUTIONS, installed_distributions
from ._contracts import (
    GROUP_CLI_COMMANDS,
    GROUP_SERVER,
    GROUP_SERVER_HOOKS,
    GROUP_STEP_HOOKS,
    ServeFunction,
    ServerOptions,
    StepCall,
    StepHook,
)

__all__ = [
    "GROUP_CLI_COMMANDS",
    "GROUP_SERVER",
    "GROUP_SERVER_HOOKS",
    "GROUP_STEP_HOOKS",
    "RUNTIME_DISTRIBUTIONS",
    "ServeFunction",
    "ServerOptions",
    "StepCall",
    "StepHook",
    "cli_commands",
    "installed_distributions",
    "load_server",
    "server_hooks",
    "step_hooks",
]


# Looked up in ``_extensions`` at call time: its cache (and a test's patch of it) is the one truth.


def server_hooks() -> tuple[Any, ...]:
    """Objects of the ``server_hooks`` group, loaded once (a broken one is logged and skipped)."""
    return _extensions.server_hooks()


def step_hooks() -> tuple[StepHook, ...]:
    """Callables of the ``step_hooks`` group, loaded once."""
    return _extensions.step_hooks()


def cli_commands() -> tuple[tuple[str, Any], ...]:
    """``(verb, command)`` pairs of the ``cli_commands`` group, loaded once."""
    return _extensions.cli_commands()


def load_server() -> ServeFunction | None:
    """The ``serve`` function of the ``server`` group, or None when no server is installed."""
    return _extensions.load_server()
