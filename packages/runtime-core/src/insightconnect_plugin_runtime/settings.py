"""Every environment variable the runtime reads, and the one way each kind of value is parsed.

An operator sets a switch once for a whole container; if two modules read the same word differently
(``TRACK_WORK=1`` on in one place, off in another) the container does half of what was asked. So
every distribution reads its variables through :func:`flag`, :func:`number`, :func:`text` and
:func:`names`, and :data:`VARIABLES` lists them all (the README's "Environment variables" table is
checked against it).

* A flag is on for ``1``, ``true``, ``yes``, ``on``, ``enabled`` and off for ``0``, ``false``, ``no``,
  ``off``, ``disabled`` (any case, surrounding blanks ignored). Unset or empty means the default; any
  other word also means the default, with a warning naming the variable.
* A number is a decimal (``2``, ``0.5``). Unset or empty means the default; a value that is not a
  number, is negative, is zero where zero makes no sense (``positive``) or has a fraction where a
  whole number is needed (``integer``) means the default, with a warning.

Values are read when asked for, not at import, so a test or a launcher can set them late. Public API
of icon-runtime-core, following semver (docs/extension-points.md).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._settings_table import VARIABLES, Variable

__all__ = [
    "OFF_WORDS",
    "ON_WORDS",
    "VARIABLES",
    "Variable",
    "flag",
    "names",
    "number",
    "running_in_cloud",
    "text",
    "track_work",
]

log = logging.getLogger("insightconnect_plugin_runtime.settings")

ON_WORDS = frozenset({"1", "true", "yes", "on", "enabled"})
OFF_WORDS = frozenset({"0", "false", "no", "off", "disabled"})


def __getattr__(name: str) -> object:
    """``Variable`` and ``VARIABLES`` live in ``_settings_table``: documentation and guard tests read
    the table, a run only reads variables, and building it costs a one-shot run a millisecond."""
    if name in ("Variable", "VARIABLES"):
        from . import _settings_table

        return getattr(_settings_table, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _raw(name: str, env: Mapping[str, str] | None) -> str:
    return str((os.environ if env is None else env).get(name, "") or "").strip()


def text(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    """The variable's value (blanks stripped), or ``default`` when it is unset or empty."""
    return _raw(name, env) or default


def flag(name: str, default: bool, env: Mapping[str, str] | None = None) -> bool:
    """The variable as a switch (see the module docstring for the words)."""
    value = _raw(name, env).lower()
    if not value:
        return default
    if value in ON_WORDS:
        return True
    if value in OFF_WORDS:
        return False
    log.warning("%s=%r is neither on nor off; using %s", name, value, "on" if default else "off")
    return default


def number(
    name: str,
    default: float,
    *,
    integer: bool = False,
    positive: bool = False,
    env: Mapping[str, str] | None = None,
) -> float:
    """The variable as a non-negative number (an ``int`` when ``integer``), else ``default``."""
    value = _raw(name, env)
    if not value:
        return default
    try:
        parsed: float = int(value) if integer else float(value)
    except ValueError:
        log.warning("%s=%r is not a%s number; using %s", name, value, " whole" if integer else "", default)
        return default
    if parsed < 0 or (positive and parsed == 0) or parsed != parsed:  # NaN is no number of seconds either
        log.warning("%s=%r must be %s; using %s", name, value, "above 0" if positive else "0 or more", default)
        return default
    return parsed


def names(name: str, env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The variable as a comma-separated set of names (blanks and empty items ignored)."""
    return frozenset(item.strip() for item in _raw(name, env).split(",") if item.strip())


def running_in_cloud(env: Mapping[str, str] | None = None) -> bool:
    """``PLUGIN_RUNTIME_ENVIRONMENT=cloud``: the orchestrator runs the plugin in Rapid7's cloud."""
    return (os.environ if env is None else env).get("PLUGIN_RUNTIME_ENVIRONMENT") == "cloud"  # exact, as ever


def track_work(env: Mapping[str, str] | None = None) -> bool:
    """``TRACK_WORK``, by default on for on-prem servers and off in the cloud."""
    return flag("TRACK_WORK", not running_in_cloud(env), env)
