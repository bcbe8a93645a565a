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


_ONE_SHOT = """
import contextlib, io, json, sys
import insightconnect_plugin_runtime as r

class Conn(r.Connection):
    def __init__(self):
        super().__init__(input=r.Input({"type": "object", "properties": {"password": {"type": "string",
                         "format": "password"}}}))
    def connect(self, params={}):
        pass

class Act(r.Action):
    def __init__(self):
        super().__init__("act", "act", r.Input({"type": "object"}), None)
    def run(self, params={}):
        RUN_BODY
        return {"ok": True}

plugin = r.Plugin(name="p", vendor="v", version="1.0.0", connection=Conn())
plugin.add_action(Act())
message = {"type": "action_start", "version": "v1",
           "body": {"action": "act", "input": {}, "connection": {"password": "pool-s3cret-value"}}}
sys.stdin = io.StringIO(json.dumps(message))
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = r.CLI(plugin, ["run"]).main()
print(json.dumps({"code": code, "reply": json.loads(out.getvalue()), "modules": sorted(sys.modules)}))
"""


def _one_shot(run_body: str) -> dict:
    script = _ONE_SHOT.replace("RUN_BODY", run_body)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "pool-s3cret-value" not in proc.stderr
    return json.loads(proc.stdout)


def test_a_one_shot_run_imports_no_thread_pool_and_no_url_parsing():
    script = "import sys, json\nprint(json.dumps(sorted(sys.modules)))"
    before = set(json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True).stdout))
    result = _one_shot("pass")
    assert result["code"] == 0
    loaded_by_the_run = set(result["modules"]) - before  # (this environment's site may load some itself)
    assert "insightconnect_plugin_runtime._runner" in loaded_by_the_run
    assert not {"concurrent.futures.thread", "urllib.parse", "base64"} & loaded_by_the_run


def test_a_pool_the_step_imports_late_is_still_attributed_and_masked():
    result = _one_shot(
        "from concurrent.futures import ThreadPoolExecutor\n"
        "        with ThreadPoolExecutor(2) as pool:\n"
        "            pool.submit(self.logger.info, 'from the pool pool-s3cret-value').result()"
    )
    assert result["code"] == 0
    assert "concurrent.futures.thread" in result["modules"]
    assert "from the pool ********" in result["reply"]["body"]["log"]
