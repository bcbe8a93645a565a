"""The step hook of failure bundles, which loads :mod:`._failure_bundle` only once they are on.

Core loads every step hook at a process's first step. The bundle writer and its HTTP recorder import
``http.client``, ``secrets`` and more (about 5 ms): a server without ``ICON_RUNTIME_FAILURE_BUNDLE_DIR``
would spend that before its first answer for nothing, so the entry point names this module instead.
"""

from __future__ import annotations

import contextlib
from typing import Any

from insightconnect_plugin_runtime import settings

ENV_DIR = "ICON_RUNTIME_FAILURE_BUNDLE_DIR"


def step_hook(call: Any) -> contextlib.AbstractContextManager[Any]:
    """Core's step hook: :func:`._failure_bundle.step_hook` while bundles are on, nothing otherwise."""
    if not settings.text(ENV_DIR):
        return contextlib.nullcontext()
    from . import _failure_bundle

    return _failure_bundle.step_hook(call)
