"""Canary secrets: fill every credential field of the connection with a unique marker, then look for
every marker, in every encoding it could leak in, in everything a step run produced.

Which fields are credentials is decided here independently of core's masker (an oracle that reused the
masker's own rule could not catch the masker missing a field): a top-level connection property is a
credential when it refers to a ``credential_*`` or ``password`` definition, has ``format: password``,
``displayType: password`` or a ``credential``/``password`` type, or has a secret-looking name
(``api_key``, ``token``, ``client_secret``...). Every string inside a credential gets a marker; those
under ``username``/``user``/``domain``/``login``/``email`` are identities, not secrets (the runtime
shows them on purpose), so they get plain values and are not searched for.

Markers carry ``+ / & " % =`` so that their URL-encoded, JSON-escaped and HTML-escaped forms differ
from the plain one, and a distinctive alphanumeric core that is found even when a plugin cut the
marker at one of those characters.
"""

from __future__ import annotations

import base64
import binascii
import copy
import html
import json
import re
import secrets as _random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from insightconnect_plugin_runtime.util import sample

_CREDENTIAL_REF = re.compile(r"#/definitions/(credential_\w+|password)$")
_SECRET_NAME = re.compile(
    r"(^|_)(password|passwd|passphrase|secret|token|api_?key|apikey|private_?key|client_?secret|auth)($|_)",
    re.IGNORECASE,
)
IDENTITY_FIELDS = frozenset({"username", "user", "domain", "login", "email"})
MARKER_SUFFIX = '+/&"%='
#: For a marker 0, 1 or 2 bytes into a base64 group: the first output character made of its bits only.
_FIRST_WHOLE_CHAR = (0, 2, 3)


@dataclass(frozen=True)
class Leak:
    """One marker form found in one output path."""

    where: str
    field: str
    form: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.field} leaked into {self.where} ({self.form}): ...{self.excerpt}..."


@dataclass
class Canary:
    """A connection whose secrets are markers, and the markers by field path (``api_key.secretKey``)."""

    connection: dict[str, Any]
    markers: dict[str, str] = field(default_factory=dict)

    def forms(self) -> list[tuple[str, str, str]]:
        """``(field, form name, text)`` for every marker, longest texts first."""
        found = [(name, form, text) for name, marker in self.markers.items() for form, text in marker_forms(marker)]
        return sorted(found, key=lambda item: -len(item[2]))

    def leaks(self, texts: Iterable[tuple[str, str]]) -> list[Leak]:
        """Every marker form in ``(where, text)`` pairs; one finding per (where, field), strongest form first."""
        forms = self.forms()
        found: list[Leak] = []
        for where, text in texts:
            if not text:
                continue
            reported: set[str] = set()
            for name, form, needle in forms:
                if name in reported:
                    continue
                index = text.find(needle)
                if index >= 0:
                    reported.add(name)
                    found.append(Leak(where, name, form, text[max(0, index - 20) : index + len(needle) + 20]))
        return found


def marker_forms(marker: str) -> Iterator[tuple[str, str]]:
    """The marker and the encodings in which a secret commonly leaves a program."""
    raw = marker.encode()
    yield "plain", marker
    yield "core", marker.removesuffix(MARKER_SUFFIX)
    yield "url-encoded", quote(marker, safe="")
    yield "url-encoded (path)", quote(marker)
    yield "form-encoded", quote_plus(marker)
    yield "json-escaped", json.dumps(marker)[1:-1]
    yield "json-escaped twice", json.dumps(json.dumps(marker)[1:-1])[1:-1]
    yield "repr", repr(marker)[1:-1]
    yield "html-escaped", html.escape(marker)
    yield "hex", binascii.hexlify(raw).decode()
    yield "HEX", binascii.hexlify(raw).decode().upper()
    for offset, first in enumerate(_FIRST_WHOLE_CHAR):
        # base64 of the marker wherever it sits in a longer byte string (Basic auth "user:secret"):
        # only the characters made of the marker's bits alone, whatever comes before and after it
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        core = encoded[first : (8 * (offset + len(raw))) // 6]
        yield f"base64@{offset}", core
        yield f"base64url@{offset}", core.replace("+", "-").replace("/", "_")


def _resolve(prop: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(prop, dict):
        return {}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/definitions/"):
        target = definitions.get(ref.removeprefix("#/definitions/"), {})
        overrides = dict(prop)
        del overrides["$ref"]
        return {**target, **overrides}
    return prop


def is_credential(name: str, prop: Any) -> bool:
    """Whether a top-level connection property holds a secret (see the module docstring)."""
    if not isinstance(prop, dict):
        return False
    ref = prop.get("$ref", "")
    return bool(
        (isinstance(ref, str) and _CREDENTIAL_REF.search(ref))
        or prop.get("format") == "password"
        or prop.get("displayType") == "password"
        or str(prop.get("type", "")).startswith(("credential", "password"))
        or _SECRET_NAME.search(name)
    )


def _fill(value_schema: dict[str, Any], definitions: dict[str, Any], path: str, canary: Canary) -> Any:
    """A value for a credential: markers in every secret string, plain values in identity fields."""
    value_schema = _resolve(value_schema, definitions)
    kind = value_schema.get("type")
    properties = value_schema.get("properties")
    if isinstance(properties, dict):
        filled = {}
        for key, sub in properties.items():
            sub_path = f"{path}.{key}"
            if key in IDENTITY_FIELDS:
                filled[key] = f"canary-{key}"
            else:
                filled[key] = _fill(sub, definitions, sub_path, canary)
        return filled
    if kind in (None, "string") or str(kind).startswith(("credential", "password")):
        marker = f"cnry{len(canary.markers):02d}{_random.token_hex(6)}{MARKER_SUFFIX}"
        canary.markers[path] = marker
        return marker
    # other leaves (ports, flags, lists): a plausible value; nested objects were handled above
    return sample({"properties": {"v": value_schema}}).get("v")


def canary_connection(schema: dict[str, Any] | None, base: dict[str, Any] | None = None) -> Canary:
    """A connection for ``schema`` with a unique marker in every credential string.

    Other fields keep their value from ``base`` (the test's own connection) or the schema's sample.
    """
    schema = schema if isinstance(schema, dict) else {}
    definitions = schema.get("definitions") or {}
    connection = copy.deepcopy(base) if base is not None else (sample(schema) if schema else {})
    canary = Canary(connection)
    for name, prop in (schema.get("properties") or {}).items():
        if is_credential(name, prop):
            connection[name] = _fill(prop, definitions, name, canary)
    return canary
