"""A bare import stays light: no HTTP stack, no AWS, no OpenTelemetry, not even jsonschema."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "flask",
    "werkzeug",
    "gunicorn",
    "requests",
    "urllib3",
    "boto3",
    "botocore",
    "opentelemetry",
    "apispec",
    "marshmallow",
    "jsonschema",
    "structlog",
)


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in json.loads(out)}


def test_bare_import_loads_nothing_heavy():
    loaded = _modules_after("import insightconnect_plugin_runtime")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_public_classes_load_without_the_http_stack():
    loaded = _modules_after(
        "import insightconnect_plugin_runtime as r\n"
        "r.Plugin, r.Action, r.Trigger, r.Task, r.Connection, r.Input, r.Output, r.State, r.CLI\n"
        "import insightconnect_plugin_runtime.exceptions, insightconnect_plugin_runtime.util"
    )
    assert not loaded & {"flask", "werkzeug", "gunicorn", "requests", "urllib3", "boto3", "opentelemetry"}


def test_submodules_reachable_as_attributes():
    import insightconnect_plugin_runtime as runtime

    assert runtime.exceptions.PluginException
    assert runtime.util.is_running_in_cloud() in (True, False)
    assert runtime.plugin.message_output_type["action_start"] == "action_event"
