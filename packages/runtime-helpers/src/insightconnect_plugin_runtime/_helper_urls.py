"""Legacy URL helpers (``open_url``, ``check_url``, file names from URLs) and URLs as logs show them.

``open_url`` applies the scheme, redirect and credential rules of :mod:`._url_fetch`; plugins' tests
that patch ``urllib.request.urlopen`` still receive the request. ``check_url`` calls ``open_url``
through the public ``helper`` module, so ``mock.patch("...helper.open_url")`` is seen there too.
"""

from __future__ import annotations

import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any

import requests

from insightconnect_plugin_runtime import _url_fetch

from ._helper_base import HelperError, logger, public

_QUERY_AFTER_PATH = re.compile(r"(/[^\s?#'\"<>]*)[?#][^\s'\"<>)]*")


def _error_for_log(error: BaseException) -> str:
    """An error's text without the query strings of the URLs it quotes (``requests`` and ``urllib3``
    put the full request URL or path in their messages)."""
    return _QUERY_AFTER_PATH.sub(r"\1", str(error))


def _url_for_log(url: Any) -> str:
    """``url`` as log lines and error messages show it: no user info, query string or fragment.

    Those parts carry credentials (``?apikey=...``, ``user:pass@``) that are not always connection
    secrets the runtime could mask (a token obtained at run time), and a reader never needs them.
    """
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return text.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _ssl_context(verify: bool) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)


#: ``urllib.request.urlopen`` as the standard library defines it; a test double replacing it is called instead.
_STDLIB_URLOPEN = urllib.request.urlopen


def open_url(
    url: str,
    timeout: float | None = None,
    verify: bool = True,
    allowed_schemes: Iterable[str] | None = None,
    max_redirects: int = _url_fetch.DEFAULT_MAX_REDIRECTS,
    **kwargs: Any,
) -> Any:
    """Open ``url`` with urllib and return the response object (``None`` for HTTP 304).

    Keyword arguments become request headers with ``_`` turned into ``-`` (``If_None_Match=...``).
    ``verify`` uses ``SSL_CERT_FILE`` when set, else the system trust store. Other HTTP and network
    errors are logged and raised as :class:`HelperError`.

    Only ``http`` and ``https`` URLs are opened, for the URL and for every redirect, unless
    ``allowed_schemes`` names others (``allowed_schemes=("http", "https", "ftp")``). At most
    ``max_redirects`` redirects are followed, and ``Authorization``, ``Cookie`` and
    ``Proxy-Authorization`` are dropped on a redirect to another host, port or scheme, as
    ``requests`` does. Tests that patch ``urllib.request.urlopen`` still receive the request.
    """
    schemes = _url_fetch.allowed_schemes(allowed_schemes)
    headers = {name.replace("_", "-"): str(value) for name, value in kwargs.items()}
    try:
        _url_fetch.check_scheme(url, schemes)
        request = urllib.request.Request(url, headers=headers)
        context = _ssl_context(verify)
        if urllib.request.urlopen is not _STDLIB_URLOPEN:  # a test double: hand it the request as before
            return urllib.request.urlopen(request, timeout=timeout, context=context)  # noqa: S310
        opener = _url_fetch.build_opener(context, schemes, max_redirects)
        return opener.open(request, timeout=timeout)
    except _url_fetch.RefusedURL as error:
        logger.error("open_url: refused %s: %s", url, error.reason)
        raise HelperError(f"open_url: refused {url}: {error.reason}") from error
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        if 300 <= error.code < 400:  # urllib's own redirect refusals (a file: Location, a loop)
            logger.error("open_url: refused a redirect from %s: %s", _url_for_log(url), error.reason)
            raise HelperError(f"open_url: refused a redirect from {_url_for_log(url)}: {error.reason}") from error
        logger.error("open_url: %s answered HTTP %s", _url_for_log(url), error.code)
        raise HelperError(f"open_url: {_url_for_log(url)} answered HTTP {error.code}") from error
    except (urllib.error.URLError, OSError) as error:
        logger.error("open_url: cannot reach %s: %s", _url_for_log(url), _error_for_log(error))
        raise HelperError(f"open_url: cannot reach {_url_for_log(url)}: {_error_for_log(error)}") from error


def check_url(url: str) -> bool:
    """True when ``url`` answers a HEAD with 2xx/3xx, or else a 3-byte ranged GET with 2xx.

    Network failures give False; a malformed URL raises, since that is a programming error.
    """
    helper = public()
    try:
        head = requests.head(url, timeout=helper.URL_CHECK_TIMEOUT_SECONDS, allow_redirects=False)
        if 200 <= head.status_code < 400:
            return True
        response = helper.open_url(url, timeout=helper.URL_CHECK_TIMEOUT_SECONDS, Range="bytes=0-2")
        status = getattr(response, "status", None) or getattr(response, "code", None)
        return response is not None and status is not None and 200 <= int(status) < 300
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema):
        raise
    except requests.exceptions.RequestException as error:
        logger.error("check_url: %s is not reachable: %s", _url_for_log(url), _error_for_log(error))
        return False


def check_url_modified(url: str) -> bool:
    """True only when a HEAD on ``url`` answers 200 (e.g. modified since the caller last looked)."""
    try:
        response = requests.head(url, timeout=public().URL_CHECK_TIMEOUT_SECONDS)
        response.raise_for_status()
    except requests.exceptions.RequestException as error:
        logger.info("check_url_modified: %s: %s", _url_for_log(url), _error_for_log(error))
        return False
    return response.status_code == 200


def get_url_content_disposition(headers: Mapping[str, str]) -> str | None:
    """File name from a ``Content-Disposition`` header (any case); None without that header.

    A header without ``filename=`` raises ``IndexError``, as the contract says: callers may catch it.
    """
    for name, value in headers.items():
        if name.lower() == "content-disposition":
            after = value.split("filename=", 1)[1]
            return after.split(";", 1)[0].strip().strip("\"'")
    return None


_EXTENSION = re.compile(r"^[^.].*\.[A-Za-z0-9]{1,10}$")


def get_url_path_filename(url: str) -> str | None:
    """Last path segment of ``url`` when it looks like a file name with an extension, else None."""
    path = urllib.parse.urlsplit(url).path
    name = os.path.basename(path)
    if name and _EXTENSION.match(name):
        return urllib.parse.unquote(name)
    return None


def get_url_filename(url: str) -> str | None:
    """File name for ``url``: from ``Content-Disposition`` of a HEAD, else from the URL path."""
    try:
        response = requests.head(url, timeout=public().URL_CHECK_TIMEOUT_SECONDS, allow_redirects=True)
    except requests.exceptions.RequestException as error:
        logger.error("get_url_filename: %s: %s", _url_for_log(url), _error_for_log(error))
        return None
    try:
        name = get_url_content_disposition(response.headers)
    except IndexError:
        name = None
    return name or get_url_path_filename(url)
