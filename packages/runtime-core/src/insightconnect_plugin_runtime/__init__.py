"""The ``insightconnect_plugin_runtime`` import package, shared by every icon-runtime distribution.

Plugins written for the InsightConnect runtime import this one package. Its modules come from several
separately released distributions:

=====================  ==========================================================
distribution           modules it contributes
=====================  ==========================================================
icon-runtime-core      this ``__init__``, the plugin model, ``cli``, ``exceptions``,
                       ``util``, ``dispatcher``, ``metrics``, ``schema`` ...
icon-runtime-helpers   ``helper``, ``clients.oauth``
icon-runtime-http      ``server``, ``api.*``
icon-runtime-aws       ``clients.aws_client``
icon-runtime-tracing   ``telemetry``
=====================  ==========================================================

Only this distribution ships an ``__init__.py`` at this level. ``extend_path`` below stitches the
siblings' directories into ``__path__`` so that editable installs (one ``src`` per member) behave like
the merged wheel install. The public names resolve lazily (PEP 562) so that a bare import stays cheap:
a one-shot ``run`` must not pay for Flask, gunicorn, boto3, requests or OpenTelemetry.
"""

import os as _os
import sys


def _extend_path(path: list[str], name: str) -> list[str]:
    """``pkgutil.extend_path`` for plain directories, without importing pkgutil (a sixth of our import time).

    Every ``sys.path`` entry holding a ``<name>/`` directory contributes it: that is how the sibling
    distributions' editable ``src`` trees join this package.
    """
    portions = list(path)
    for entry in sys.path:
        if isinstance(entry, str):
            candidate = _os.path.join(entry, name)
            if candidate not in portions and _os.path.isdir(candidate):
                portions.append(candidate)
    return portions


__path__ = _extend_path(__path__, __name__)

import importlib  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

from ._certifi import install_certifi_patch  # noqa: E402
from ._components import SIBLING_MODULES, install_missing_module_finder  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover - for IDEs and type checkers only
    from .action import Action
    from .cli import CLI
    from .connection import Connection
    from .plugin import Plugin
    from .task import Task
    from .trigger import Trigger
    from .variables import Input, Output, State

#: Public class names and the core module each one lives in.
_LAZY_NAMES: dict[str, str] = {
    "Plugin": "plugin",
    "Action": "action",
    "Trigger": "trigger",
    "Task": "task",
    "Connection": "connection",
    "Input": "variables",
    "Output": "variables",
    "State": "variables",
    "CLI": "cli",
}

#: Core modules reachable as attributes after a bare ``import insightconnect_plugin_runtime``.
_CORE_MODULES = frozenset(
    {
        "action",
        "cli",
        "connection",
        "constants",
        "dispatcher",
        "exceptions",
        "metrics",
        "plugin",
        "schema",
        "step",
        "task",
        "trigger",
        "util",
        "variables",
        "clients",
        "api",
    }
)

__all__ = ["Action", "CLI", "Connection", "Input", "Output", "Plugin", "State", "Task", "Trigger"]


def __getattr__(name: str) -> Any:
    """Resolve public names and submodules on first use instead of at import time."""
    module_name = _LAZY_NAMES.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(f".{module_name}", __name__), name)
        globals()[name] = value
        return value
    if name in _CORE_MODULES or name in SIBLING_MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_NAMES) | _CORE_MODULES | set(SIBLING_MODULES))


install_certifi_patch()
install_missing_module_finder(sys.meta_path)
