"""The public execution API: one table of step kinds, and a Reply that never needs an exception."""

from __future__ import annotations

import json

import pytest

import insightconnect_plugin_runtime as icon
from insightconnect_plugin_runtime import execution
from insightconnect_plugin_runtime._masking import MASK
from insightconnect_plugin_runtime.exceptions import LoggedException, MessageError, PluginException
from insightconnect_plugin_runtime.execution import Context, Reply, execute, refusal
from insightconnect_plugin_runtime.plugin import message_output_type

SECRET = "s3cr3t-value"
CONNECTION_SCHEMA = {
    "type": "object",
    "properties": {"password": {"$ref": "#/definitions/credential_secret_key"}},
    "definitions": {"credential_secret_key": {"type": "object"}},
}


class Opaque:
    """Something only the plugin's encoder can write."""

    def __init__(self, text):
        self.text = text


class Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Opaque):
            return o.text
        return super().default(o)


class Echo(icon.Action):
    def __init__(self):
        super().__init__("echo", "echo", icon.Input({"type": "object"}), None)

    def run(self, params={}):  # noqa: B006 - plugin style
        if params.get("fail"):
            raise PluginException(cause="failed", assistance="none")
        if params.get("exit"):
            raise SystemExit(3)
        if params.get("opaque"):
            return {"value": Opaque(params["opaque"])}
        if params.get("unwritable"):
            return {"value": object()}
        return {"echo": params.get("text")}


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT", raising=False)
    connection = icon.Connection(input=CONNECTION_SCHEMA)
    connection.connect = lambda params=None: None
    plugin = icon.Plugin(name="T", vendor="v", version="1.0.0", connection=connection, custom_encoder=Encoder)
    plugin.add_action(Echo())
    return plugin


def _message(**params):
    return {
        "type": "action_start",
        "version": "v1",
        "body": {"action": "echo", "connection": {"password": {"secretKey": SECRET}}, "input": params},
    }


def test_one_table_for_every_step_kind():
    assert [kind.name for kind in execution.STEP_KINDS] == ["action", "trigger", "task", "connection_test"]
    assert message_output_type == {
        "action_start": "action_event",
        "trigger_start": "trigger_event",
        "task_start": "task_event",
        "connection_test": "connection_test",
    }
    assert execution.kind_for_message({"type": "task_start"}) is execution.TASK
    assert execution.kind_for_message({"type": "nope"}) is None
    assert execution.kind_for_message([]) is None


def test_success_is_a_reply_with_every_transport_answer(plugin):
    reply = execute(plugin, _message(text="hi"))
    assert (reply.ok, reply.status, reply.http_status, reply.exit_code) == (True, "ok", 200, 0)
    assert reply.envelope["body"]["output"] == {"echo": "hi"}
    assert json.loads(reply.to_json())["type"] == "action_event"


@pytest.mark.parametrize(
    ("params", "http_status", "exit_code"),
    [({"fail": True}, 400, 1), ({"exit": True}, 500, 1)],
)
def test_a_failing_step_never_raises(plugin, params, http_status, exit_code):
    reply = execute(plugin, _message(**params))
    assert (reply.ok, reply.status, reply.http_status, reply.exit_code) == (False, "error", http_status, exit_code)
    assert reply.envelope["body"]["status"] == "error"


def test_an_unusable_message_is_a_usage_error_and_handle_step_still_raises(plugin):
    reply = execute(plugin, {"type": "action_start"})
    assert isinstance(reply.error, MessageError)
    assert (reply.http_status, reply.exit_code) == (400, 2)
    with pytest.raises(LoggedException) as raised:
        plugin.handle_step({"type": "action_start"})
    assert raised.value.output == reply.envelope


def test_unknown_steps_are_404(plugin):
    message = _message()
    message["body"]["action"] = "missing"
    assert execute(plugin, message).http_status == 404


def test_what_the_encoder_renders_is_masked(plugin):
    reply = execute(plugin, _message(opaque=f"token {SECRET}"))
    text = reply.to_json(Encoder)
    assert SECRET not in text
    assert reply.ok


def test_an_unwritable_reply_becomes_an_error_in_one_place(plugin):
    reply = execute(plugin, _message(unwritable=True))
    assert reply.ok
    text = reply.to_json(Encoder)
    body = json.loads(text)["body"]
    assert body["status"] == "error" and "output" not in body
    assert "cannot be written as JSON" in body["error"] == reply.unwritable
    assert (reply.ok, reply.status, reply.http_status, reply.exit_code) == (False, "error", 500, 1)


def test_a_refusal_is_masked_and_keeps_its_status(plugin):
    message = _message()
    reply = refusal(plugin, execution.ACTION, message, f"refused {SECRET}", 413)
    assert reply.http_status == 413
    assert SECRET not in reply.to_json()
    assert reply.envelope["type"] == "action_event"
    assert refusal(plugin, None, None, "no message", error=MessageError("no message")).exit_code == 2


def test_the_context_reaches_the_step(plugin):
    reply = execute(plugin, _message(text="x"), Context(is_test=True))
    assert reply.ok  # the action's test: Action.test returns {} by default
    assert reply.envelope["body"]["output"] != {"echo": "x"}


def test_reply_is_a_plain_value():
    reply = Reply({"body": {}, "version": "v1", "type": None})
    assert (reply.ok, reply.http_status, reply.exit_code, reply.to_json()) == (
        True,
        200,
        0,
        '{"body": {}, "version": "v1", "type": null}',
    )


class Tangled(icon.Action):
    """Returns data JSON cannot write: a parent link (a cycle), or nesting past the recursion limit."""

    def __init__(self):
        super().__init__("tangled", "tangled", icon.Input({"type": "object"}), None)

    def run(self, params={}):  # noqa: B006 - plugin style
        if params.get("deep"):
            deep: object = params.get("text", "end")
            for _ in range(100_000):
                deep = [deep]
            return {"value": deep}
        node = {"name": params.get("text", "node"), "children": []}
        node["children"].append({"parent": node})
        return {"value": node}


@pytest.mark.parametrize("deep", [False, True], ids=["cycle", "deep"])
@pytest.mark.parametrize("text", ["plain", f"has {SECRET}"], ids=["no-secret", "secret"])
def test_output_json_cannot_write_is_an_error_reply_never_an_exception(plugin, deep, text):
    plugin.add_action(Tangled())
    message = _message(deep=deep, text=text)
    message["body"]["action"] = "tangled"
    reply = execute(plugin, message)
    written = reply.to_json()
    assert SECRET not in written and SECRET not in repr(reply.envelope)
    body = json.loads(written)["body"]
    if SECRET in text:  # masking cannot copy it either: the output is masked whole (fails closed)
        assert body["output"] == MASK
    else:  # json.dumps refuses it: the reply says so
        assert body["status"] == "error" and reply.exit_code == 1
