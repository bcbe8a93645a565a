"""Which distribution ships which module, and a friendly error when one is missing.

The import package is assembled from several distributions. When a plugin imports a module whose
distribution is not installed, Python would only say ``No module named ...``; the finder installed
here turns that into an :class:`ImportError` that names the distribution to install.
"""

from __future__ import annotations

import importlib.machinery
from collections.abc import MutableSequence, Sequence
from types import ModuleType
from typing import Any

PACKAGE = "insightconnect_plugin_runtime"

#: Modules contributed by sibling distributions, by the distribution that ships them.
SIBLING_MODULES: dict[str, str] = {
    "helper": "icon-runtime-helpers",
    "server": "icon-runtime-http",
    "telemetry": "icon-runtime-tracing",
}

_SIBLING_SUBMODULES: dict[str, str] = {
    f"{PACKAGE}.helper": "icon-runtime-helpers",
    f"{PACKAGE}.clients.oauth": "icon-runtime-helpers",
    f"{PACKAGE}.server": "icon-runtime-http",
    f"{PACKAGE}.api.endpoints": "icon-runtime-http",
    f"{PACKAGE}.clients.aws_client": "icon-runtime-aws",
    f"{PACKAGE}.telemetry": "icon-runtime-tracing",
}


class MissingDistributionError(ModuleNotFoundError):
    """A runtime module was imported but the distribution that ships it is not installed."""

    def __init__(self, module: str, distribution: str) -> None:
        super().__init__(
            f"{module} is part of the {distribution} distribution, which is not installed; "
            f"install it with: pip install {distribution}",
            name=module,
        )
        self.distribution = distribution


class _MissingDistributionFinder:
    """Last entry on ``sys.meta_path``: only consulted after every real finder gave up."""

    @staticmethod
    def find_spec(
        fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        distribution = _SIBLING_SUBMODULES.get(fullname)
        if distribution is not None:
            raise MissingDistributionError(fullname, distribution)
        return None

    @staticmethod
    def invalidate_caches() -> None:
        return None


def install_missing_module_finder(meta_path: MutableSequence[Any]) -> None:
    """Append the finder once; it never shadows a module that is really installed."""
    if not any(isinstance(finder, _MissingDistributionFinder) for finder in meta_path):
        meta_path.append(_MissingDistributionFinder())


#: Every icon-runtime distribution, in the order the docs list them.
RUNTIME_DISTRIBUTIONS = (
    "icon-runtime-core",
    "icon-runtime-helpers",
    "icon-runtime-http",
    "icon-runtime-aws",
    "icon-runtime-tracing",
    "icon-runtime",
)


def installed_distributions() -> dict[str, str]:
    """Name and version of each installed icon-runtime distribution, from metadata only."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in RUNTIME_DISTRIBUTIONS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
