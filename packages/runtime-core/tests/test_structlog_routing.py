"""Direct ``structlog.get_logger(...)`` use in a step, in CLI mode: body.log and stderr, masked, never stdout.

Each run is a separate process: structlog's configuration and the import hook are process-wide.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from pathlib import Path

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "example"
SECRET = "example-secret-key-123"

FORMS = (SECRET, base64.b64encode(f"token:{SECRET}".encode()).decode())


def structlog_step() -> str:
    msg = json.loads((SAMPLE / "messages" / "raise_error.json").read_text())
    msg["body"]["input"]["kind"] = "structlog"
    return json.dumps(msg)


def test_cli_on_prem_lines_in_body_log_and_stderr_not_stdout(run_cli):
    result = run_cli("run", stdin=structlog_step())
    assert result.code == 0, result.stderr
    assert result.stdout.count("\n") == 1  # the reply and nothing else
    log = result.reply["body"]["log"]
    assert "Direct structlog line url=https://api.example.com/?key=********" in log
    assert "Direct structlog formatted line, Authorization: Basic" in log
    assert "Unnamed structlog line key=******** name_=clash" in log
    assert "INFO     Direct structlog line url=https://api.example.com/?key=********" in result.stderr
    assert "ERROR    Unnamed structlog line" in result.stderr
    for form in FORMS:
        assert form not in result.stdout and form not in result.stderr


def test_cli_cloud_stderr_is_json_lines(run_cli, cli_env):
    env = {**cli_env, "PLUGIN_RUNTIME_ENVIRONMENT": "cloud"}
    result = run_cli("run", stdin=structlog_step(), env=env)
    assert result.code == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]  # all JSON
    by_message = {r["message"]: r for r in records}
    assert by_message["Direct structlog line"]["url"] == "https://api.example.com/?key=********"
    assert by_message["Direct structlog line"]["logger"] == "plugin.example helpers"
    assert by_message["Unnamed structlog line"] == {
        **by_message["Unnamed structlog line"],
        "level": "error",
        "logger": "plugin",
        "key": "********",
    }
    assert "Direct structlog line" in result.reply["body"]["log"]
    for form in FORMS:
        assert form not in result.stdout and form not in result.stderr


def _run_in_process(code: str) -> dict:
    """Run ``code`` (a plugin defined and run through ``CLI.main``) in a fresh interpreter."""
    script = textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return {"stdout": out.stdout, "stderr": out.stderr}


PLUGIN = """
    import io, json, sys
    import insightconnect_plugin_runtime as icon

    class Convert(icon.Action):
        def __init__(self):
            super().__init__("convert", "convert", icon.Input({"type": "object"}), None)

        def run(self, params={}):
            LOG_DIRECTLY()
            return {"done": True}

    plugin = icon.Plugin(name="P", vendor="v", version="1.0.0")
    plugin.add_action(Convert())
    message = {"type": "action_start", "version": "v1", "body": {"action": "convert", "input": {}}}
    cli = icon.CLI(plugin, ["run"])
    cli.stdin, cli.stdout = io.StringIO(json.dumps(message)), io.StringIO()
    code = cli.main()
    reply = json.loads(cli.stdout.getvalue())
"""


def test_module_level_structlog_import_like_a_plugin_helper():
    # The html plugin's helpers: ``import structlog`` at the top, ``structlog.getLogger(name)`` later.
    out = _run_in_process(
        "import structlog\n"
        + textwrap.dedent(PLUGIN).replace(
            "LOG_DIRECTLY()",
            'structlog.getLogger("action logger")'
            '.error("Failed to delete file", file_name="x.pdf", exception=OSError(2))',
        )
        + "print(json.dumps({'code': code, 'log': reply['body']['log']}))\n"
    )
    result = json.loads(out["stdout"])  # stdout holds only what the script printed
    assert result["code"] == 0
    assert "Failed to delete file" in result["log"] and "file_name=x.pdf" in result["log"]
    assert "ERROR    Failed to delete file" in out["stderr"]


def test_runs_that_do_not_use_structlog_do_not_import_it():
    out = _run_in_process(
        textwrap.dedent(PLUGIN).replace("LOG_DIRECTLY()", "pass")
        + "print(json.dumps({'code': code, 'structlog': 'structlog' in sys.modules}))\n"
    )
    assert json.loads(out["stdout"]) == {"code": 0, "structlog": False}


def test_a_plugins_own_structlog_configuration_is_left_alone():
    out = _run_in_process(
        "import structlog\n"
        "from structlog.testing import LogCapture\n"
        "capture = LogCapture()\n"
        "structlog.configure(processors=[capture])\n"
        + textwrap.dedent(PLUGIN).replace("LOG_DIRECTLY()", 'structlog.get_logger().info("mine", k=1)')
        + "print(json.dumps({'code': code, 'captured': capture.entries, 'log': reply['body']['log']}))\n"
    )
    result = json.loads(out["stdout"])
    assert result["code"] == 0
    assert result["captured"] == [{"k": 1, "event": "mine", "log_level": "info"}]
    assert "mine" not in result["log"]


def test_import_hook_survives_find_spec_and_leaves_after_the_import():
    out = _run_in_process(
        """
        import importlib.util, json, sys
        from insightconnect_plugin_runtime._logging import configure_console
        from insightconnect_plugin_runtime._after_import import waiting
        from insightconnect_plugin_runtime._structlog_routing import PluginLoggerFactory

        configure_console(json_lines=False)
        hooked = "structlog" in waiting()
        assert importlib.util.find_spec("structlog") is not None  # a look-up, not an import
        assert "structlog" not in sys.modules
        import structlog

        print(json.dumps({
            "hooked_before": hooked,
            "hooked_after": "structlog" in waiting(),
            "ours": isinstance(structlog.get_config()["logger_factory"], PluginLoggerFactory),
            "resources": structlog.__spec__.loader.get_resource_reader("structlog") is not None,
        }))
        """
    )
    assert json.loads(out["stdout"]) == {"hooked_before": True, "hooked_after": False, "ours": True, "resources": True}


def test_exception_through_structlog_keeps_the_traceback_on_the_console_only():
    out = _run_in_process(
        "import structlog\n"
        + textwrap.dedent(PLUGIN).replace(
            "LOG_DIRECTLY()",
            'exec("try:\\n    1 / 0\\nexcept ZeroDivisionError:\\n'
            '    structlog.get_logger(\\"calc\\").exception(\\"Division failed\\", key=1)")',
        )
        + "print(json.dumps({'code': code, 'log': reply['body']['log']}))\n"
    )
    result = json.loads(out["stdout"])
    assert result["log"].endswith("Division failed key=1\n")  # no traceback in the reply
    assert "ERROR    Division failed key=1" in out["stderr"] and "ZeroDivisionError" in out["stderr"]
