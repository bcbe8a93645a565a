"""The console log format of a plugin process, for transports that add loggers of their own.

:func:`configure_console` sets up the ``plugin`` logger (steps and connections) on stderr: plain
lines on-prem, one JSON object per line in the cloud. A transport formats its own loggers with
:class:`PlainFormatter` or :class:`JSONFormatter` so that every line of the process has one shape.
Public API of icon-runtime-core, following semver (docs/extension-points.md).
"""

from __future__ import annotations

from ._logging import PLUGIN_LOGGER_NAME, JSONFormatter, PlainFormatter, configure_console

__all__ = ["PLUGIN_LOGGER_NAME", "JSONFormatter", "PlainFormatter", "configure_console"]
