"""TLS for the local fault server: a certificate authority made for one fuzz run, a certificate for
whatever host name a client asks for, and the process's TLS clients trusting that authority only while
the run lasts, so a plugin that verifies certificates (as it does in production) gets the fuzzed answers
of an ``https://`` API instead of a handshake error.

Certificates come from **trustme** (the library urllib3's, requests', aiohttp's and httpx's own test
suites use): its certificates carry the extensions Python 3.13's strict verification
(``VERIFY_X509_STRICT``) asks for, which a hand-written ``cryptography`` builder would have to keep up
with. Leaves are ECDSA, so issuing one per host name costs a fraction of a millisecond.

Trust is added at the handshake: while :func:`trusting` is entered, ``ssl.SSLContext.wrap_socket`` and
``wrap_bio`` (where http.client, urllib3/requests, asyncio/aiohttp and httpx all end) hand a verifying
client context's handshake to a copy of it that also trusts the run's authority. The copy keeps the
context's verification mode, host name check, verification flags, options, protocol versions, ciphers
and the authorities it trusted. Nothing the plugin built is changed, so contexts made before the run
(requests preloads one at import, aiohttp too) are covered and none trusts the authority afterwards,
which environment variables (``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``) or ``certifi.where`` could not
give. A context with ``verify_mode = CERT_NONE`` (``verify=False``) is left as it is.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

#: Names the default certificate is for: a client given ``https://127.0.0.1:<port>`` sends no SNI.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


class RunAuthority:
    """A certificate authority for one run, and the server context that issues a leaf certificate for
    the host name each client asks for (SNI), or for :data:`LOCAL_NAMES` when it asks for none."""

    def __init__(self) -> None:
        import trustme  # imported on first use: it loads cryptography

        self._ca = trustme.CA(organization_name="icon-runtime-testing fault server")
        self.pem: str = self._ca.cert_pem.bytes().decode("ascii")
        self.der: bytes = ssl.PEM_cert_to_DER_cert(self.pem)
        #: Host names certificates were issued for, in order (the server's record of what TLS asked).
        self.issued: list[str] = []
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self.server_context = self._server_context(LOCAL_NAMES)
        self.server_context.sni_callback = self._choose

    def _server_context(self, names: tuple[str, ...]) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._ca.issue_cert(*names).configure_cert(context)
        return context

    def context_for(self, name: str) -> ssl.SSLContext:
        """The server context presenting a certificate for ``name`` (issued once, then reused)."""
        with self._lock:
            if name not in self._contexts:
                self._contexts[name] = self._server_context((name,))
                self.issued.append(name)
            return self._contexts[name]

    def _choose(self, connection: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        if not name:
            return
        try:
            connection.context = self.context_for(name)
        except Exception:  # a name no certificate can carry: the default one fails the client's check
            return

    def trusts(self, context: ssl.SSLContext) -> bool:
        """Whether ``context`` already trusts this authority (loaded its certificate)."""
        return self.der in context.get_ca_certs(binary_form=True)


_COPIED = ("verify_flags", "minimum_version", "maximum_version", "hostname_checks_common_name", "post_handshake_auth")


def trusting_copy(context: ssl.SSLContext, authority: RunAuthority) -> ssl.SSLContext:
    """A client context with ``context``'s verification settings and authorities, plus ``authority``.

    Not copied, because ``ssl`` cannot read them back: a client certificate (the fault server asks for
    none) and ALPN protocols (the fault server offers none, so clients use HTTP/1.1 either way)."""
    copy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    copy.check_hostname = False  # verify_mode can only drop to CERT_NONE without it
    copy.verify_mode = context.verify_mode
    copy.check_hostname = context.check_hostname
    copy.options = context.options
    for name in _COPIED:
        with contextlib.suppress(AttributeError, ValueError, ssl.SSLError):
            setattr(copy, name, getattr(context, name))
    ciphers = [c["name"] for c in context.get_ciphers() if c.get("protocol") != "TLSv1.3"]
    if ciphers:  # TLS 1.3 suites are not set through set_ciphers
        with contextlib.suppress(ssl.SSLError):
            copy.set_ciphers(":".join(ciphers))
    trusted = [ssl.DER_cert_to_PEM_cert(der) for der in context.get_ca_certs(binary_form=True)]
    copy.load_verify_locations(cadata="".join(trusted) + authority.pem)
    copy.sslsocket_class = context.sslsocket_class
    copy.sslobject_class = context.sslobject_class
    return copy


@contextlib.contextmanager
def trusting(authority: RunAuthority) -> Iterator[None]:
    """While entered, every verifying TLS client handshake in the process also trusts ``authority``;
    the ``ssl`` methods are put back on exit (patches may nest: each restores the one it replaced)."""
    original_wrap_socket = ssl.SSLContext.wrap_socket
    original_wrap_bio = ssl.SSLContext.wrap_bio
    copies: weakref.WeakKeyDictionary[ssl.SSLContext, ssl.SSLContext | None] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    def for_handshake(context: ssl.SSLContext, server_side: bool, session: Any) -> ssl.SSLContext:
        if server_side or session is not None or context.verify_mode == ssl.CERT_NONE:
            return context  # a resumed session belongs to its own context
        with lock:
            if context not in copies:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # reading old protocol settings
                    # None: the context trusts the authority already (a strong reference would keep it alive)
                    copies[context] = None if authority.trusts(context) else trusting_copy(context, authority)
            return copies[context] or context

    def wrap_socket(
        self: ssl.SSLContext,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Any = None,
        session: Any = None,
    ) -> ssl.SSLSocket:
        return original_wrap_socket(
            for_handshake(self, server_side, session),
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            server_hostname,
            session,
        )

    def wrap_bio(
        self: ssl.SSLContext,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: Any = None,
        session: Any = None,
    ) -> ssl.SSLObject:
        return original_wrap_bio(
            for_handshake(self, server_side, session), incoming, outgoing, server_side, server_hostname, session
        )

    ssl.SSLContext.wrap_socket = wrap_socket  # type: ignore[method-assign,assignment]
    ssl.SSLContext.wrap_bio = wrap_bio  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        ssl.SSLContext.wrap_socket = original_wrap_socket  # type: ignore[method-assign]
        ssl.SSLContext.wrap_bio = original_wrap_bio  # type: ignore[method-assign]
