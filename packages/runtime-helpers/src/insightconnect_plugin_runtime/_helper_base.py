"""What the private parts of ``helper`` share: the logger, :class:`HelperError` and the way back.

``helper`` is the module plugins import and their tests patch (``helper.exec_command``,
``helper.open_url``, ``helper.open_cachefile``, ``helper.CACHE_DIR`` ...). A part that calls a function
of another part, or reads one of the public settings, goes through :func:`public` at call time, so a
patch applied to ``helper`` is seen by every caller.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

PUBLIC_MODULE = "insightconnect_plugin_runtime.helper"

#: One logger for every part, named after the public module: log filters and tests select it by name.
logger = logging.getLogger(PUBLIC_MODULE)

F = TypeVar("F", bound=Callable[..., Any])


class HelperError(Exception):
    """A legacy helper failed (file, process or URL); the message says which one and why."""


# Tracebacks and pickles name the module plugins import, which re-exports the class.
HelperError.__module__ = PUBLIC_MODULE


def public() -> ModuleType:
    """The public ``helper`` module, where patched names and settings are looked up at call time."""
    module = sys.modules.get(PUBLIC_MODULE)
    return module if module is not None else importlib.import_module(PUBLIC_MODULE)
