"""``Connection`` and the cache that reuses connected instances between executions."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

from ._validation import compiled
from .util import is_running_in_cloud


def key(parameters: dict[str, Any]) -> str:
    """Cache key of a parameter set: its ``connection_cache_key`` if given, else a digest of it."""
    import hashlib  # OpenSSL's start-up is a noticeable part of a one-shot run that never calls this

    explicit = parameters.get("connection_cache_key") if isinstance(parameters, dict) else None
    if explicit:
        return str(explicit)
    return hashlib.sha1(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()


def _cache_key(parameters: dict[str, Any]) -> tuple[str, str]:
    """What :class:`ConnectionCache` files a connection under: the explicit ``connection_cache_key``,
    or the parameters' canonical JSON itself (exact, and no digest to compute)."""
    explicit = parameters.get("connection_cache_key") if isinstance(parameters, dict) else None
    if explicit:
        return "key", str(explicit)
    return "parameters", json.dumps(parameters, sort_keys=True, default=str)


class Connection:
    """Subclass and implement ``connect(params)``; optionally ``test()`` and ``test_task([task])``."""

    def __init__(self, input: Any) -> None:
        self.schema: Any = input.schema if hasattr(input, "schema") else input
        self.parameters: dict[str, Any] = {}
        self.logger: Any = None

    def set_(self, parameters: dict[str, Any]) -> None:
        """Store the parameters after validating them (``jsonschema.ValidationError`` if invalid)."""
        self.parameters = parameters
        if self.schema:
            # Shared by every copy of the prototype: compiled once per schema, not per connection.
            compiled(self.schema).validate(parameters)

    def connect(self, params: dict[str, Any] | None = None) -> None:
        raise NotImplementedError("the plugin's connection does not implement connect()")

    def sample(self) -> dict[str, Any] | None:
        from .util import sample

        return sample(self.schema) if self.schema else None


class ConnectionCache:
    """Connected copies of the plugin's prototype connection, one per parameter set (on-prem).

    In the cloud every execution gets a new connection: parameters belong to different customers.
    A failed ``connect`` stores nothing. Creation happens under a per-key lock so that concurrent
    first requests connect once.
    """

    def __init__(self, prototype: Connection) -> None:
        self.prototype = prototype
        self.connections: dict[tuple[str, str], Connection] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, parameters: dict[str, Any], logger: Any) -> Connection:
        if is_running_in_cloud():
            return self.create_and_validate_connection(parameters, logger)
        cache_key = _cache_key(parameters)
        found = self.connections.get(cache_key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._key_locks.setdefault(cache_key, threading.Lock())
        with key_lock:
            found = self.connections.get(cache_key)
            if found is None:
                found = self.create_and_validate_connection(parameters, logger)
                self.connections[cache_key] = found
            return found

    def create_and_validate_connection(self, parameters: dict[str, Any], logger: Any) -> Connection:
        connection = copy.copy(self.prototype)
        connection.logger = logger
        connection.set_(parameters)
        connection.connect(parameters)
        return connection
