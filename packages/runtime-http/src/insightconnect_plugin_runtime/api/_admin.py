"""Who may call the admin endpoints (``/api/v1/admin/shutdown``, ``/api/v1/workers/add|remove``).

The on-prem orchestrator calls them (contract 6.8), so they keep the paths it calls, but anyone who can
reach the port could otherwise stop the plugin or grow it until it is killed. With a token configured
(``ICON_RUNTIME_ADMIN_TOKEN`` or a mounted ``ICON_RUNTIME_ADMIN_TOKEN_FILE``) a call must carry
``Authorization: Bearer <token>``; the comparison takes the same time whatever the guess, so the token
cannot be found one character at a time.
"""

from __future__ import annotations

import hmac

UNAUTHORIZED_MESSAGE = "This admin endpoint needs the admin token as 'Authorization: Bearer <token>'."
WORKER_CEILING_MESSAGE = "The plugin already runs its most workers ({ceiling}, ICON_RUNTIME_MAX_WORKERS)."


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def is_authorized(expected: str | None, header: str | None) -> bool:
    """True without a configured token, else only for the same token in a bearer header."""
    if expected is None:
        return True
    given = bearer_token(header)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
