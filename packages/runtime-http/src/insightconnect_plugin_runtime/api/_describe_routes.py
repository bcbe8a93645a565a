"""The endpoints that describe the plugin: info, its spec file, the OpenAPI document, its steps.

They are read rarely, so what they serve is built on first use in each worker (YAML, package
metadata, the OpenAPI document), never on the hot path. Unknown steps are 404 here as on the step
endpoints: the registered steps decide, the spec file only adds titles and descriptions.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from flask import Response, request

from insightconnect_plugin_runtime.execution import ACTION, TASK, TRIGGER
from insightconnect_plugin_runtime.extensions import installed_distributions

from ._openapi import build_openapi
from ._plain_wsgi import JSON_TYPE
from ._responses import error_response, json_response
from ._spec import PluginSpec, load_spec

#: plugin.spec.yaml fields that /api/v1/info reports (null when the spec lacks one).
_INFO_FIELDS = tuple("name description version vendor plugin_spec_version title support tags enable_cache".split())


class DescribeEndpoints:
    """The description views of :class:`~.endpoints.Endpoints` (a mixin: the state is the app's)."""

    plugin: Any
    settings: Any
    connection_schema: Any
    include_admin: bool
    include_admin_status: bool
    _openapi_yaml: str | None

    @functools.cached_property
    def spec(self) -> PluginSpec:
        return load_spec()

    @functools.cached_property
    def openapi(self) -> dict[str, Any]:
        return build_openapi(self.plugin, self.include_admin, self.include_admin_status, self.settings.admin_enabled)

    @functools.cached_property
    def openapi_json(self) -> str:
        return json.dumps(self.openapi)

    @functools.cached_property
    def _info(self) -> dict[str, Any]:
        return self._build_info()

    def _register_describe(self, app: Any) -> None:
        get = {"methods": ["GET"]}
        app.add_url_rule("/api/v1/info", "plugin_info", self.info, **get)
        app.add_url_rule("/api/v1/spec", "plugin_spec", self.plugin_spec, **get)
        app.add_url_rule("/api/v1/api", "api_spec", self.api_spec, **get)
        app.add_url_rule("/api/v1/connection", "connection", self.connection_details, **get)
        for kind in (ACTION, TRIGGER, TASK):
            segment = kind.segment
            app.add_url_rule(f"/api/v1/{segment}", segment, self._lister(kind.registry), **get)
            app.add_url_rule(
                f"/api/v1/{segment}/<name>", f"{kind.name}_details", self._details(kind.name, kind.registry), **get
            )
        app.add_url_rule("/api/v1/definitions/actions", "action_definitions", self.action_definitions, **get)

    def _register_docs(self, app: Any) -> None:
        from flask_swagger_ui import get_swaggerui_blueprint

        blueprint = get_swaggerui_blueprint(
            "/api/v1/docs",
            "/api/v1/api",
            config={"app_name": f"{self.plugin.name} API"},
            blueprint_name="swagger_ui",
        )
        app.register_blueprint(blueprint)

    def _build_info(self) -> dict[str, Any]:
        data = self.spec.data
        plugin = self.plugin
        fallback = {
            "name": plugin.name,
            "description": plugin.description,
            "version": plugin.version,
            "vendor": plugin.vendor,
        }
        info = {name: data.get(name, fallback.get(name)) for name in _INFO_FIELDS}
        distributions = installed_distributions()
        info.update(
            {
                "number_of_workers": self.settings.workers,
                "threads": self.settings.threads,
                "sdk_version": distributions.get("icon-runtime-core", "0.0.0"),
                "runtime_distributions": distributions,
            }
        )
        return info

    def info(self) -> Response:
        return json_response(self._info)

    def _format(self) -> str | None:
        wanted = request.args.get("format", "json").lower()
        return wanted if wanted in ("json", "yaml") else None

    def plugin_spec(self) -> Response:
        wanted = self._format()
        if wanted is None:
            return error_response(422, "The format must be json or yaml.")
        if not self.spec.found:
            return error_response(404, "The plugin has no plugin.spec.yaml where the server looked for it.")
        if wanted == "yaml":
            return Response(self.spec.text, mimetype="application/yaml")
        return json_response(self.spec.data)

    def api_spec(self) -> Response:
        wanted = self._format()
        if wanted is None:
            return error_response(422, "The format must be json or yaml.")
        if wanted == "yaml":
            if self._openapi_yaml is None:
                import yaml

                self._openapi_yaml = yaml.safe_dump(self.openapi, sort_keys=False)
            return Response(self._openapi_yaml, mimetype="application/yaml")
        return Response(self.openapi_json, mimetype=JSON_TYPE)

    def connection_details(self) -> Response:
        schema = self.connection_schema or {}
        fields = ("properties", "required", "title", "type")
        return json_response({name: schema.get(name) for name in fields if name in schema})

    def _lister(self, segment: str) -> Any:
        def names() -> Response:
            return json_response(list(getattr(self.plugin, segment)))

        names.__name__ = segment
        return names

    def _details(self, kind: str, segment: str) -> Any:
        def details(name: str) -> Response:
            step = getattr(self.plugin, segment).get(name)
            if step is None:
                return error_response(404, f"The plugin has no {kind} named {name!r}.")
            entry = self.spec.section(segment, name)
            fields = ("description", "title", "input", "output") + (("schedule", "state") if kind == "task" else ())
            if entry is not None:
                return json_response({k: entry[k] for k in fields if k in entry})
            result = {
                "description": getattr(step, "description", ""),
                "title": name,
                "input": getattr(step.input, "schema", None),
                "output": getattr(step.output, "schema", None),
            }
            if kind == "task":
                result["state"] = getattr(getattr(step, "state", None), "schema", None)
            return json_response(result)

        details.__name__ = f"{kind}_details"
        return details

    def action_definitions(self) -> Response:
        definitions = [
            {"identifier": name, "inputJsonSchema": getattr(action.input, "schema", None) or {}}
            for name, action in self.plugin.actions.items()
        ]
        return json_response({"actionsDefinitions": definitions})
