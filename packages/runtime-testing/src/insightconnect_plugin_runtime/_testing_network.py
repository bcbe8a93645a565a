"""Cut the network to loopback for the duration of a block: ``bin/<plugin> check`` must never reach a
real service with fuzzed input, whatever HTTP library the plugin uses.

Patches ``socket.socket.connect``/``connect_ex`` (every client library ends there) and
``socket.getaddrinfo`` (so not even a DNS query for a remote name leaves the machine). Loopback
addresses, ``localhost`` and Unix sockets still work, so local fakes (pytest-httpserver) do.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

REFUSAL = "icon-runtime-testing: the network is cut to loopback"

#: Every destination refused so far in this process (the fuzzer tells a step that hangs from one
#: that retries an unreachable service by whether this grew during the run).
REFUSED: list[str] = []


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@contextlib.contextmanager
def _socket_patches(connect: Any, connect_ex: Any, getaddrinfo: Any) -> Iterator[None]:
    """Replace ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` for the block, then put
    back what was there (the patches may nest: each restores the one it replaced)."""
    originals = (socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo)
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = originals  # type: ignore[method-assign]


@contextlib.contextmanager
def loopback_only() -> Iterator[list[str]]:
    """Refuse non-loopback connections and lookups; yields the list of refused destinations."""
    refused: list[str] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def allowed(sock: socket.socket, address: Any) -> bool:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return True
        host = address[0] if isinstance(address, tuple) and address else address
        if _is_loopback(host):
            return True
        refused.append(f"{host}:{address[1] if isinstance(address, tuple) and len(address) > 1 else ''}")
        REFUSED.append(refused[-1])
        return False

    def connect(sock: socket.socket, address: Any) -> None:
        if not allowed(sock, address):
            raise OSError(errno.ENETUNREACH, REFUSAL)
        original_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not allowed(sock, address):
            return errno.ENETUNREACH
        return original_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            port = args[0] if args else kwargs.get("port")
            refused.append(f"{host}:{port}" if port is not None else str(host))
            REFUSED.append(refused[-1])
            raise socket.gaierror(socket.EAI_NONAME, REFUSAL)
        return original_getaddrinfo(host, *args, **kwargs)

    with _socket_patches(connect, connect_ex, getaddrinfo):
        yield refused


@contextlib.contextmanager
def redirected_to(port: int, host: str = "127.0.0.1") -> Iterator[list[str]]:
    """Send every non-loopback TCP connection to ``host:port`` (a local fake) instead, and resolve every
    remote name to it; yields the destinations the plugin asked for.

    So a plugin whose API address is a constant still talks to the fake; nothing leaves the machine.
    A TLS client needs a fake that speaks TLS with a certificate it trusts: ``FaultServer`` does, inside
    its ``trusted()``; against a plain-HTTP fake the handshake fails.
    """
    asked: list[str] = []
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def target(sock: socket.socket, address: Any) -> Any:
        if sock.family != socket.AF_INET or not isinstance(address, tuple) or _is_loopback(address[0]):
            return address
        asked.append(f"{address[0]}:{address[1] if len(address) > 1 else ''}")
        return (host, port)

    def connect(sock: socket.socket, address: Any) -> None:
        original_connect(sock, target(sock, address))

    def connect_ex(sock: socket.socket, address: Any) -> int:
        return original_connect_ex(sock, target(sock, address))

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name is not None and not _is_loopback(name):
            asked.append(str(name))
            kwargs.pop("family", None)
            return original_getaddrinfo(host, port, socket.AF_INET, *args[2:], **kwargs)
        return original_getaddrinfo(name, *args, **kwargs)

    with _socket_patches(connect, connect_ex, getaddrinfo):
        yield asked
