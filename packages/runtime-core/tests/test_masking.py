"""Secrets and their derived forms are masked; ordinary text is left alone."""

from __future__ import annotations

import base64
import json
import traceback
from decimal import Decimal
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from insightconnect_plugin_runtime._masking import MASK, SecretMasker, connection_secrets
from insightconnect_plugin_runtime.util import OutputMasker

SECRET = "s3cr3t/value+with=chars"
SCHEMA = {
    "properties": {
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
        "login": {"$ref": "#/definitions/credential_username_password"},
        "client_pass": {"type": "string", "format": "password"},
        "url": {"type": "string"},
    }
}
CONNECTION = {
    "api_key": {"secretKey": SECRET},
    "login": {"username": "alice", "password": "hunter2hunter2"},
    "client_pass": "opaque-thing-77",
    "url": "https://example.com",
    "nested": {"token": "tok-abc-123"},
}


def test_secrets_come_from_schema_types_and_key_names():
    found = set(connection_secrets(CONNECTION, SCHEMA))
    assert {SECRET, "hunter2hunter2", "opaque-thing-77", "tok-abc-123"} <= found
    assert "alice" not in found and "https://example.com" not in found


@pytest.mark.parametrize(
    "leak",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"x" + SECRET.encode()).decode(),
        base64.b64encode(b"xy" + SECRET.encode()).decode(),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        base64.b64encode(b"alice:hunter2hunter2").decode(),
    ],
)
def test_derived_forms_are_masked(leak):
    masker = SecretMasker(connection_secrets(CONNECTION, SCHEMA))
    masked = masker.mask({"out": [f"before {leak} after"]})
    assert leak not in json.dumps(masked)
    assert MASK in masked["out"][0]


@given(st.text(alphabet="abcdefgh ", max_size=40))
def test_text_without_secrets_is_unchanged(text):
    masker = SecretMasker(["zzzyyyxxx"])
    assert masker.mask_text(text) == text


def test_mask_output_data_does_not_mutate_its_input():
    output = {"body": {"output": {"x": SECRET}, "log": f"used {SECRET}"}}
    masked = OutputMasker.mask_output_data(CONNECTION, output, SCHEMA)
    assert output["body"]["output"]["x"] == SECRET
    assert masked["body"]["output"]["x"] == MASK and SECRET not in masked["body"]["log"]


def test_no_connection_means_no_masking():
    assert OutputMasker.mask_output_data(None, {"a": "b"}) == {"a": "b"}
    assert OutputMasker.extract_connection_values(None) == []


def test_extract_connection_values_by_key_names():
    values = OutputMasker.extract_connection_values({"a": {"secretKey": "k1"}, "password": "", "token": "t"})
    assert values == ["k1", "t"]


# --- forms, spans and bounds (issue 14) -------------------------------------------------------------

import re  # noqa: E402
import string  # noqa: E402

from insightconnect_plugin_runtime import _masking  # noqa: E402
from insightconnect_plugin_runtime._masking import (  # noqa: E402
    MAX_SECRET_CHARS,
    MAX_SECRETS,
    MIN_SECRET_LENGTH,
    NO_MASKER,
    SecretLimitError,
    derived_forms,
    find_spans,
    masker_for,
    replace_spans,
)

PIN_SECRET = 'p/a ss+w="rd&1'


def _lower_escapes(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def _written_forms(secret: str) -> dict[str, str]:
    """Each promised form, written out here rather than taken from the masker."""
    raw = secret.encode()
    return {
        "plain": secret,
        "quote-default-safe": quote(secret),
        "quote-no-safe": quote(secret, safe=""),
        "quote-plus": quote_plus(secret),
        "quote-lower": _lower_escapes(quote(secret)),
        "quote-no-safe-lower": _lower_escapes(quote(secret, safe="")),
        "quote-plus-lower": _lower_escapes(quote_plus(secret)),
        "json": json.dumps(secret)[1:-1],
        "json-twice": json.dumps(json.dumps(secret)[1:-1])[1:-1],
        "repr": repr(secret)[1:-1],
        "html": "p/a ss+w=&quot;rd&amp;1",
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64-in-basic-auth": base64.b64encode(b"user:" + raw).decode(),
        "base64-offset-2": base64.b64encode(b"ab" + raw).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(b"?" + raw).decode(),
    }


@pytest.mark.parametrize("name", sorted(_written_forms(PIN_SECRET)))
def test_every_promised_form_is_masked_entirely(name):
    leak = _written_forms(PIN_SECRET)[name]
    masked = SecretMasker([PIN_SECRET]).mask_text(f"<{leak}>")
    if name.startswith("base64"):
        # Base64 keeps the characters that also encode the neighbouring bytes ("user:", "ab", "?") and
        # the padding: at most 8 before the mask and 4 after it.
        assert re.fullmatch(r"<[A-Za-z0-9+/_-]{0,8}\*{8}[A-Za-z0-9+/_=-]{0,4}>", masked), masked
    else:
        assert masked == f"<{MASK}>"


def test_integer_and_float_credentials_are_masked_as_text_and_as_values():
    schema = {"properties": {"pin": {"type": "integer", "format": "password"}, "ratio": {"format": "password"}}}
    masker = masker_for({"pin": 482913, "ratio": 0.125, "flag": True, "key": False}, schema)
    assert masker.secrets == ("482913.0", "482913", "0.125")
    assert masker.mask_text("pin=482913 ratio 0.125 other 4829") == f"pin={MASK} ratio {MASK} other 4829"
    assert masker.mask({"a": 482913, "b": 0.125, "c": 4829, "d": True}) == {"a": MASK, "b": MASK, "c": 4829, "d": True}


def test_bytes_sets_tuples_and_keys_are_masked():
    masker = SecretMasker(["hunter22"])
    value = {"hunter22": (b"x hunter22 \xff", {"hunter22", "ok"}, frozenset({"a hunter22"}), bytearray(b"hunter22"))}
    masked = masker.mask(value)
    assert list(masked) == [MASK]
    raw, plain_set, frozen, array = masked[MASK]
    assert raw == b"x " + MASK.encode() + b" \xff"
    assert plain_set == {MASK, "ok"} and frozen == {f"a {MASK}"} and array == MASK.encode()
    assert masker.mask([1, None, 2.5, False]) == [1, None, 2.5, False]


def test_overlapping_and_nested_occurrences_are_masked_as_their_union():
    masker = SecretMasker(["abcdef", "defghi", "cdx"])
    assert masker.mask_text("..abcdefghi..") == f"..{MASK}.."
    assert masker.mask_text("abcdefabcdef") == MASK  # touching occurrences become one mask
    assert masker.mask_text("aaabcdx-zz-defghi") == f"aaab{MASK}-zz-{MASK}"
    assert find_spans("aaaa", ["aa"]) == [(0, 2), (1, 3), (2, 4)]
    assert replace_spans("0123456789", [(6, 8), (1, 3), (2, 4)]) == f"0{MASK}45{MASK}89"
    assert replace_spans("0123456789", [(1, 3), (3, 5)]) == f"0{MASK}56789"
    assert replace_spans("0123456789", [(1, 3), (4, 5)]) == f"0{MASK}3{MASK}56789"
    assert replace_spans("0123456789", [(0, 10)]) == MASK
    assert replace_spans("0123456789", [(1, 8), (2, 3)]) == f"0{MASK}89"
    assert replace_spans("abc", []) == "abc"


def test_short_values_are_not_secrets_but_three_characters_are():
    assert MIN_SECRET_LENGTH == 3
    assert connection_secrets({"token": "ab", "key": "abc"}) == ("abc",)
    assert all(len(form) >= 3 for form in derived_forms("abc"))
    assert SecretMasker(["ab"]).mask_text("ab") == "ab" or not SecretMasker(["ab"]).forms


def test_secrets_are_ordered_longest_first_and_deduplicated():
    found = connection_secrets(
        {"a": {"token": "bbb"}, "b": {"password": "aaaa"}, "c": {"key": "bbb"}, "d": {"key": "ccc"}}
    )
    assert found == ("aaaa", "bbb", "ccc")


def test_basic_auth_pair_is_a_secret_and_username_alone_is_not():
    found = connection_secrets({"cred": {"username": "alice", "password": "pw-123"}})
    assert set(found) == {"pw-123", "alice:pw-123"}
    assert connection_secrets({"cred": {"username": "alice", "password": ""}}) == ()


def test_the_bound_on_secret_count_is_exact():
    at_bound = {"k": [{"token": f"token-{i:04d}"} for i in range(MAX_SECRETS)]}
    assert len(connection_secrets(at_bound)) == MAX_SECRETS
    assert not masker_for(at_bound).overflow
    over = {"k": [{"token": f"token-{i:04d}"} for i in range(MAX_SECRETS + 1)]}
    with pytest.raises(SecretLimitError, match=str(MAX_SECRETS)):
        connection_secrets(over)
    masker = masker_for(over)
    assert masker.overflow and len(masker.secrets) == MAX_SECRETS


def test_the_bound_on_secret_length_is_exact():
    half = MAX_SECRET_CHARS // 2
    exact = {"a": {"token": "x" * half}, "b": {"token": "y" * (MAX_SECRET_CHARS - half)}}
    assert not masker_for(exact).overflow
    over = {"a": {"token": "x" * half}, "b": {"token": "y" * (MAX_SECRET_CHARS - half + 1)}}
    assert masker_for(over).overflow


def test_a_hostile_connection_stops_the_walk_at_the_bound(monkeypatch):
    seen = []
    original = _masking._BoundedSet.add

    def counting(self, secret):
        seen.append(secret)
        return original(self, secret)

    monkeypatch.setattr(_masking._BoundedSet, "add", counting)
    masker_for({"k": [{"token": f"token-{i:05d}"} for i in range(8000)]}, None)
    assert len(seen) == MAX_SECRETS + 1


def test_forms_are_derived_lazily_and_once():
    masker = SecretMasker(["lazy-secret"])
    assert masker._forms is None and bool(masker)
    forms = masker.forms
    assert masker.forms is forms and "lazy-secret" in forms
    assert not NO_MASKER and NO_MASKER.mask_text("x") == "x" and NO_MASKER.mask({"a": 1}) == {"a": 1}


def test_maskers_are_cached_per_connection_secrets():
    assert masker_for({"token": "same-one"}) is masker_for({"token": "same-one", "other": 1})
    assert masker_for({"url": "nothing"}) is NO_MASKER


def test_envelope_keys_are_kept_but_values_masked():
    masker = SecretMasker(["status"])
    envelope = {"body": {"status": "status ok", "log": "x"}, "type": "status", "version": "v1"}
    assert masker.mask_envelope(envelope) == {
        "body": {"status": f"{MASK} ok", "log": "x"},
        "type": MASK,
        "version": "v1",
    }
    assert masker.mask_envelope(["status"]) == [MASK]


_SECRET_CHARS = string.ascii_letters + string.digits + "/+=&%?# \"'\\:@éü€"


def _derive(secret: str, how: str, pad: bytes) -> str:
    raw = secret.encode()
    return {
        "plain": secret,
        "quote": quote(secret),
        "quote-safe-none": quote(secret, safe=""),
        "quote-plus": quote_plus(secret),
        "quote-lower": _lower_escapes(quote(secret, safe="")),
        "json": json.dumps(secret)[1:-1],
        "json-raw": json.dumps(secret, ensure_ascii=False)[1:-1],
        "json-twice": json.dumps(json.dumps(secret)[1:-1])[1:-1],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64": base64.b64encode(pad + raw).decode(),
        "base64-url": base64.urlsafe_b64encode(pad + raw).decode(),
        "ascii": ascii(secret)[1:-1],
        "bytes-repr": repr(raw)[2:-1],
    }[how]


@given(
    secret=st.text(alphabet=_SECRET_CHARS, min_size=8, max_size=40),
    how=st.sampled_from(
        [
            "plain",
            "quote",
            "quote-safe-none",
            "quote-plus",
            "quote-lower",
            "json",
            "json-raw",
            "json-twice",
            "hex",
            "HEX",
            "base64",
            "base64-url",
            "ascii",
            "bytes-repr",
        ]
    ),  # fmt: skip
    pad=st.binary(max_size=5),
    before=st.text(alphabet="xyz .,", max_size=10),
    after=st.text(alphabet="xyz .,", max_size=10),
)
def test_property_random_secrets_in_random_forms_are_masked(secret, how, pad, before, after):
    leak = _derive(secret, how, pad)
    assume(secret.strip(" xyz.,") and not set(secret) <= set("xyz .,"))  # the filler is not the secret
    masked = SecretMasker([secret]).mask_text(before + leak + after)
    assert MASK in masked and leak not in masked
    # The part that encodes the secret is gone: no run of 8 characters of the leak survives
    # (base64 keeps at most 2 characters on each side that also encode the pad or the padding).
    rest = masked.replace(MASK, "\0")
    for start in range(0, max(1, len(leak) - 7)):
        piece = leak[start : start + 8]
        if len(piece) == 8:
            assert piece not in rest


@given(st.lists(st.text(alphabet=_SECRET_CHARS, min_size=3, max_size=12), min_size=1, max_size=5), st.data())
def test_property_masking_is_idempotent_and_hides_every_secret(secrets_, data):
    masker = SecretMasker(secrets_)
    text = " ".join(data.draw(st.permutations(secrets_)))
    once = masker.mask_text(text)
    assert masker.mask_text(once) == once or MASK in once
    for secret in secrets_:
        assert secret not in once or secret in MASK


def test_only_a_non_empty_object_is_a_connection():
    for not_a_connection in ("secret-text", ["token", {"token": "xyz1"}], 12345, None, {}):
        assert connection_secrets(not_a_connection) == ()
        assert masker_for(not_a_connection) is NO_MASKER


def test_encoder_output_is_masked_without_touching_envelope_keys():
    masker = SecretMasker(["status"])
    text = json.dumps({"body": {"status": "ok", "output": {"x": "status"}}, "version": "v1", "type": "status"})
    assert json.loads(masker.mask_envelope_json(text)) == {
        "body": {"status": "ok", "output": {"x": MASK}},
        "version": "v1",
        "type": MASK,
    }
    clean = json.dumps({"body": {"log": "nothing here"}})
    assert masker.mask_envelope_json(clean) is clean
    assert NO_MASKER.mask_envelope_json("{not json") == "{not json"


NON_ASCII_SECRET = "pässwörd-ключ"


@pytest.mark.parametrize(
    "leak, masked",
    [
        (repr(NON_ASCII_SECRET.encode()), f"b'{MASK}'"),  # logger.info("%s", secret.encode())
        (ascii(NON_ASCII_SECRET), f"'{MASK}'"),  # ascii(), %a
        ("%a" % NON_ASCII_SECRET, f"'{MASK}'"),  # noqa: UP031 - the %a form is the point
        (json.dumps(NON_ASCII_SECRET), f'"{MASK}"'),  # ensure_ascii=True (the default)
        (json.dumps(NON_ASCII_SECRET, ensure_ascii=False), f'"{MASK}"'),
        (json.dumps(repr(NON_ASCII_SECRET.encode())), f"\"b'{MASK}'\""),  # a JSON log line holding the repr
        (json.dumps(ascii(NON_ASCII_SECRET)), f"\"'{MASK}'\""),
        (str(ValueError(NON_ASCII_SECRET.encode())), f"b'{MASK}'"),  # raise ValueError(secret.encode())
        (repr(ValueError(NON_ASCII_SECRET.encode())), f"ValueError(b'{MASK}')"),
    ],
)
def test_non_ascii_secret_repr_and_ascii_forms_are_masked_entirely(leak, masked):
    assert SecretMasker([NON_ASCII_SECRET]).mask_text(leak) == masked


def test_a_traceback_of_a_bytes_error_is_masked():
    try:
        raise ValueError(NON_ASCII_SECRET.encode())
    except ValueError:
        text = traceback.format_exc()
    masked = SecretMasker([NON_ASCII_SECRET]).mask_text(text)
    assert masked.endswith(f"ValueError: b'{MASK}'\n") and "\\x" not in masked


def test_integral_numeric_credentials_are_masked_in_their_float_and_decimal_forms():
    masker = masker_for({"pin": 48213})
    assert masker.mask_text(f"pin {float(48213)} / {Decimal(48213)}") == f"pin {MASK} / {MASK}"
    assert masker.mask({"f": 48213.0, "d": Decimal("48213"), "d0": Decimal("48213.00"), "i": 48213}) == {
        "f": MASK,
        "d": MASK,
        "d0": MASK,
        "i": MASK,
    }
    assert masker.mask([48213.5, 48214.0, Decimal("48214"), float("inf"), float("nan")])[:3] == [
        48213.5,
        48214.0,
        Decimal("48214"),
    ]
    large = masker_for({"pin": 12345678901234567})  # its float text is 1.2345678901234568e+16
    assert large.mask_text(f"as float: {float(12345678901234567)}") == f"as float: {MASK}"
    assert large.mask(float(12345678901234567)) == MASK
    from_float = masker_for({"pin": 48213.0})  # a float credential leaks as its integer too
    assert from_float.mask_text("pin=48213;") == f"pin={MASK};"
    assert from_float.mask(48213) == MASK


@pytest.mark.parametrize("pin", [0, 7, 42, -5, 0.5, 99.0])
def test_numbers_with_fewer_digits_than_a_secret_are_not_secrets(pin):
    """Found by the API fuzzer: a PIN of 0 made "0.0" a secret, so a reply's version "1.0.0" and every
    0 of its output were masked, the output breaking its own schema."""
    schema = {"properties": {"pin": {"type": "number", "format": "password"}}}
    masker = masker_for({"pin": pin}, schema)
    assert masker.secrets == ()
    data = {"version": "1.0.0", "numbers": [0, 7, 42, -5, 0.5, 99.0], "text": "0.0 and 42"}
    assert masker.mask(data) == data


def test_a_number_with_three_digits_is_a_secret():
    masker = masker_for({"pin": 100}, {"properties": {"pin": {"type": "integer", "format": "password"}}})
    assert masker.secrets == ("100.0", "100")
    assert masker.mask({"a": 100, "b": 10}) == {"a": MASK, "b": 10}


# --- one scan per form before any copy (issue 19) ----------------------------------------------------

from insightconnect_plugin_runtime._masking import _SCAN_IN_PLACE, mask_value  # noqa: E402

SCAN_SECRET = "sc4n-s3cret-value"
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.sampled_from(["plain", "has sc4n-s3cret-value inside", "c2M0bi1zM2NyZXQtdmFsdWU", "sc4n-s3cr", "et-value"]),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.just(b"x sc4n-s3cret-value"),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.frozensets(st.sampled_from(["ok", "a sc4n-s3cret-value", "b"]), max_size=2),
        st.dictionaries(st.one_of(st.text(max_size=6), st.just(SCAN_SECRET), st.integers()), inner, max_size=4),
    ),
    max_leaves=20,
)


def _as_json(value: Any) -> Any:
    """Tuples as lists: masking value by value copies a tuple into a list, which JSON cannot tell apart."""
    if isinstance(value, (list, tuple)):
        return [_as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_json(item) for key, item in value.items()}
    return value


@given(_values)
def test_property_the_scan_first_gives_what_masking_value_by_value_gives(value):
    masker = SecretMasker([SCAN_SECRET])
    expected = mask_value(value, masker.mask_text, frozenset(masker.secrets))
    assert _as_json(masker.mask(value)) == _as_json(expected)
    if not masker.touches(value):
        assert masker.mask(value) is value  # nothing to mask: no copy


def test_data_without_a_secret_form_is_returned_uncopied_and_never_masked_value_by_value(monkeypatch):
    masker = SecretMasker([SCAN_SECRET])
    reply = {"body": {"log": "ok", "output": {"items": [{"id": i, "name": f"item-{i}"} for i in range(10_000)]}}}
    calls = []
    monkeypatch.setattr(masker, "mask_text", lambda text: calls.append(text) or text)
    assert masker.mask(reply) is reply
    assert masker.mask_envelope(reply) is reply
    assert calls == []


@pytest.mark.parametrize(
    "value",
    [
        {"a": ["x", {"deep": f"... {SCAN_SECRET} ..."}]},
        {f"key {SCAN_SECRET}": 1},
        {"set": {f"{SCAN_SECRET}!"}},
        ("tuple", bytearray(f"bytes {SCAN_SECRET}".encode())),
        {"large": "x" * _SCAN_IN_PLACE + SCAN_SECRET},
        {"large at the limit": "x" * (_SCAN_IN_PLACE - len(SCAN_SECRET)) + SCAN_SECRET},
        {"just under": "x" * (_SCAN_IN_PLACE - len(SCAN_SECRET) - 1) + SCAN_SECRET},
        [type("Text", (str,), {})(f"a str subclass {SCAN_SECRET}")],
        [type("Mapping", (dict,), {})({"k": [f"{SCAN_SECRET}"]})],
        [type("Mapping", (dict,), {})({f"{SCAN_SECRET}": 1, 2: 3})],
        {1: f"{SCAN_SECRET} under a number key", 2.5: None},
    ],
)
def test_a_form_anywhere_is_found_by_the_scan(value):
    masker = SecretMasker([SCAN_SECRET])
    assert masker.touches(value)
    assert SCAN_SECRET not in repr(masker.mask(value)) and MASK in repr(masker.mask(value))


def test_the_scan_does_not_join_neighbouring_strings_into_a_secret():
    masker = SecretMasker([SCAN_SECRET])
    halves = ["sc4n-s3cr", "et-value"]
    assert not masker.touches(halves) and not masker.touches({"sc4n-s3cr": "et-value"})
    assert not masker.touches({"a": "sc4n-s3cr", "b": "et-value"})
    assert not masker.touches(["x" * _SCAN_IN_PLACE + "sc4n-s3cr", "et-value"])
    assert masker.mask(halves) is halves


def test_a_number_like_secret_always_masks_value_by_value():
    """A PIN is matched against numbers as values, which the scan of strings cannot see."""
    pin = SecretMasker(["4821"])
    assert pin.touches({"count": 4821}) and pin.touches(["no number here"])
    assert pin.mask({"count": 4821, "items": [4821.0]}) == {"count": MASK, "items": [MASK]}
    for looks_numeric in ("1e+16", "-12.5", "1E-7", "sNaN123"):
        assert SecretMasker([looks_numeric]).touches([])
    assert not SecretMasker(["48x21"]).touches([48])


def test_no_secret_touches_nothing_and_an_empty_value_nothing():
    assert not NO_MASKER.touches([SCAN_SECRET])
    masker = SecretMasker([SCAN_SECRET])
    assert not masker.touches({}) and not masker.touches([]) and not masker.touches(12345)
    assert not masker.touches(object()) and masker.mask(envelope := {"x": object()}) is envelope


def test_a_deep_value_is_scanned_without_recursion():
    masker = SecretMasker([SCAN_SECRET])
    deep: Any = "end"
    for _ in range(50_000):
        deep = [deep]
    assert not masker.touches(deep) and masker.mask(deep) is deep


def test_touches_answers_with_booleans():
    masker = SecretMasker([SCAN_SECRET])
    assert masker.touches({"a": SCAN_SECRET}) is True
    assert masker.touches({"a": "nothing"}) is False and masker.touches([]) is False
    assert NO_MASKER.touches(SCAN_SECRET) is False
    assert SecretMasker(["4821"]).touches([]) is True
    assert masker.touches([type("Items", (list,), {})([SCAN_SECRET])]) is True
    assert masker.touches((SCAN_SECRET,)) is True and masker.touches(SCAN_SECRET) is True


# --- exact bounds, forms and the reference's entry points (mutation survivors) -------------------


def test_the_documented_bounds():
    assert (MAX_SECRETS, MAX_SECRET_CHARS, MIN_SECRET_LENGTH) == (64, 65_536, 3)


def test_identity_fields_of_a_credential_are_not_secrets():
    schema = {"properties": {"login": {"$ref": "#/definitions/credential_username_password"}}}
    identity = {"username": "name-one", "user": "name-two", "domain": "corp-domain", "login": "login-x"}
    connection = {"login": {**identity, "email": "me@example.com", "password": "pass-word-1"}}
    assert connection_secrets(connection, schema) == ("name-one:pass-word-1", "pass-word-1")


def test_base64_cores_are_exactly_the_characters_the_secret_decides():
    """Each core is in the base64 of every byte string holding the secret at its offset, and no
    longer core would be: one character more on either side depends on the neighbouring bytes."""
    import random

    secret = b"s3cr3t/val"
    forms = derived_forms(secret.decode())
    rng = random.Random(7)
    for offset in range(3):
        texts = [
            base64.b64encode(rng.randbytes(offset) + secret + rng.randbytes(rng.randrange(3))).decode()
            for _ in range(40)
        ]
        shared = [form for form in forms if all(form in text for text in texts)]
        longest = max(shared, key=len)
        start = texts[0].index(longest)
        assert start == -(-8 * offset // 6)
        for text in texts:
            assert text[start : start + len(longest)] == longest
        wider = {text[max(start - 1, 0) : start + len(longest) + 1] for text in texts}
        assert len(wider) > 1  # a character more on either side is not decided by the secret
    plus = derived_forms("\xfb\xff\xfe-secret")  # bytes whose base64 holds "+" and "/"
    standard = [form for form in plus if "+" in form or "/" in form]
    assert standard and all(form.replace("+", "-").replace("/", "_") in plus for form in standard)


def test_a_non_ascii_secret_with_a_quote_is_masked_in_raw_json():
    secret = 'pä"ssw0rd'
    leak = json.dumps(secret, ensure_ascii=False)[1:-1]
    assert SecretMasker([secret]).mask_text(f"<{leak}>") == f"<{MASK}>"
    assert SecretMasker([secret]).mask_text(f"<{json.dumps(secret)[1:-1]}>") == f"<{MASK}>"


def test_count_percentage_leak_finds_the_longest_leaked_prefix():
    assert OutputMasker.count_percentage_leak("abcdef", "xxabcdxx") == ("abcd", 4 / 6)
    assert OutputMasker.count_percentage_leak("ab", "xa") == ("a", 0.5)
    assert OutputMasker.count_percentage_leak("ab", "zz") == ("", 0.0)
    assert OutputMasker.count_percentage_leak("", "abc") == ("", 0.0)


def test_mask_str_in_dict_masks_long_prefixes_of_the_secret():
    masked = OutputMasker.mask_str_in_dict("supersecretvalue", {"a": ["xx supersecretvalu yy"], "b": 3})
    assert masked == {"a": [f"xx {MASK} yy"], "b": 3}
    assert OutputMasker.mask_str_in_dict("supersecretvalue", {"a": "super only"}) == {"a": "super only"}


def test_extract_connection_values_by_given_keys_walks_nested_objects():
    connection = {"outer": {"password": "p1", "inner": {"password": "p0", "other": "x"}}, "password": "p2"}
    assert OutputMasker.extract_connection_values(connection, ["password"]) == ["p0", "p1", "p2"]
    assert OutputMasker.extract_connection_values(connection, ["missing"]) == []


def test_subclassed_texts_do_not_end_the_walk():
    masker = SecretMasker([SCAN_SECRET])
    text = type("Text", (str,), {})
    assert masker.touches([{"k": SCAN_SECRET}, text("plain")]) is True
    assert masker.touches([{"k": SCAN_SECRET}, bytearray(b"plain")]) is True
    assert masker.touches([{"k": SCAN_SECRET}, object()]) is True


def test_every_html_escape_is_a_form():
    import html

    secret = "a'b<c>d\"e&f"
    assert SecretMasker([secret]).mask_text(f"<p>{html.escape(secret)}</p>") == f"<p>{MASK}</p>"


def _within_seconds(function: Any, value: Any) -> Any:
    """``function(value)`` run in a daemon thread: a walk that never ends fails the test, not the run."""
    import threading

    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(function(value)), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive() and len(out) == 1, "the scan did not end on a cyclic value"
    return out[0]


def test_a_value_holding_itself_ends_the_scan():
    """A step's output with a parent link: the scan stops (no hang, no memory growth) and answers as
    for the same data without the link; writing it then fails as json.dumps fails on a cycle."""
    masker = SecretMasker([SCAN_SECRET])
    in_list: list[Any] = ["plain"]
    in_list.append(in_list)
    in_dict: dict[str, Any] = {"children": [{"name": "c"}]}
    in_dict["children"][0]["parent"] = in_dict
    for value in (in_list, in_dict):
        assert _within_seconds(masker.touches, value) is False
        assert _within_seconds(masker.mask, value) is value
    in_dict["children"][0]["note"] = f"has {SCAN_SECRET}"
    assert _within_seconds(masker.touches, in_dict) is True


def test_a_shared_container_is_scanned_once_and_still_masked():
    masker = SecretMasker([SCAN_SECRET])
    shared = [f"a {SCAN_SECRET}"]
    reply = {"first": shared, "second": [shared, shared]}
    assert masker.touches(reply)
    assert SCAN_SECRET not in json.dumps(masker.mask(reply))
    assert _masking._texts_in([["x"] * 3] * 1000) == ["x"] * 3  # one shared list: its texts once


def test_a_number_key_equal_to_a_pin_is_masked():
    """json.dumps writes a number key as its text ({48213: ...} -> {"48213": ...})."""
    masker = SecretMasker(["48213"])
    masked = masker.mask({48213: "x", "a": {48213.0: 1, 7: 2}, (1, 2): 3})
    assert masked == {MASK: "x", "a": {MASK: 1, 7: 2}, (1, 2): 3}
    assert "48213" not in json.dumps(masker.mask_envelope({"body": {"output": {48213: "x"}}}))


def test_mask_output_data_returns_a_copy_even_when_nothing_is_masked():
    """Masking returns data without a secret uncopied; the helper still gives a copy, so a plugin
    adding to its result does not change the output it passed in."""
    for connection in (CONNECTION, None):
        for output in ({"a": "nothing secret"}, ["nothing secret"]):
            masked = OutputMasker.mask_output_data(connection, output, SCHEMA)
            assert masked == output and masked is not output


# --- URL forms are derived without urllib.parse --------------------------------------------------------

from insightconnect_plugin_runtime._masking import _url_quoted  # noqa: E402


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_url_forms_equal_what_urllib_writes(secret):
    raw = secret.encode("utf-8")
    assert _url_quoted(raw) == quote(secret, safe="")
    assert _url_quoted(raw, keep=b"/") == quote(secret)
    assert _url_quoted(raw, space="+") == quote_plus(secret)


def test_url_forms_of_every_byte_value():
    every_byte = "".join(map(chr, range(128))) + "é€😀"
    assert _url_quoted(every_byte.encode()) == quote(every_byte, safe="")
    assert _url_quoted(every_byte.encode(), keep=b"/") == quote(every_byte)
    assert _url_quoted(every_byte.encode(), space="+") == quote_plus(every_byte)


def test_a_secret_with_a_lone_surrogate_is_masked_in_all_its_forms():
    secret = "b3n\ud800ch-s3cret"  # valid JSON ("\\ud800"), not encodable as strict UTF-8
    forms = derived_forms(secret)
    assert {"b3n%ED%A0%80ch-s3cret", "b3n%ed%a0%80ch-s3cret", "b3n\\ud800ch-s3cret"} <= forms
    masker = SecretMasker([secret])
    leaked = f"url=https://h/?p=b3n%ED%A0%80ch-s3cret json={json.dumps(secret)} raw={secret}"
    assert masker.mask_text(leaked) == f'url=https://h/?p={MASK} json="{MASK}" raw={MASK}'


def _invariant_base64(secret: bytes, offset: int) -> str:
    """The base64 characters fixed by ``secret`` alone when ``offset`` bytes of anything precede it
    and anything follows: the oracle for the cores, found by trying every surrounding byte."""
    variants = [
        base64.b64encode(bytes([fill]) * offset + secret + bytes([tail]) * 2).decode()
        for fill in (0x00, 0x5A, 0xFF)
        for tail in (0x00, 0xA5, 0xFF)
    ]
    fixed = "".join(chars[0] if len(set(chars)) == 1 else "?" for chars in zip(*variants, strict=True))
    return max(fixed.split("?"), key=len)


@pytest.mark.parametrize("secret", [b"abc", b"s3cr", b"hunter22", b"p\xc3\xa4ss-w0rd!", bytes(range(250, 256)) * 2])
def test_base64_cores_are_exactly_what_the_secret_fixes(secret):
    cores = list(_masking._base64_cores(secret))
    expected = [_invariant_base64(secret, offset) for offset in range(3)]
    wanted = []
    for core in expected:
        if len(core) >= 4:
            wanted += [core, core.replace("+", "-").replace("/", "_")]
    assert cores == wanted
    assert all(len(core) >= 4 for core in cores)


def test_a_three_byte_secret_keeps_its_four_character_core():
    assert "YWJj" in set(_masking._base64_cores(b"abc"))  # base64("abc") == "YWJj"


def test_non_ascii_secret_forms_are_written_out():
    forms = derived_forms("pä55wörd")
    assert "p\\xe455w\\xf6rd" in forms  # ascii()
    assert "p\\xc3\\xa455w\\xc3\\xb6rd" in forms  # repr() of its UTF-8 bytes
    assert "p\\\\xc3\\\\xa455w\\\\xc3\\\\xb6rd" in forms  # that, JSON-escaped
    assert "70c3a4353577c3b67264" in forms and "70C3A4353577C3B67264" in forms


def test_the_repr_form_of_a_secret_with_escapes_is_masked_whole():
    secret = "ab\x01cd'\"ef"  # repr escapes differently from JSON here: \x01 (not \u0001) and \'
    assert repr(secret)[1:-1] != json.dumps(secret)[1:-1]
    masker = SecretMasker([secret])
    assert masker.mask_text(f"value={secret!r}") == f"value='{MASK}'"
    assert masker.mask_text("x" + repr(secret)[1:-1] + "y") == f"x{MASK}y"


def test_a_json_body_quoted_as_bytes_in_an_error_is_masked():
    # botocore's ResponseParserError quotes the raw body: a secret JSON-escaped, then repr-escaped.
    secret = 'cnry0073ef49+/&"%='
    body = json.dumps({"headers": {"Authorization": f"AWS4-HMAC-SHA256 Credential={secret}/20261206"}}).encode()
    error = f"Unable to parse response, invalid XML received: {body!r}"
    assert secret not in error and json.dumps(secret)[1:-1] not in error
    masked = SecretMasker([secret]).mask_text(error)
    assert masked == error.replace('cnry0073ef49+/&\\\\"%=', MASK)
    assert "cnry" not in masked
