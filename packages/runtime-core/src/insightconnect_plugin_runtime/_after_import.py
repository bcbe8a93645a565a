"""Run a function on a module as soon as it is imported, without importing it now.

The runtime adapts a few libraries a plugin may or may not use (structlog's configuration, the
thread pool's ``submit``). Importing them up front would make every one-shot run pay for them, so
:func:`when_imported` calls back now when the module is already loaded, and otherwise right after
whoever imports it first has executed it, before any code can use it. A mere look-up
(``importlib.util.find_spec``) does not use the hook up; the hook leaves ``sys.meta_path`` once
nothing waits any more.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
_waiting: dict[str, list[Callback]] = {}


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once the module ``name`` is imported: now if it already is."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(callback)
            if not any(isinstance(finder, _AfterImportFinder) for finder in sys.meta_path):
                sys.meta_path.insert(0, _AfterImportFinder())
            return
    callback(module)


def waiting() -> frozenset[str]:
    """Names of the modules callbacks still wait for (for tests and diagnostics)."""
    with _lock:
        return frozenset(_waiting)


def _imported(module: ModuleType) -> None:
    with _lock:
        callbacks = _waiting.pop(module.__name__, [])
        if not _waiting:
            sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _AfterImportFinder)]
    for callback in callbacks:
        callback(module)


class _AfterImportFinder:
    """A ``sys.meta_path`` finder for the awaited modules: finds them through the other finders and
    wraps their loader. (Duck-typed, as the import system allows: ``importlib.abc`` costs an import
    on the one-shot path.)"""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _waiting:
            return None
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(fullname, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _CallingBackLoader(spec.loader)
                return spec
        return None


class _CallingBackLoader:
    """Delegates to the module's own loader, then hands the freshly executed module on."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _imported(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
