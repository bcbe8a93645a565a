"""The safety rules of ``helper.open_url``: which URL schemes, which redirects, which headers.

urllib opens any URL it knows (``file://`` returns a local file) and follows redirects with every
header kept, so an ``Authorization`` meant for one host would reach whichever host the first one
redirects to. So here, as ``requests`` does:

* only ``http`` and ``https`` are opened, for the first URL and for every redirect, unless the
  caller names more schemes;
* ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` are dropped when a redirect leaves the
  origin (scheme, host and port; ``http`` to ``https`` on the same host with default ports keeps
  them). urllib's proxy handler adds the proxy's own credentials again on each request;
* at most ``max_redirects`` redirects are followed (a loop ends there, with a clear error).
"""

from __future__ import annotations

import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

DEFAULT_SCHEMES = frozenset({"http", "https"})
DEFAULT_MAX_REDIRECTS = 10
#: Header names (as urllib stores them, ``str.capitalize``d) that must not leave their origin.
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-authorization")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class RefusedURL(urllib.error.URLError):
    """A URL or a redirect the rules refuse; ``reason`` says which rule."""


def allowed_schemes(schemes: Iterable[str] | None) -> frozenset[str]:
    """Lower-cased scheme names; ``None`` means the default (``http`` and ``https``)."""
    if schemes is None:
        return DEFAULT_SCHEMES
    if isinstance(schemes, str):
        schemes = (schemes,)
    return frozenset(scheme.lower() for scheme in schemes)


def check_scheme(url: str, schemes: frozenset[str]) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in schemes:
        shown = repr(scheme) if scheme else "(none)"
        names = ", ".join(sorted(schemes))
        raise RefusedURL(f"the URL scheme {shown} is not allowed (allowed: {names})")


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme)


def keeps_credentials(old_url: str, new_url: str) -> bool:
    """True when ``new_url`` is the same origin, or the same host upgraded from http to https."""
    old, new = origin(old_url), origin(new_url)
    if old == new:
        return True
    return old == ("http", new[1], 80) and new == ("https", old[1], 443)


class GuardedRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handler with the scheme, credential and count rules above."""

    def __init__(self, schemes: frozenset[str], max_redirects: int) -> None:
        self.schemes = schemes
        self.max_redirects = max_redirects
        # urllib's own loop detection (per distinct URL) is replaced by ours, which counts every hop.
        self.max_redirections = self.max_repeats = math.inf

    def redirect_request(
        self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        hops = getattr(req, "icon_redirects", 0) + 1
        if hops > self.max_redirects:
            raise RefusedURL(f"more than {self.max_redirects} redirects (the last one to {newurl})")
        try:
            check_scheme(newurl, self.schemes)
        except RefusedURL as refused:
            raise RefusedURL(f"a redirect to {newurl}: {refused.reason}") from None
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is None:
            return None
        new.icon_redirects = hops  # type: ignore[attr-defined]
        if not keeps_credentials(req.full_url, newurl):
            for name in CREDENTIAL_HEADERS:
                new.remove_header(name)
        else:
            new.remove_header("Proxy-authorization")  # re-added by the proxy handler when it applies
        return new


def build_opener(context: Any, schemes: frozenset[str], max_redirects: int) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), GuardedRedirects(schemes, max_redirects)
    )
