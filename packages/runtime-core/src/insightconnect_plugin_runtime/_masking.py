"""Keep connection secrets out of replies, logs and errors.

The reference masks values found under four key names, scores "leaks" by subsequence and only on some
HTTP paths. Here a secret is every string the connection schema declares as a credential (the
``credential_*`` and ``password`` types, ``format: password``) plus values under secret-looking key
names, and masking replaces exact occurrences of the secret and of its obvious derived forms (base64 at
any alignment, URL-encoded, JSON-escaped) in one regular-expression pass. The runtime applies it to
every reply, every log line and every error, in every mode.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "********"
#: Shorter values are too likely to appear by chance in ordinary text to be masked safely.
MIN_SECRET_LENGTH = 3

_SECRET_KEY_NAME = re.compile(
    r"^(secretkey|password|passwd|passphrase|key|token|api_?key|apikey|client_?secret|secret|"
    r"private_?key|privatekey|access_?token|refresh_?token|secret_?key|auth_?token|bearer)$",
    re.IGNORECASE,
)
_NOT_SECRET_IN_CREDENTIAL = frozenset({"username", "user", "domain", "login", "email"})
_CREDENTIAL_REF = re.compile(r"#/definitions/(credential_\w+|password)$")


def _credential_property_names(schema: dict[str, Any] | None) -> set[str]:
    """Top-level connection properties the schema types as credentials."""
    if not isinstance(schema, dict):
        return set()
    names = set()
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict):
            continue
        ref = prop.get("$ref", "")
        if (
            (isinstance(ref, str) and _CREDENTIAL_REF.search(ref))
            or prop.get("format") == "password"
            or str(prop.get("type", "")).startswith(("credential", "password"))
            or prop.get("displayType") == "password"
        ):
            names.add(name)
    return names


def _strings_in(value: Any, skip_keys: frozenset[str] = frozenset()) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip_keys:
                yield from _strings_in(item, skip_keys)
    elif isinstance(value, list):
        for item in value:
            yield from _strings_in(item, skip_keys)


def _secrets_by_key_name(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _SECRET_KEY_NAME.match(key):
                yield from _strings_in(item)
            else:
                yield from _secrets_by_key_name(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secrets_by_key_name(item)


def connection_secrets(connection: Any, schema: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Every secret string held by a connection's parameters, longest first."""
    if not isinstance(connection, dict) or not connection:
        return ()
    found = set(_secrets_by_key_name(connection))
    for name in _credential_property_names(schema):
        found.update(_strings_in(connection.get(name), _NOT_SECRET_IN_CREDENTIAL))
    creds = [v for v in connection.values() if isinstance(v, dict) and "username" in v and "password" in v]
    for cred in creds:  # HTTP basic auth headers carry base64("user:password")
        if isinstance(cred["username"], str) and isinstance(cred["password"], str) and cred["password"]:
            found.add(f"{cred['username']}:{cred['password']}")
    return tuple(sorted((s for s in found if len(s) >= MIN_SECRET_LENGTH), key=lambda s: (-len(s), s)))


def _base64_cores(secret: bytes) -> Iterator[str]:
    """Base64 text that encodes ``secret`` wherever it sits in a longer byte string."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + secret).decode().rstrip("=")
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(secret))) // 6
        core = encoded[start:end]
        if len(core) >= 4:
            yield core
            yield core.replace("+", "-").replace("/", "_")


def derived_forms(secret: str) -> set[str]:
    """The secret and the encodings in which it commonly leaks."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1], repr(secret)[1:-1]}
    forms.update(_base64_cores(secret.encode()))
    forms.add(json.dumps(json.dumps(secret)[1:-1])[1:-1])
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


class SecretMasker:
    """Replaces a fixed set of secrets (and their derived forms) in strings and JSON-like data."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            forms |= derived_forms(secret)
        ordered = sorted(forms, key=lambda s: (-len(s), s))
        self.pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self.pattern is not None

    def mask_text(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(MASK, text)

    def mask(self, value: Any) -> Any:
        """A masked copy of ``value``; the original is left untouched."""
        if self.pattern is None:
            return value
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, dict):
            return {self.mask(k) if isinstance(k, str) else k: self.mask(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask(item) for item in value]
        return value

    def mask_envelope(self, envelope: Any) -> Any:
        """Like :meth:`mask`, but the envelope's own keys (top level and ``body``) are left as they are.

        Those keys are written by the runtime, never by the step, so they cannot leak a secret; masking
        them broke the envelope when a secret happened to equal one (``status``, ``log``, ``output``).
        """
        if self.pattern is None or not isinstance(envelope, dict):
            return self.mask(envelope)
        return {
            key: ({k: self.mask(v) for k, v in item.items()} if key == "body" and isinstance(item, dict)
                  else self.mask(item))
            for key, item in envelope.items()
        }  # fmt: skip


NO_MASKER = SecretMasker(())


@functools.lru_cache(maxsize=256)
def _cached_masker(secrets: tuple[str, ...]) -> SecretMasker:
    return SecretMasker(secrets)


def masker_for(connection: Any, schema: dict[str, Any] | None = None) -> SecretMasker:
    secrets = connection_secrets(connection, schema)
    return _cached_masker(secrets) if secrets else NO_MASKER


class OutputMasker:
    """The reference's masking entry points, backed by :class:`SecretMasker`."""

    @staticmethod
    def extract_connection_values(connection: Any, keys_to_check: Iterable[str] | None = None) -> list[str]:
        """Secret values of a connection under the given key names (all secret-looking names if None)."""
        if not isinstance(connection, dict) or not connection:
            return []
        if keys_to_check is None:
            return sorted({value for value in _secrets_by_key_name(connection) if value})
        wanted = set(keys_to_check)
        found: set[str] = set()

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    if key in wanted and isinstance(item, str) and item:
                        found.add(item)
                    else:
                        walk(item)

        walk(connection)
        return sorted(found)

    @staticmethod
    def count_percentage_leak(text: str, body: str) -> tuple[str, float]:
        """How much of ``text`` (as a prefix) appears verbatim in ``body``, as a fraction of its length."""
        if not text:
            return "", 0.0
        longest = 0
        for size in range(len(text), 0, -1):
            if text[:size] in body:
                longest = size
                break
        return text[:longest], longest / len(text)

    @staticmethod
    def mask_str_in_dict(text: str, input_: Any, threshold: float = 0.8, number_of_iterations: int = 50) -> Any:
        """Mask ``text`` (and long prefixes of it) everywhere inside ``input_``; returns a masked copy."""
        masker = SecretMasker([text])
        masked = masker.mask(input_)

        def prefixes(value: Any) -> Any:
            if isinstance(value, str):
                for _ in range(number_of_iterations):
                    prefix, share = OutputMasker.count_percentage_leak(text, value)
                    if share <= threshold or not prefix:
                        break
                    value = value.replace(prefix, MASK)
                return value
            if isinstance(value, dict):
                return {k: prefixes(v) for k, v in value.items()}
            if isinstance(value, list):
                return [prefixes(v) for v in value]
            return value

        return prefixes(masked)

    @staticmethod
    def mask_output_data(connection: Any, output: Any, schema: dict[str, Any] | None = None) -> Any:
        """A copy of ``output`` with every secret of ``connection`` masked."""
        return masker_for(connection, schema).mask(output)
