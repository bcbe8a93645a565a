"""Executed as the module ``komand`` (see ``KomandFinder``): the KOMAND SDK's names, from the runtime.

Every public name resolves to the object ``insightconnect_plugin_runtime`` holds: ``komand.Action``
*is* ``insightconnect_plugin_runtime.Action`` and ``komand.helper`` *is*
``insightconnect_plugin_runtime.helper``, so a patch applied under either name is seen under both.
Names resolve on first use (PEP 562), so ``import komand`` costs what ``import
insightconnect_plugin_runtime`` costs and ``komand.helper`` needs icon-runtime-helpers only when a
plugin uses it. Importing the runtime here also applies its certifi patch, as ``import komand``
always did.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import insightconnect_plugin_runtime as _runtime
from icon_runtime_komand import install_submodule_finder

#: Tells :func:`icon_runtime_komand.is_ours` this is not a real KOMAND SDK.
__icon_runtime_komand__ = True

install_submodule_finder()

#: The classes generated KOMAND code uses (``komand.Plugin``, ``komand.Action``, ``komand.CLI``...).
__all__ = list(_runtime.__all__)


def __getattr__(name: str) -> Any:
    """``komand.<Class>`` from the runtime's top level; ``komand.<module>`` as the runtime's module."""
    if name in __all__:
        value = getattr(_runtime, name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        qualified = f"{__name__}.{name}"
        try:
            return importlib.import_module(qualified)
        except ModuleNotFoundError as error:
            if error.name != qualified:
                raise  # e.g. komand.helper without icon-runtime-helpers: the error names what to install
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public classes and the runtime's public modules, not the runtime's own helper imports."""
    loaded = vars(_runtime)
    modules = {
        name
        for name in dir(_runtime)
        if not name.startswith("_")
        and (
            name not in loaded
            or (isinstance(loaded[name], ModuleType) and loaded[name].__name__ == f"{_runtime.__name__}.{name}")
        )
    }
    return sorted(set(__all__) | modules | {"__all__", "__doc__", "__file__", "__name__", "__path__"})
