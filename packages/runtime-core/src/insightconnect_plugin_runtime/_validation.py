"""JSON Schema validation compiled once per schema, with jsonschema as the authority.

Importing jsonschema costs more than everything else a one-shot ``run`` does, and plugin schemas use a
small, regular subset of JSON Schema. So each schema is compiled into plain Python checks for that
subset (type, properties, required, items, enum, const, local ``$ref``, bounds, combinators...). The
compiled check only ever *accepts*: when it says "not valid", or when the schema uses a keyword it does
not model, jsonschema decides and produces the error, with the default draft and format assertions off,
because that is what plugins' schemas and tests were written against. A false accept is the only
possible bug, and a differential property test against jsonschema guards against it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

#: Keywords that constrain instances but are not modelled here: their presence means "ask jsonschema".
#: (``id`` is not among them: under the default draft it is an unknown word, and generated plugin
#: schemas put it in every credential definition.)
_UNMODELLED = frozenset(
    {
        "if",
        "then",
        "else",
        "dependentSchemas",
        "prefixItems",
        "contains",
        "patternProperties",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "multipleOf",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "dependentRequired",
        "dependencies",
        "additionalItems",
        "$dynamicRef",
        "$recursiveRef",
        "$id",
        "$anchor",
        "$schema",
        "$vocabulary",
        "$dynamicAnchor",
        "$recursiveAnchor",
    }
)


class Unmodelled(Exception):
    """The schema needs jsonschema's full implementation."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPE_CHECKS: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": _is_number,
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def _json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema defines it: booleans are not numbers, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return a is None and b is None


class _Compiler:
    def __init__(self, root: Any) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer in self.refs:
            return self.refs[pointer]
        match = re.fullmatch(r"#/(definitions|\$defs)/([^/~]+)", pointer)
        if match is None or not isinstance(self.root, dict):
            raise Unmodelled(pointer)
        target = (self.root.get(match.group(1)) or {}).get(match.group(2))
        if target is None:
            raise Unmodelled(pointer)
        resolved: list[Check] = []
        self.refs[pointer] = lambda value: resolved[0](value)
        resolved.append(self.compile(target))
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:  # noqa: C901 - one branch per keyword reads best
        if schema is True or schema == {}:
            return lambda value: True
        if schema is False:
            return lambda value: False
        if not isinstance(schema, dict):
            raise Unmodelled(schema)
        if _UNMODELLED.intersection(schema):
            raise Unmodelled(sorted(_UNMODELLED.intersection(schema)))
        checks: list[Check] = []

        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "type" in schema:
            names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            try:
                type_checks = [_TYPE_CHECKS[name] for name in names]
            except (KeyError, TypeError):
                raise Unmodelled(schema["type"]) from None
            checks.append(lambda v, tc=type_checks: any(check(v) for check in tc))
        if "enum" in schema:
            options = schema["enum"]
            if not isinstance(options, list):
                raise Unmodelled("enum")
            checks.append(lambda v, options=options: any(_json_equal(v, o) for o in options))
        if "const" in schema:
            checks.append(lambda v, c=schema["const"]: _json_equal(v, c))
        self._objects(schema, checks)
        self._arrays(schema, checks)
        self._scalars(schema, checks)
        for keyword, combine in (("allOf", all), ("anyOf", any)):
            if keyword in schema:
                branches = [self.compile(branch) for branch in schema[keyword]]
                checks.append(lambda v, b=branches, c=combine: c(check(v) for check in b))
        if "oneOf" in schema:
            branches = [self.compile(branch) for branch in schema["oneOf"]]
            checks.append(lambda v, b=branches: sum(1 for check in b if check(v)) == 1)
        if "not" in schema:
            negated = self.compile(schema["not"])
            checks.append(lambda v, n=negated: not n(v))

        if not checks:
            return lambda value: True
        if len(checks) == 1:
            return checks[0]
        return lambda v, checks=tuple(checks): all(check(v) for check in checks)

    def _objects(self, schema: dict[str, Any], checks: list[Check]) -> None:
        required = schema.get("required")
        if required:
            if not isinstance(required, list):
                raise Unmodelled("required")
            checks.append(lambda v, r=tuple(required): not isinstance(v, dict) or all(k in v for k in r))
        properties = {name: self.compile(sub) for name, sub in (schema.get("properties") or {}).items()}
        additional = schema.get("additionalProperties", True)
        extra = None if additional is True else self.compile(additional)
        if properties or extra is not None:

            def check_object(v: Any, props: dict[str, Check] = properties, extra: Check | None = extra) -> bool:
                if not isinstance(v, dict):
                    return True
                for key, item in v.items():
                    check = props.get(key)
                    if check is not None:
                        if not check(item):
                            return False
                    elif extra is not None and not extra(item):
                        return False
                return True

            checks.append(check_object)

    def _arrays(self, schema: dict[str, Any], checks: list[Check]) -> None:
        if "items" in schema:
            if isinstance(schema["items"], list):
                raise Unmodelled("items")
            item_check = self.compile(schema["items"])
            checks.append(lambda v, c=item_check: not isinstance(v, list) or all(c(item) for item in v))
        for keyword, test in (("minItems", lambda n, b: n >= b), ("maxItems", lambda n, b: n <= b)):
            if keyword in schema:
                checks.append(lambda v, b=schema[keyword], t=test: not isinstance(v, list) or t(len(v), b))

    def _scalars(self, schema: dict[str, Any], checks: list[Check]) -> None:
        for keyword, test in (("minLength", lambda n, b: n >= b), ("maxLength", lambda n, b: n <= b)):
            if keyword in schema:
                checks.append(lambda v, b=schema[keyword], t=test: not isinstance(v, str) or t(len(v), b))
        if "pattern" in schema:
            pattern = re.compile(schema["pattern"])
            checks.append(lambda v, p=pattern: not isinstance(v, str) or p.search(v) is not None)
        bounds: dict[str, Callable[[Any, Any], bool]] = {
            "minimum": lambda v, b: v >= b,
            "maximum": lambda v, b: v <= b,
            "exclusiveMinimum": lambda v, b: v > b,
            "exclusiveMaximum": lambda v, b: v < b,
        }
        for keyword, test in bounds.items():
            if keyword in schema:
                bound = schema[keyword]
                if not _is_number(bound):
                    raise Unmodelled(keyword)
                checks.append(lambda v, b=bound, t=test: not _is_number(v) or t(v, b))


def compile_fast_check(schema: Any) -> Check | None:
    """Plain-Python acceptance check for ``schema``, or ``None`` when only jsonschema can judge it."""
    try:
        return _Compiler(schema).compile(schema)
    except (Unmodelled, re.error, TypeError, AttributeError):
        return None


class CompiledSchema:
    """A schema prepared once: a fast acceptance check plus a lazily built jsonschema validator."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.fast_check = compile_fast_check(schema)
        self._validator: Any = None
        self._lock = threading.Lock()

    def _jsonschema_validator(self) -> Any:
        if self._validator is None:
            with self._lock:
                if self._validator is None:
                    from jsonschema.validators import validator_for

                    cls = validator_for(self.schema)
                    cls.check_schema(self.schema)
                    self._validator = cls(self.schema)
        return self._validator

    def is_valid(self, instance: Any) -> bool:
        if self.fast_check is not None and self.fast_check(instance):
            return True
        return bool(self._jsonschema_validator().is_valid(instance))

    def validate(self, instance: Any) -> None:
        """Raise ``jsonschema.ValidationError`` (the most relevant one) if ``instance`` is invalid."""
        if self.fast_check is not None and self.fast_check(instance):
            return
        from jsonschema.exceptions import best_match

        error = best_match(self._jsonschema_validator().iter_errors(instance))
        if error is not None:
            raise error


_cache: dict[int, tuple[Any, CompiledSchema]] = {}
_cache_lock = threading.Lock()


def compiled(schema: Any) -> CompiledSchema:
    """The compiled form of a schema object, built on first use and kept for the process."""
    key = id(schema)
    entry = _cache.get(key)
    if entry is not None and entry[0] is schema:
        return entry[1]
    with _cache_lock:
        result = CompiledSchema(schema)
        _cache[key] = (schema, result)
        return result


def describe_error(error: Any) -> str:
    """One line naming the failing field: ``at 'name': 'x' is not of type 'integer'``."""
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in getattr(error, "absolute_path", ()))
    where = path.lstrip(".") or "(top level)"
    message = getattr(error, "message", str(error))
    return f"at {where}: {message}"


def is_validation_error(error: BaseException) -> bool:
    """Whether ``error`` is jsonschema's ValidationError, without importing jsonschema to find out."""
    import sys

    module = sys.modules.get("jsonschema.exceptions")
    return module is not None and isinstance(error, module.ValidationError)


def coerce_integers(schema: Any, value: Any, root: Any = None, depth: int = 0) -> Any:
    """Turn integral floats (``8.0``) where ``schema`` says ``"type": "integer"`` into ints, in place.

    JSON Schema counts ``8.0`` as an integer, so it passes validation, but a step doing ``range(times)``
    would then fail with a TypeError (an HTTP 500 for a valid request). Only ``properties``, ``items``
    and local ``$ref``s are followed; anything else is left as it is. Returns the (possibly new) value.
    """
    if not isinstance(schema, dict) or depth > 32:
        return value
    root = schema if root is None else root
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return coerce_integers(target, value, root, depth + 1)
    kind = schema.get("type")
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind and "number" not in kind):
            return int(value)
        return value
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        for key, sub in schema["properties"].items():
            if key in value:
                value[key] = coerce_integers(sub, value[key], root, depth + 1)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            value[index] = coerce_integers(schema["items"], item, root, depth + 1)
    return value
