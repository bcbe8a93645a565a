"""A plugin with planted bugs, one per oracle, and a clean step: what the kit must find and not find."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import PluginException

CONNECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "title": "URL", "default": "http://127.0.0.1:9"},
        "credentials": {"$ref": "#/definitions/credential_username_password"},
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
    },
    "required": ["credentials", "api_key"],
    "definitions": {
        "credential_username_password": {
            "type": "object",
            "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
            "required": ["username", "password"],
        },
        "credential_secret_key": {
            "type": "object",
            "properties": {"secretKey": {"type": "string"}},
            "required": ["secretKey"],
        },
    },
}
NUMBER_INPUT = {
    "type": "object",
    "properties": {"n": {"type": "integer", "minimum": -10, "maximum": 10}},
    "required": ["n"],
}
COUNT_OUTPUT = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}


class Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=CONNECTION_SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        self.password = params["credentials"]["password"]
        self.key = params["api_key"]["secretKey"]

    def test(self) -> dict[str, Any]:
        return {"success": True}


class _Action(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__(
            self.NAME,
            "planted",
            insightconnect_plugin_runtime.Input(NUMBER_INPUT),
            insightconnect_plugin_runtime.Output(COUNT_OUTPUT),
        )


class Fine(_Action):
    """Valid output, a PluginException for negative numbers: nothing to find."""

    NAME = "fine"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        if params["n"] < 0:
            raise PluginException(cause="Negative numbers are refused.", assistance="Give 0 or more.")
        self.logger.info(f"counting with key {self.connection.key}")  # masked by the runtime: not a leak
        return {"count": params["n"]}


class Crashy(_Action):
    NAME = "crashy"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        return {"count": {"a": 1}[("a" if params["n"] < 2 else "b")]}


class BadOutput(_Action):
    NAME = "bad_output"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        return {"count": "many"} if params["n"] > 2 else {"count": 1}


def _without_punctuation(secret: str) -> str:
    """The secret with its trailing punctuation cut (as a plugin logging "a key starting with ..."
    would): core's masker masks whole secrets only, the kit finds a marker's core."""
    return secret.rstrip('+/&"%=')


class LeakyPartial(_Action):
    """Most of the password in the output: core's masker masks whole secrets in every form it derives
    (hex, base64, JSON escapes... since issue 14), not a part of one."""

    NAME = "leaky_partial"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        return {"count": 1, "debug": _without_punctuation(self.connection.password)}


class LeakyLogger(_Action):
    """Most of the API key through a logger that is not the step logger (core masks that logger's lines,
    but only whole secrets)."""

    NAME = "leaky_logger"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        logging.getLogger("thirdparty.client").warning("calling with %s", _without_punctuation(self.connection.key))
        return {"count": 1}


class Remote(_Action):
    """Calls a remote service and lets its connection error escape unclassified."""

    NAME = "remote"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        import socket

        socket.create_connection(("198.51.100.20", 443), timeout=2).close()
        return {"count": 1}


STOP_RETRYING = threading.Event()


class Retrying(_Action):
    """Retries an unreachable service until the test sets ``STOP_RETRYING`` (a misconfigured SDK
    retrying without end; the flag lets the test end the thread before the network guard goes)."""

    NAME = "retrying"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        import socket

        while not STOP_RETRYING.is_set():
            try:
                socket.create_connection(("198.51.100.21", 443), timeout=2).close()
            except OSError:
                time.sleep(0.2)
        raise PluginException(cause="Gave up.", assistance="")


class Slow(_Action):
    NAME = "slow"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        time.sleep(2)
        return {"count": 1}


class Planted(insightconnect_plugin_runtime.Plugin):
    def __init__(self) -> None:
        super().__init__(name="Planted", vendor="tests", version="0.0.1", connection=Connection())
        for action in (Fine, Crashy, BadOutput, LeakyPartial, LeakyLogger, Remote, Retrying, Slow):
            self.add_action(action())


GOOD_CONNECTION = {
    "url": "http://127.0.0.1:9",
    "credentials": {"username": "alice", "password": "pw-0123456789"},
    "api_key": {"secretKey": "key-9876543210"},
}
