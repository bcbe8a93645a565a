"""Make ``certifi.where()`` honour ``SSL_CERT_FILE``.

Plugin containers ship their CA bundle through ``SSL_CERT_FILE``. Libraries that ask certifi for the
bundle (requests among them) should see it. The patch is a pure function of the environment: it
never writes ``os.environ`` (``REQUESTS_CA_BUNDLE``), which other threads may be reading.
"""

from __future__ import annotations

import os
from collections.abc import Callable

_original_where: Callable[[], str] | None = None


def ssl_cert_file() -> str | None:
    """The CA bundle named by ``SSL_CERT_FILE`` when it exists, else ``None``."""
    from .settings import text

    path = text("SSL_CERT_FILE")
    if path and os.path.exists(path):
        return path
    return None


def _where() -> str:
    override = ssl_cert_file()
    if override is not None:
        return override
    assert _original_where is not None
    return _original_where()


def install_certifi_patch() -> None:
    """Patch certifi when it is installed; core itself does not depend on it."""
    global _original_where
    try:
        import certifi
    except ImportError:
        return
    if _original_where is None:
        _original_where = certifi.where
        certifi.where = _where
