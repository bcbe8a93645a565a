"""Keep connection secrets out of replies, logs and errors.

A secret leaks under any key name and in whatever form a library writes it, on every output path, so a
fixed list of key names is not enough. Here a secret is every value the connection schema declares as a
credential (the ``credential_*`` and ``password`` types, ``format: password``) plus values under
secret-looking key names; numbers there (a PIN) count as their text, an integral one also as its float
text (``48213`` and ``48213.0``). Masking replaces every occurrence, overlapping ones included, of the
secret and of the forms in which it commonly leaks:

* as is, JSON-escaped (once and twice, ASCII-only and not), ``repr``-escaped, JSON-escaped then
  ``repr``-escaped (a JSON body quoted as bytes in an error: ``b'{"k": "p\\\\"w"}'``) and HTML-escaped;
* URL-encoded by ``quote`` (``safe=""`` and the default ``safe="/"``) and ``quote_plus``, each with
  upper- and lower-case percent escapes;
* base64 (standard and URL-safe alphabets) at any of the three byte alignments inside a longer
  encoded string, so ``base64("user:" + secret)`` is caught too;
* hexadecimal of its UTF-8 bytes, lower and upper case;
* for a secret with non-ASCII characters, the bodies of ``ascii(secret)`` (``%a``) and of the
  ``repr`` of its UTF-8 bytes (``b'p\\xc3\\xa4...'``, what ``logger.info("%s", secret.encode())`` or
  ``raise ValueError(secret.encode())`` print), each also JSON-escaped. (``json.dumps`` with its
  default ``ensure_ascii=True`` is the JSON-escaped form above.)

Numbers in masked data (:meth:`SecretMasker.mask`) are masked when their text, or for an integral
``float``/``Decimal`` the text of its integer value, is a secret.

Not covered, on purpose: one-way digests and ciphertexts (nothing to recognise), case changes, other
encodings (base32, gzip, UTF-16/Latin-1 bytes, nested encodings beyond the above), fragments (a secret
cut or split across two writes), percent escapes that mix cases within one secret, numbers formatted
otherwise (``48,213``, ``4.8213e4``, zero-padded), and values shorter than :data:`MIN_SECRET_LENGTH`
(masking those would rewrite ordinary text everywhere); for a number, fewer digits than that (a PIN
of ``0`` or ``42`` would turn every such number of a reply into text, breaking its schema). Which
output paths this masking reaches is listed in ``_process_masking``.

Cost: each form is found with one ``str.find`` scan of the text (the forms are never combined into
one large regular expression), and the secrets taken from one connection are bounded by
:data:`MAX_SECRETS` and :data:`MAX_SECRET_CHARS`. The forms are derived lazily, on the first text
masked, and cached per set of secrets. A connection past the bound is flagged (``overflow``); the
runner then refuses the request with a 400 before any step code runs (see ``_runner``).

Masking data (a reply of 10,000 objects) first asks whether anything would change: its strings, keys
and bytes are gathered in one walk and each form is looked for once over all of them (one scan per
form, not one per form per value), and the data is returned as it is, uncopied, when no form occurs.
Only then, or when a secret could be a number's text (a PIN: numbers are compared as values, which
the scan of strings cannot see), is the data copied value by value.
"""

from __future__ import annotations

import binascii
import functools
import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

MASK = "********"
#: Shorter values are too likely to appear by chance in ordinary text to be masked safely.
MIN_SECRET_LENGTH = 3
#: At most this many distinct secrets per connection (a real one has a handful) ...
MAX_SECRETS = 64
#: ... and at most this many characters of them in total (room for a few PEM keys).
MAX_SECRET_CHARS = 64 * 1024

_SECRET_KEY_NAME = re.compile(
    r"^(secretkey|password|passwd|passphrase|key|token|api_?key|apikey|client_?secret|secret|"
    r"private_?key|privatekey|access_?token|refresh_?token|secret_?key|auth_?token|bearer|pin)$",
    re.IGNORECASE,
)
_NOT_SECRET_IN_CREDENTIAL = frozenset({"username", "user", "domain", "login", "email"})
_CREDENTIAL_REF = re.compile(r"#/definitions/(credential_\w+|password)$")
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


class SecretLimitError(ValueError):
    """A connection holds more secrets than :data:`MAX_SECRETS` / :data:`MAX_SECRET_CHARS`."""


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


def _is_number(value: Any) -> bool:
    if isinstance(value, (int, float)):
        return not isinstance(value, bool)
    # A Decimal exists only once its module was imported: no import here (it costs a one-shot run).
    decimal = sys.modules.get("decimal")
    return decimal is not None and isinstance(value, decimal.Decimal)


def _number_texts(value: Any) -> set[str]:
    """How a number renders: its own text, and for an integral value its integer and float texts
    (a PIN ``48213`` shows up as ``48213.0`` once something converted it to ``float``)."""
    try:
        texts = {str(value)}
    except ValueError:  # an integer past the interpreter's digit limit: no text to leak
        return set()
    text = next(iter(texts))
    if sum(ch.isdigit() for ch in text.removesuffix(".0")) < MIN_SECRET_LENGTH:
        # 0, 7, 42 or 0.5: as short as the strings that are never secrets, and masking them would turn
        # every such number of the output into text (a reply breaking its own schema) and cut "1.0.0".
        return set()
    try:
        if value == int(value):
            texts |= {str(int(value)), str(float(int(value)))}
    except (ValueError, ArithmeticError):  # infinities, NaN, integers too large for a float
        pass
    return texts


def _strings_in(value: Any, skip_keys: frozenset[str] = frozenset()) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif _is_number(value):
        yield from sorted(_number_texts(value))
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


class _BoundedSet:
    """Distinct secrets, refusing (``SecretLimitError``) past the bounds instead of growing."""

    def __init__(self) -> None:
        self.items: set[str] = set()
        self.chars = 0

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH or secret in self.items:
            return
        if len(self.items) >= MAX_SECRETS or self.chars + len(secret) > MAX_SECRET_CHARS:
            raise SecretLimitError(
                f"The connection holds more than {MAX_SECRETS} secret values or {MAX_SECRET_CHARS} characters "
                "of them; the runtime refuses it rather than run with secrets it cannot mask."
            )
        self.items.add(secret)
        self.chars += len(secret)

    def ordered(self) -> tuple[str, ...]:
        return tuple(sorted(self.items, key=lambda s: (-len(s), s)))


def _collect(connection: Any, schema: dict[str, Any] | None, found: _BoundedSet) -> None:
    for secret in _secrets_by_key_name(connection):
        found.add(secret)
    for name in _credential_property_names(schema):
        for secret in _strings_in(connection.get(name), _NOT_SECRET_IN_CREDENTIAL):
            found.add(secret)
    for cred in connection.values():  # HTTP basic auth headers carry base64("user:password")
        if isinstance(cred, dict) and isinstance(cred.get("username"), str) and isinstance(cred.get("password"), str):
            if cred["password"]:
                found.add(f"{cred['username']}:{cred['password']}")


def connection_secrets(connection: Any, schema: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Every secret held by a connection's parameters, longest first.

    Raises :class:`SecretLimitError` past :data:`MAX_SECRETS` or :data:`MAX_SECRET_CHARS`; the walk
    stops there, so a hostile connection costs no more than the bound.
    """
    if not isinstance(connection, dict) or not connection:
        return ()
    found = _BoundedSet()
    _collect(connection, schema, found)
    return found.ordered()


def _bounded_secrets(connection: Any, schema: dict[str, Any] | None) -> tuple[tuple[str, ...], bool]:
    """The secrets up to the bound, and whether the connection held more."""
    if not isinstance(connection, dict) or not connection:
        return (), False
    found = _BoundedSet()
    try:
        _collect(connection, schema, found)
    except SecretLimitError:
        return found.ordered(), True
    return found.ordered(), False


def _base64_cores(secret: bytes) -> Iterator[str]:
    """Base64 text that encodes ``secret`` wherever it sits in a longer byte string."""
    for offset in range(3):
        encoded = binascii.b2a_base64(b"\0" * offset + secret, newline=False).decode().rstrip("=")
        start = -(-8 * offset // 6)
        end = (8 * (offset + len(secret))) // 6
        core = encoded[start:end]
        if len(core) >= 4:
            yield core
            yield core.replace("+", "-").replace("/", "_")


def _lower_escapes(text: str) -> str:
    return _PERCENT_ESCAPE.sub(lambda match: match.group(0).lower(), text)


def _html_escaped(text: str) -> str:
    """``html.escape(text)`` (quotes included), without importing ``html`` and its entity table."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;").replace("'", "&#x27;")


#: Bytes ``urllib.parse.quote`` never escapes.
_URL_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _url_quoted(raw: bytes, keep: bytes = b"", space: str = "%20") -> str:
    """What ``quote(secret, safe=keep)`` writes (``space="+"``: ``quote_plus``), from the secret's
    UTF-8 bytes. Its own code, not ``urllib.parse``: that import costs a one-shot run more than all
    the masking it does, and it refuses a secret holding a lone surrogate (valid JSON) instead of
    escaping its bytes."""
    return "".join(
        chr(byte) if byte in _URL_UNRESERVED or byte in keep else space if byte == 0x20 else f"%{byte:02X}"
        for byte in raw
    )


def derived_forms(secret: str) -> set[str]:
    """The secret and the encodings in which it commonly leaks (see the module docstring)."""
    json_escaped = json.dumps(secret)[1:-1]
    raw = secret.encode("utf-8", "surrogatepass")
    url_forms = {_url_quoted(raw), _url_quoted(raw, keep=b"/"), _url_quoted(raw, space="+")}
    forms = {
        secret,
        json_escaped,
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(json_escaped)[1:-1],
        repr(json_escaped)[1:-1],  # JSON text printed by repr: an error quoting a response's bytes
        repr(secret)[1:-1],
        _html_escaped(secret),
        *url_forms,
        *map(_lower_escapes, url_forms),
    }
    if not secret.isascii():  # for ASCII text these equal forms above
        escaped = {ascii(secret)[1:-1], repr(raw)[2:-1]}
        forms.update(escaped, (json.dumps(form)[1:-1] for form in escaped))
    forms.update(_base64_cores(raw))
    forms.update((raw.hex(), raw.hex().upper()))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def find_spans(text: str, forms: Iterable[str]) -> list[tuple[int, int]]:
    """Where any of ``forms`` occurs in ``text`` (overlapping occurrences included), as (start, end)."""
    spans = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    return spans


def replace_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the union of ``spans`` replaced by :data:`MASK` (touching spans become one)."""
    if not spans:
        return text
    spans.sort()
    pieces = []
    position = 0
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start <= end:
            end = max(end, next_end)
            continue
        pieces += [text[position:start], MASK]
        position = end
        start, end = next_start, next_end
    pieces += [text[position:start], MASK, text[end:]]
    return "".join(pieces)


#: Every character a number's text can hold (``-1.5e+16``, ``Decimal`` ``1E-7`` and ``sNaN123``).
_NUMBER_TEXT_CHARS = frozenset("0123456789+-.eEsNaIinfty")
#: Strings at least this long are scanned where they are rather than copied into the joined text.
_SCAN_IN_PLACE = 64 * 1024


_SCALARS = frozenset({int, float, bool, type(None)})


def _texts_in(value: Any) -> list[str]:
    """Every text :func:`mask_value` would mask in ``value`` (strings, string keys, bytes as text),
    gathered without recursion (a deep structure costs no stack). The keys of a dict come as one
    text; plain strings and scalars inside containers are handled without a round through the loop.
    A container met again is skipped: its texts are already in, and a reply holding itself (a
    parent link) ends the walk instead of looping for ever (encoding it then fails as usual)."""
    texts: list[str] = []
    add = texts.append
    pending = [value]
    push, pop = pending.append, pending.pop
    seen: set[int] = set()
    while pending:
        item = pop()
        kind = type(item)
        children: Any
        if kind is not str and kind not in _SCALARS:
            if id(item) in seen:
                continue
            seen.add(id(item))
        if kind is dict or (kind is not str and isinstance(item, dict)):
            try:
                add("\0".join(item))
            except TypeError:  # a key that is not text (mask_value leaves those alone)
                texts.extend(key for key in item if isinstance(key, str))
            children = item.values()
        elif kind is list or kind is tuple or isinstance(item, (list, tuple, set, frozenset)):
            children = item
        elif isinstance(item, str):
            add(item)
            continue
        elif isinstance(item, (bytes, bytearray)):
            add(bytes(item).decode("utf-8", "surrogateescape"))
            continue
        else:
            continue
        for child in children:
            kind = type(child)
            if kind is str:
                add(child)
            elif kind not in _SCALARS:
                push(child)
    return texts


def mask_value(value: Any, mask_text: Any, secret_numbers: frozenset[str]) -> Any:
    """A masked copy of JSON-like ``value``: strings, bytes, containers, and numbers equal to a secret."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        # A number key is written as its text by JSON, so a PIN there is masked like a PIN value.
        return {
            (mask_text(key) if isinstance(key, str) else _masked_number(key, secret_numbers)):
            mask_value(item, mask_text, secret_numbers)
            for key, item in value.items()
        }  # fmt: skip
    if isinstance(value, (list, tuple)):
        return [mask_value(item, mask_text, secret_numbers) for item in value]
    if isinstance(value, (set, frozenset)):
        return {mask_value(item, mask_text, secret_numbers) for item in value}
    if isinstance(value, (bytes, bytearray)):
        return mask_text(bytes(value).decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    return _masked_number(value, secret_numbers)


def _masked_number(value: Any, secret_numbers: frozenset[str]) -> Any:
    """:data:`MASK` for a number whose text is a secret, anything else as it is."""
    if _is_number(value) and not _number_texts(value).isdisjoint(secret_numbers):
        return MASK
    return value


class SecretMasker:
    """Replaces a fixed set of secrets (and their derived forms) in strings and JSON-like data.

    Building one is cheap: the derived forms are computed on the first text masked. ``overflow`` is
    set when the connection held more secrets than the bound (only the first ones are here).
    """

    def __init__(self, secrets: Iterable[str], overflow: bool = False) -> None:
        self.secrets = tuple(secrets)
        self.overflow = overflow
        self._forms: tuple[str, ...] | None = None
        self._numbers = frozenset(self.secrets)
        #: Whether some secret could be the text of a number (only then are numbers looked at).
        self._numeric = any(_NUMBER_TEXT_CHARS.issuperset(secret) for secret in self.secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)

    @property
    def forms(self) -> tuple[str, ...]:
        """Every derived form of every secret, longest first (computed once, on first use)."""
        if self._forms is None:
            forms: set[str] = set()
            for secret in self.secrets:
                forms |= derived_forms(secret)
            self._forms = tuple(sorted(forms, key=lambda s: (-len(s), s)))
        return self._forms

    def spans(self, text: str) -> list[tuple[int, int]]:
        return find_spans(text, self.forms) if self.secrets and text else []

    def mask_text(self, text: str) -> str:
        if not self.secrets or not text:
            return text
        return replace_spans(text, find_spans(text, self.forms))

    def mask(self, value: Any) -> Any:
        """A masked copy of ``value``, or ``value`` itself when nothing in it is masked; the original is
        left untouched."""
        if not self.secrets or not self.touches(value):
            return value
        try:
            return mask_value(value, self.mask_text, self._numbers)
        except RecursionError:  # a cycle or nesting JSON cannot write either: nothing of it is kept
            return MASK

    def touches(self, value: Any) -> bool:
        """Whether masking ``value`` would change it (see the module docstring: one scan per form).

        May answer True when nothing would change (a form spanning two strings, a secret that looks
        like a number), never False when something would: the caller then masks value by value.
        """
        if not self.secrets:
            return False
        if self._numeric:
            return True
        texts = _texts_in(value)
        # Large strings are scanned where they are; the small ones once, joined (no copy of the large).
        small = "\0".join(text for text in texts if len(text) < _SCAN_IN_PLACE)
        large = [text for text in texts if len(text) >= _SCAN_IN_PLACE]
        for form in self.forms:
            if form in small or any(form in text for text in large):
                return True
        return False

    def mask_envelope(self, envelope: Any) -> Any:
        """Like :meth:`mask`, but the envelope's own keys (top level and ``body``) are left as they are.

        Those keys are written by the runtime, never by the step, so they cannot leak a secret; masking
        them broke the envelope when a secret happened to equal one (``status``, ``log``, ``output``).
        """
        if not self.secrets or not isinstance(envelope, dict):
            return self.mask(envelope)
        if not self.touches(envelope):
            return envelope
        return {
            key: ({k: self.mask(v) for k, v in item.items()} if key == "body" and isinstance(item, dict)
                  else self.mask(item))
            for key, item in envelope.items()
        }  # fmt: skip

    def mask_envelope_json(self, text: str) -> str:
        """JSON text of an envelope (as a plugin's ``custom_encoder`` wrote it), masked like
        :meth:`mask_envelope`: the encoder may render values the structural masking never saw, and
        masking the text directly would also rewrite the envelope's keys when a secret equals one."""
        if not self.secrets or self.mask_text(text) == text:
            return text
        return json.dumps(self.mask_envelope(json.loads(text)))


NO_MASKER = SecretMasker(())


@functools.lru_cache(maxsize=256)
def _cached_masker(secrets: tuple[str, ...], overflow: bool) -> SecretMasker:
    return SecretMasker(secrets, overflow)


def masker_for(connection: Any, schema: dict[str, Any] | None = None) -> SecretMasker:
    """The (cached) masker of a connection's secrets; ``overflow`` tells whether it held too many."""
    secrets, overflow = _bounded_secrets(connection, schema)
    return _cached_masker(secrets, overflow) if secrets else NO_MASKER
