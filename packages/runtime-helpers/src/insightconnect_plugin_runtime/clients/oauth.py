"""OAuth 2.0 client-credentials support for plugin API clients, on requests-oauthlib.

A plugin's API client inherits :class:`OAuth20ClientCredentialMixin` and sends its calls through
``self.oauth.request(method, url, ...)``; the bearer token is attached to every request and renewed
shortly before it expires. Renewal happens under a lock, so however many threads share the client,
one token request is made per renewal.

``self.oauth`` is a :class:`requests_oauthlib.OAuth2Session` (with oauthlib's client-credentials
client) and every token comes from its ``fetch_token``, because plugins' tests patch both: tests
that mock ``requests_oauthlib.OAuth2Session.fetch_token`` make no token request, and tests that mock
``requests.Session.request`` see the token request and the API calls as before.

Compatibility notes (see the package README for the full list):

* The first token is fetched in the constructor. Plugins' tests rely on it:
  they construct the client while the token endpoint is mocked, then mock only the API. A subclass
  can set ``fetch_token_on_init = False`` to defer the fetch to the first request.
* ``auth_token`` asks the token endpoint for a new token on every access: plugins' connection
  tests use it to prove the credentials still work. Requests use the cached token.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from oauthlib.oauth2 import BackendApplicationClient, InsecureTransportError, is_secure_transport
from requests_oauthlib import OAuth2Session

from insightconnect_plugin_runtime.exceptions import PluginException

__all__ = ["BearerTokenSession", "OAuth20ClientCredentialMixin", "OAuth20ClientMessages"]

#: Seconds the token request may take when the plugin does not say: a token endpoint that never
#: answers must not hold the step forever.
DEFAULT_TOKEN_TIMEOUT = 30


class OAuth20ClientMessages:
    """Cause and assistance of the exception raised when no token can be obtained."""

    PLUGIN_EXCEPTION_CAUSE = "The plugin could not obtain an OAuth 2.0 access token from the service."
    PLUGIN_EXCEPTION_ASSISTANCE = (
        "Check the client ID, the client secret and the token URL in the connection, then try again."
    )


class _TokenEndpointRejected(Exception):
    """The token endpoint answered with an error status (oauthlib alone would accept any status)."""


def _reject_error_status(response: Any) -> Any:
    """``access_token_response`` compliance hook: an error status is a failure, whatever the body."""
    status = int(response.status_code)
    if not 200 <= status < 300:
        raise _TokenEndpointRejected(f"The token endpoint answered HTTP {status}: {_body_excerpt(response)}")
    return response


class BearerTokenSession(OAuth2Session):
    """The owner's ``OAuth2Session``: its requests carry the owner's bearer token (unless ``auth=`` is given).

    Tokens come from ``fetch_token`` as usual. Requests attach the owner's cached token, renewed first
    when due, instead of oauthlib's ``add_token``, which raises ``TokenExpiredError`` for an expired
    client-credentials token rather than fetching a new one. As with ``OAuth2Session``, token and API
    URLs must be HTTPS unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set (oauthlib's switch for local
    testing): neither the client secret nor the bearer token crosses the network in clear.
    """

    def __init__(self, owner: OAuth20ClientCredentialMixin) -> None:
        super().__init__(client=BackendApplicationClient(client_id=owner.client_id))
        self._owner = owner
        self._token_call = threading.local()
        self.register_compliance_hook("access_token_response", _reject_error_status)

    def fetch_token(self, *args: Any, **kwargs: Any) -> Any:
        self._token_call.active = True
        try:
            return super().fetch_token(*args, **kwargs)
        finally:
            self._token_call.active = False

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        withhold_token: bool = False,
        client_id: str | None = None,
        client_secret: str | None = None,
        **kwargs: Any,
    ) -> Any:
        # Skipping OAuth2Session.request on purpose (see the class docstring); requests.Session.request
        # is looked up through super() so that plugins' mocks of it are called as they expect.
        send = super(OAuth2Session, self).request
        if getattr(self._token_call, "active", False):
            response = send(method, url, data=data, headers=headers, **kwargs)
            if not hasattr(response, "request"):  # fetch_token reads it; duck-typed test doubles lack it
                response.request = SimpleNamespace(url=url, headers=headers, body=None)
            return response
        if not is_secure_transport(url):
            raise InsecureTransportError()  # as OAuth2Session.request: no token or call over plain HTTP
        if not withhold_token and kwargs.get("auth") is None:
            headers = {**(headers or {}), "Authorization": f"Bearer {self._owner._valid_access_token()}"}
        return send(method, url, data=data, headers=headers, **kwargs)


class OAuth20ClientCredentialMixin:
    """Mixin for API clients that authenticate with the OAuth 2.0 client-credentials grant.

    Args:
        client_id: the OAuth client ID (sent with HTTP Basic authentication by default).
        client_secret: the OAuth client secret.
        token_url: the token endpoint.
        **kwargs: passed to ``OAuth2Session.fetch_token``, as plugins expect: ``timeout``
            (default 30 s here), ``verify``, ``proxies``, ``cert``, ``headers`` and
            ``include_client_id`` (send the credentials as form fields instead of Basic auth)
            configure the token request; anything else (``scope``, ``audience`` ...) is sent as a
            form field. A list ``scope`` is joined with spaces.
    """

    #: Fetch the first token in the constructor (plugins' tests build the client while the token endpoint
    #: is mocked, then mock only the API).
    fetch_token_on_init: bool = True
    #: Renew this many seconds before expiry (at most a tenth of the token's lifetime).
    refresh_margin_seconds: float = 60.0

    def __init__(self, client_id: str, client_secret: str, token_url: str, **kwargs: Any) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_url = token_url
        self.kwargs = kwargs
        self.token: dict[str, Any] = {}
        self._token_lock = threading.Lock()
        self._token_renew_at: float | None = None
        self.oauth = BearerTokenSession(self)
        if self.fetch_token_on_init:
            with self._token_lock:
                self._store_token(self._request_token())

    @property
    def auth_token(self) -> dict[str, Any]:
        """A newly issued token dict (``access_token``, ``expires_at`` ...); also replaces the cached one."""
        with self._token_lock:
            self._store_token(self._request_token())
            return self.token

    def _refresh_token(self) -> dict[str, Any]:
        """Fetch and cache a new token now; kept under this name because plugins' subclasses call it."""
        with self._token_lock:
            self._store_token(self._request_token())
            return self.token

    # -- internals ---------------------------------------------------------------------------------

    def _token_is_due(self) -> bool:
        if not self.token:
            return True
        return self._token_renew_at is not None and time.time() >= self._token_renew_at

    def _valid_access_token(self) -> str:
        """The cached access token, renewed first when missing or due; one renewal at a time."""
        if self._token_is_due():
            with self._token_lock:
                if self._token_is_due():  # another thread may have renewed it while we waited
                    self._store_token(self._request_token())
        return str(self.token["access_token"])

    def _store_token(self, token: Any) -> None:
        now = time.time()
        lifetime = token.get("expires_in") if isinstance(token, Mapping) else None
        try:
            seconds = float(lifetime) if lifetime is not None else None
        except (TypeError, ValueError):
            seconds = None
        if seconds is None:
            self._token_renew_at = None  # no expiry announced: keep it until the caller asks again
        else:
            token.setdefault("expires_at", now + seconds)
            margin = min(self.refresh_margin_seconds, seconds / 10)
            self._token_renew_at = now + seconds - margin
        self.token = token

    def _request_token(self) -> Any:
        """The client-credentials grant through ``OAuth2Session.fetch_token``; returns the token dict."""
        options = dict(self.kwargs)
        options.setdefault("timeout", DEFAULT_TOKEN_TIMEOUT)
        try:
            token = self.oauth.fetch_token(
                token_url=self.token_url, client_id=self.client_id, client_secret=self.client_secret, **options
            )
        except PluginException:
            raise
        except _TokenEndpointRejected as error:
            raise _token_error(str(error)) from error
        except Exception as error:  # oauthlib's errors, network failures, bad URLs, broken test doubles ...
            raise _token_error(f"The token request failed: {type(error).__name__}: {error}") from error
        if isinstance(token, Mapping) and not token.get("access_token"):
            raise _token_error("The token endpoint's answer has no access_token.")
        return token


def _token_error(detail: str) -> PluginException:
    return PluginException(
        cause=OAuth20ClientMessages.PLUGIN_EXCEPTION_CAUSE,
        assistance=OAuth20ClientMessages.PLUGIN_EXCEPTION_ASSISTANCE,
        data=detail,
    )


def _body_excerpt(response: Any, limit: int = 300) -> str:
    try:
        text = str(response.text)
    except Exception:
        return "<unreadable body>"
    return text if len(text) <= limit else text[:limit] + "..."


class _WithoutValues(logging.Filter):
    """Keeps requests-oauthlib's debug lines but not their arguments, which are secrets.

    Its ``fetch_token`` logs the request body (the client secret when ``include_client_id``), the
    response body and the token it obtained at DEBUG level; a plugin that turns on root debug logging
    would print them. The wording of each line is kept, every value is replaced.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, Mapping):
            record.args = {key: _redacted(value) for key, value in args.items()}
        elif args:
            record.args = tuple(_redacted(value) for value in args)
        return True


def _redacted(value: Any) -> Any:
    # Numbers (status codes, hook counts) are no secrets, and "%d" needs a number.
    return value if isinstance(value, int | float) else "<redacted>"


def _install_log_redaction() -> None:
    logger = logging.getLogger("requests_oauthlib.oauth2_session")
    if not any(isinstance(existing, _WithoutValues) for existing in logger.filters):
        logger.addFilter(_WithoutValues())


_install_log_redaction()
