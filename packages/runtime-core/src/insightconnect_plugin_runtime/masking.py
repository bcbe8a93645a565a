"""Masking of a connection's secrets, for transports that write text of their own.

Every envelope :func:`execution.execute` returns is already masked; a transport needs this module
only for what it writes itself (a debug dump of the request, an error it builds). Public API of
icon-runtime-core, following semver (docs/extension-points.md).
"""

from __future__ import annotations

from ._masking import MASK, MAX_SECRET_CHARS, MAX_SECRETS, NO_MASKER, SecretMasker, connection_secrets, masker_for
from .util import mask_secrets_in_flight

__all__ = [
    "MASK",
    "MAX_SECRETS",
    "MAX_SECRET_CHARS",
    "NO_MASKER",
    "SecretMasker",
    "connection_secrets",
    "mask_secrets_in_flight",
    "masker_for",
]
