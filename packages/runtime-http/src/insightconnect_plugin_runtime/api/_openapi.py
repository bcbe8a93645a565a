"""An OpenAPI 3.1 document generated from the plugin's own schemas.

Clients generate code and forms from it, so every step contributes its real input, output and state
schemas as components; the ``{name}`` path parameters are enums of the registered step names, and
the request/response bodies are ``oneOf`` the per-step messages, each pinned to its step by a
``const``. The plugin schemas' ``#/definitions/...`` references are moved under
``#/components/schemas`` with a per-schema prefix so that references resolve inside the document.

Plugin schemas sometimes carry a ``default`` or ``example`` that fails the schema it sits in (a
string default on an array, ``1`` for a string enum). Copied as they are, those make the whole
document invalid OpenAPI 3.1 and Swagger UI pre-fills forms with values the server then rejects.
Such a value is left out and kept beside the schema as ``x-invalid-default`` / ``x-invalid-example``
so nothing is hidden; :func:`invalid_schema_values` lists them for the server's start-up log.

The document is built once when the app is created and served from memory.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from insightconnect_plugin_runtime.execution import ACTION, TASK, TRIGGER

OPENAPI_VERSION = "3.1.0"
API_TITLE = "InsightConnect Plugin Runtime API"

_KINDS = tuple(
    (kind.name, kind.registry, kind.start_type, kind.event_type, kind.segment) for kind in (ACTION, TRIGGER, TASK)
)

_OBJECT = {"type": "object"}


def _schema_of(variable: Any) -> dict[str, Any] | None:
    schema = getattr(variable, "schema", variable)
    return schema if isinstance(schema, dict) else None


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def add_plugin_schema(self, prefix: str, schema: dict[str, Any] | None, title: str | None = None) -> dict[str, Any]:
        """Register ``schema`` (and its definitions) under ``prefix``; return a ``$ref`` to it.

        ``title`` replaces the plugin's own (usually just "Variables") so that Swagger UI's model list
        names the step.
        """
        if not schema:
            self.schemas[prefix] = {**_OBJECT, "title": title} if title else dict(_OBJECT)
            return {"$ref": f"#/components/schemas/{prefix}"}
        schema = copy.deepcopy(schema)
        schema.pop("$schema", None)
        definitions = schema.pop("definitions", None) or {}
        defs_prefix = f"{prefix}.definitions."
        for name, definition in definitions.items():
            self.schemas[defs_prefix + name] = _rewrite_refs(definition, defs_prefix)
        self.schemas[prefix] = _rewrite_refs(schema, defs_prefix)
        if title:
            self.schemas[prefix]["title"] = title
        return {"$ref": f"#/components/schemas/{prefix}"}

    def ref(self, name: str, schema: dict[str, Any]) -> dict[str, Any]:
        self.schemas[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}


def _rewrite_refs(value: Any, defs_prefix: str) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str) and item.startswith("#/definitions/"):
                out[key] = "#/components/schemas/" + defs_prefix + item[len("#/definitions/") :]
            else:
                out[key] = _rewrite_refs(item, defs_prefix)
        return out
    if isinstance(value, list):
        return [_rewrite_refs(item, defs_prefix) for item in value]
    return value


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    texts = {
        400: "The message is malformed, fails its schema, or the step reported a client or plugin error.",
        404: "No step of that name.",
        413: "The body is over ICON_RUNTIME_MAX_BODY_BYTES or holds more JSON containers or values than allowed.",
        500: "The step failed unexpectedly or returned output that fails its schema.",
        501: "The connection implements no test.",
        503: "The server is shutting down.",
    }
    return {str(code): _json_body({"$ref": "#/components/schemas/ErrorEnvelope"}, texts[code]) for code in codes}


def _name_parameter(names: list[str], kind: str) -> dict[str, Any]:
    return {
        "name": "name",
        "in": "path",
        "required": True,
        "description": f"The {kind} to run, as registered by the plugin.",
        "schema": {"type": "string", "enum": names},
    }


def _simple_get(summary: str, schema: dict[str, Any], tag: str = "plugin") -> dict[str, Any]:
    return {"get": {"summary": summary, "tags": [tag], "responses": {"200": _json_body(schema, "OK")}}}


def build_openapi(
    plugin: Any, include_admin: bool, include_admin_status: bool, include_workers: bool = True
) -> dict[str, Any]:
    return _build(plugin, include_admin, include_admin_status, include_workers)[0]


def _build(
    plugin: Any, include_admin: bool, include_admin_status: bool, include_workers: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """The document, and what :func:`_set_aside_invalid_values` left out of it."""
    components = _Components()
    connection_schema = _schema_of(getattr(plugin.connection, "schema", None))
    connection_ref = components.add_plugin_schema("connection", connection_schema, "connection parameters")
    components.ref("Meta", {"type": ["object", "null"], "description": "Where the message comes from."})
    components.ref(
        "ErrorEnvelope",
        {
            "type": "object",
            "description": "A failed step (v1 envelope) or a request the server refused.",
            "properties": {
                "body": {"type": "object"},
                "version": {"type": "string"},
                "type": {"type": ["string", "null"]},
                "error": {"type": "string"},
                "code": {"type": "integer"},
            },
        },
    )
    # A connection whose schema requires fields is rejected when absent (400), so the document says so.
    needs_connection = ["connection"] if (connection_schema or {}).get("required") else []
    paths: dict[str, Any] = {}
    for kind, registry_name, start_type, event_type, segment in _KINDS:
        registry = getattr(plugin, registry_name, None) or {}
        names = sorted(registry)
        if not names:
            continue
        starts, test_starts, events = [], [], []
        for name in names:
            step = registry[name]
            prefix = f"{kind}.{name}"
            input_ref = components.add_plugin_schema(f"{prefix}.input", _schema_of(step.input), f"{name} input")
            output_ref = components.add_plugin_schema(f"{prefix}.output", _schema_of(step.output), f"{name} output")
            body_props: dict[str, Any] = {
                kind: {"const": name},
                "meta": {"$ref": "#/components/schemas/Meta"},
                "connection": connection_ref,
                "input": input_ref,
            }
            required = [kind, *needs_connection]
            # A test runs the connection's (or step's) test: input and state are not validated there.
            test_required = list(required)
            if (_schema_of(step.input) or {}).get("required"):
                required.append("input")
            else:  # null stands for {} (nothing required, so it is accepted)
                body_props["input"] = {"anyOf": [input_ref, {"type": "null"}]}
            event_body: dict[str, Any] = {
                "log": {"type": "string"},
                "status": {"enum": ["ok"]},
                "meta": {"$ref": "#/components/schemas/Meta"},
                "output": output_ref,
            }
            if kind == "task":
                state_schema = _schema_of(getattr(step, "state", None))
                state_ref = components.add_plugin_schema(f"{prefix}.state", state_schema, f"{name} state")
                body_props["state"] = state_ref
                body_props["custom_config"] = {"type": ["object", "null"]}
                required.append("state")
                event_body.update(
                    {"state": state_ref, "has_more_pages": {"type": "boolean"}, "status_code": {"type": "integer"}}
                )
            if kind == "trigger":
                body_props["dispatcher"] = {
                    "type": ["object", "null"],
                    "properties": {"url": {"type": ["string", "null"]}, "webhook_url": {"type": ["string", "null"]}},
                }
            start_schema = {
                "type": "object",
                "title": f"{name} start message",
                "description": str(getattr(step, "description", "") or ""),
                "required": ["type", "version", "body"],
                "properties": {
                    "type": {"const": start_type},
                    "version": {"const": "v1"},
                    "body": {"type": "object", "required": required, "properties": body_props},
                },
            }
            starts.append(components.ref(f"{prefix}.start", start_schema))
            test_schema = dict(start_schema, title=f"{name} test message")
            test_props = dict(body_props, input={"type": ["object", "null"]})
            if kind == "task":
                test_props["state"] = {}
            test_schema["properties"] = dict(
                start_schema["properties"],
                body={"type": "object", "required": test_required, "properties": test_props},
            )
            test_starts.append(components.ref(f"{prefix}.test", test_schema))
            events.append(
                components.ref(
                    f"{prefix}.event",
                    {
                        "type": "object",
                        "title": f"{name} reply",
                        "properties": {
                            "type": {"const": event_type},
                            "version": {"const": "v1"},
                            "body": {"type": "object", "required": ["status", "output"], "properties": event_body},
                        },
                    },
                )
            )
        parameter = _name_parameter(names, kind)
        request = {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": starts}}},
        }
        test_request = {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": test_starts}}},
        }
        reply = _json_body({"oneOf": events}, "The step's reply envelope.")
        operations: dict[str, Any] = {
            "get": {
                "summary": f"Describe one {kind}",
                "tags": [segment],
                "parameters": [parameter],
                "responses": {"200": _json_body(_OBJECT, "The spec entry of the step."), **_errors(404)},
            }
        }
        if kind != "trigger":
            operations["post"] = {
                "summary": f"Run a {kind}",
                "tags": [segment],
                "parameters": [parameter],
                "requestBody": request,
                "responses": {"200": reply, **_errors(400, 404, 413, 500, 503)},
            }
        paths[f"/api/v1/{segment}/{{name}}"] = operations
        paths[f"/api/v1/{segment}/{{name}}/test"] = {
            "post": {
                "summary": f"Test a {kind} (its connection test, or the step's test method)",
                "tags": [segment],
                "parameters": [parameter],
                "requestBody": test_request,
                "responses": {
                    "200": _json_body(_OBJECT, "The test's reply envelope."),
                    **_errors(400, 404, 413, 500, 503),
                },
            }
        }
        paths[f"/api/v1/{segment}"] = _simple_get(
            f"Names of the {segment}", {"type": "array", "items": {"type": "string"}}
        )
    connection_start = components.ref(
        "connection.start",
        {
            "type": "object",
            "required": ["type", "version", "body"],
            "properties": {
                "type": {"const": "connection_test"},
                "version": {"const": "v1"},
                "body": {
                    "type": "object",
                    "required": needs_connection,
                    "properties": {"connection": connection_ref, "meta": {"$ref": "#/components/schemas/Meta"}},
                },
            },
        },
    )
    paths["/api/v1/connection/{connection_test_type}"] = {
        "post": {
            "summary": "Test the connection",
            "tags": ["connection"],
            "parameters": [
                {
                    "name": "connection_test_type",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": ["test", "test_task"]},
                }
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": connection_start}}},
            "responses": {
                "200": _json_body(_OBJECT, "The connection works."),
                "204": {"description": "The test returned no output."},
                **_errors(400, 404, 413, 500, 501, 503),
            },
        }
    }
    paths["/api/v1/connection"] = _simple_get("The connection's JSON schema", _OBJECT, "connection")
    paths["/api/v1/info"] = _simple_get("Plugin identity, server settings and runtime distributions", _OBJECT)
    paths["/api/v1/spec"] = _simple_get("plugin.spec.yaml (?format=json|yaml)", _OBJECT)
    paths["/api/v1/api"] = _simple_get("This document (?format=json|yaml)", _OBJECT)
    paths["/api/v1/status"] = _simple_get("Static status", _OBJECT, "server")
    paths["/api/v1/definitions/actions"] = _simple_get("Input schema of every action", _OBJECT)
    paths["/api/v1/workers"] = _simple_get("Number of gunicorn workers", _OBJECT, "server")
    paths["/api/v1/health/live"] = _simple_get("Liveness probe", _OBJECT, "server")
    paths["/api/v1/health/ready"] = {
        "get": {
            "summary": "Readiness probe: 503 once shutdown started",
            "tags": ["server"],
            "responses": {"200": _json_body(_OBJECT, "Ready"), "503": _json_body(_OBJECT, "Shutting down")},
        }
    }
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus metrics of every worker",
            "tags": ["server"],
            "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }
    }
    unauthorized = {"401": _json_body(_OBJECT, "The admin token is configured and was not given")}
    for action in ("add", "remove") if include_workers else ():
        refusals = {"400": _json_body(_OBJECT, "Refused")}
        if action == "add":
            refusals["409"] = _json_body(_OBJECT, "Already at ICON_RUNTIME_MAX_WORKERS")
        paths[f"/api/v1/workers/{action}"] = {
            "post": {
                "summary": f"{action.title()} one gunicorn worker",
                "tags": ["server"],
                "responses": {"200": _json_body(_OBJECT, "OK"), **refusals, **unauthorized},
            }
        }
    if include_admin:
        paths["/api/v1/admin/shutdown"] = {
            "post": {
                "summary": "Refuse new step work, let running work finish, then stop",
                "tags": ["server"],
                "responses": {"200": _json_body(_OBJECT, "Accepted"), **unauthorized},
            }
        }
    if include_admin_status:
        paths["/api/v1/admin/status"] = _simple_get("Shutdown state and step work in flight", _OBJECT, "server")
    set_aside = _set_aside_invalid_values(components.schemas)
    document = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": API_TITLE,
            "version": str(getattr(plugin, "version", "") or "0.0.0"),
            "description": f"{plugin.vendor}/{plugin.name}: {plugin.description}",
        },
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": components.schemas},
    }
    return document, set_aside


#: Keywords whose value must satisfy the schema they sit in, and the annotation each is moved to.
_CHECKED_VALUES = {"default": "x-invalid-default", "example": "x-invalid-example"}


def _subschemas(schema: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object inside ``schema`` (itself included), with its JSON pointer.

    Only keywords that hold schemas are followed, so a property *named* ``default`` or an
    ``enum`` value that looks like a schema is never mistaken for one.
    """
    if not isinstance(schema, dict):
        return
    yield pointer, schema
    for keyword in ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames"):
        if isinstance(schema.get(keyword), dict):
            yield from _subschemas(schema[keyword], f"{pointer}/{keyword}")
    for keyword in ("items", "prefixItems", "allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(keyword), list):
            for index, item in enumerate(schema[keyword]):
                yield from _subschemas(item, f"{pointer}/{keyword}/{index}")
    for keyword in ("properties", "patternProperties", "definitions", "$defs", "dependentSchemas"):
        if isinstance(schema.get(keyword), dict):
            for name, item in schema[keyword].items():
                escaped = name.replace("~", "~0").replace("/", "~1")
                yield from _subschemas(item, f"{pointer}/{keyword}/{escaped}")


_SECRET_WORDS = ("password", "secret", "token", "credential", "api_key", "apikey", "private")


def _looks_secret(pointer: str, subschema: dict[str, Any]) -> bool:
    """A credential field (by format, referenced definition or name): its value is not logged."""
    described = f"{pointer} {subschema.get('$ref', '')} {subschema.get('format', '')}".lower()
    return any(word in described for word in _SECRET_WORDS)


def _set_aside_invalid_values(schemas: dict[str, Any]) -> list[str]:
    """Move each ``default``/``example`` that fails its own schema to an ``x-`` annotation.

    Validation is JSON Schema 2020-12, the dialect of an OpenAPI 3.1 document, with ``$ref`` resolved
    against the document's components, as an OpenAPI validator does it. Returns one line per value
    moved, naming the component and where in it.
    """
    from jsonschema import Draft202012Validator  # a core dependency; loaded only when a document is built

    moved: list[str] = []
    components = {"schemas": schemas}
    for name, root in schemas.items():
        for pointer, subschema in list(_subschemas(root, "")):
            for keyword, annotation in _CHECKED_VALUES.items():
                if keyword not in subschema:
                    continue
                value = subschema[keyword]
                rules = {key: item for key, item in subschema.items() if key not in _CHECKED_VALUES}
                # "#/components/schemas/..." references resolve inside this wrapper like in the document.
                try:
                    error = next(Draft202012Validator({**rules, "components": components}).iter_errors(value), None)
                except Exception as problem:  # noqa: BLE001 - an unresolvable schema: the value cannot be checked
                    error = problem
                if error is None:
                    continue
                subschema[annotation] = subschema.pop(keyword)
                if _looks_secret(pointer, subschema):  # the log never shows a credential field's value
                    shown = "(value withheld: credential field)"
                    reason = f"fails '{getattr(error, 'validator', 'its schema')}'"
                else:
                    shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
                    reason = getattr(error, "message", None) or str(error)
                moved.append(f"{name}{pointer}: {keyword} {shown} left out of the document ({reason[:200]})")
    return moved


def invalid_schema_values(plugin: Any) -> list[str]:
    """The ``default``/``example`` values of the plugin's schemas that the document leaves out.

    The server logs these once at start so the plugin's author hears about them; the document
    itself keeps them as ``x-invalid-default``/``x-invalid-example``.
    """
    return _build(plugin, include_admin=False, include_admin_status=False)[1]
