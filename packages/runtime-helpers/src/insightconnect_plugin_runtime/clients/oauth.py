"""OAuth 2.0 client-credentials support for plugin API clients, on plain ``requests``.

A plugin's API client inherits :class:`OAuth20ClientCredentialMixin` and sends its calls through
``self.oauth.request(method, url, ...)``; the bearer token is attached to every request and renewed
shortly before it expires. Renewal happens under a lock, so however many threads share the client,
one token request is made per renewal.

Compatibility notes (see the package README for the full list):

* The first token is fetched in the constructor, as in the reference. Plugins' tests rely on it:
  they construct the client while the token endpoint is mocked, then mock only the API. A subclass
  can set ``fetch_token_on_init = False`` to defer the fetch to the first request.
* ``auth_token`` asks the token endpoint for a new token on every access, as in the reference;
  connection tests use it to prove the credentials still work. Requests use the cached token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from requests.auth import AuthBase

from insightconnect_plugin_runtime.exceptions import PluginException

__all__ = ["BearerTokenSession", "OAuth20ClientCredentialMixin", "OAuth20ClientMessages"]

#: Keyword arguments of the mixin that configure the token request itself; the rest become form fields.
_REQUEST_OPTIONS = ("timeout", "verify", "proxies", "cert", "headers", "include_client_id")


class OAuth20ClientMessages:
    """Cause and assistance of the exception raised when no token can be obtained."""

    PLUGIN_EXCEPTION_CAUSE = "The plugin could not obtain an OAuth 2.0 access token from the service."
    PLUGIN_EXCEPTION_ASSISTANCE = (
        "Check the client ID, the client secret and the token URL in the connection, then try again."
    )


class _BearerAuth(AuthBase):
    """Puts the owner's current access token (renewed if due) on each outgoing request."""

    def __init__(self, owner: OAuth20ClientCredentialMixin) -> None:
        self._owner = owner

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._owner._valid_access_token()}"
        return request


class BearerTokenSession(requests.Session):
    """A ``requests.Session`` whose requests carry the owner's bearer token (unless ``auth=`` is given)."""

    def __init__(self, owner: OAuth20ClientCredentialMixin) -> None:
        super().__init__()
        self.auth = _BearerAuth(owner)


class OAuth20ClientCredentialMixin:
    """Mixin for API clients that authenticate with the OAuth 2.0 client-credentials grant.

    Args:
        client_id: the OAuth client ID (sent with HTTP Basic authentication by default).
        client_secret: the OAuth client secret.
        token_url: the token endpoint.
        **kwargs: ``timeout`` (default 30 s), ``verify``, ``proxies``, ``cert``, ``headers`` and
            ``include_client_id`` (send the credentials as form fields instead of Basic auth)
            configure the token request; anything else (``scope``, ``audience`` ...) is sent as a
            form field. A list ``scope`` is joined with spaces.
    """

    #: Fetch the first token in the constructor (the reference's behaviour, which plugins' tests use).
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
        """Fetch and cache a new token now; kept under the reference's name for subclasses."""
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

    def _store_token(self, token: dict[str, Any]) -> None:
        now = time.time()
        lifetime = token.get("expires_in")
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

    def _request_token(self) -> dict[str, Any]:
        """POST the client-credentials grant to the token endpoint and return the token dict."""
        options = {name: self.kwargs[name] for name in _REQUEST_OPTIONS if name in self.kwargs}
        form: dict[str, Any] = {"grant_type": "client_credentials"}
        for name, value in self.kwargs.items():
            if name not in _REQUEST_OPTIONS:
                form[name] = " ".join(value) if name == "scope" and isinstance(value, list | tuple) else value
        auth: tuple[str, str] | None = (self.client_id, self.client_secret)
        if options.get("include_client_id"):
            form.update(client_id=self.client_id, client_secret=self.client_secret)
            auth = None
        headers = {"Accept": "application/json", **(options.get("headers") or {})}
        session = requests.Session()  # separate from self.oauth: token calls never carry a bearer
        try:
            response = session.post(
                self.token_url,
                data=form,
                auth=auth,
                headers=headers,
                timeout=options.get("timeout", 30),
                verify=options.get("verify", True),
                proxies=options.get("proxies"),
                cert=options.get("cert"),
            )
            status = int(response.status_code)
            if not 200 <= status < 300:
                raise _token_error(f"The token endpoint answered HTTP {status}: {_body_excerpt(response)}")
            try:
                payload = response.json()
            except ValueError:
                raise _token_error(f"The token endpoint did not answer JSON: {_body_excerpt(response)}")
            if not isinstance(payload, dict) or not payload.get("access_token"):
                raise _token_error("The token endpoint's answer has no access_token.")
            return dict(payload)
        except PluginException:
            raise
        except Exception as error:  # network failures, bad URLs, broken test doubles ...
            raise _token_error(f"The token request failed: {error}") from error
        finally:
            session.close()


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
