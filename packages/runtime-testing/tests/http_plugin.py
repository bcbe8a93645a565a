"""A plugin that calls an HTTP API at its connection's ``url``: one careful action, one naive one (lets
HTTP errors and malformed JSON escape unclassified), a task paging with a cursor state, and a trigger
that sleeps a minute between polls and checkpoints a cursor."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from typing import Any

import insightconnect_plugin_runtime
from insightconnect_plugin_runtime.exceptions import PluginException

CONNECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "title": "URL", "default": "http://127.0.0.1:9"},
        "api_key": {"$ref": "#/definitions/credential_secret_key"},
        "timeout": {"type": "integer", "minimum": 1, "maximum": 30, "default": 5},
    },
    "required": ["url", "api_key"],
    "definitions": {
        "credential_secret_key": {
            "type": "object",
            "properties": {"secretKey": {"type": "string"}},
            "required": ["secretKey"],
        }
    },
}
LIMIT_INPUT = {"type": "object", "properties": {"limit": {"type": "integer", "minimum": 1, "maximum": 5}}}
COUNT_OUTPUT = {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}


class Connection(insightconnect_plugin_runtime.Connection):
    def __init__(self) -> None:
        super().__init__(input=CONNECTION_SCHEMA)

    def connect(self, params: dict[str, Any]) -> None:
        if not str(params.get("url", "")).startswith(("http://", "https://")):
            raise PluginException(cause="The URL is not an HTTP URL.", assistance="Give http(s)://host.")
        self.url = params["url"].rstrip("/")
        self.key = params["api_key"]["secretKey"]
        self.timeout = params.get("timeout", 5)

    def get(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path, headers={"X-Api-Key": self.key})
        with urllib.request.urlopen(request, timeout=self.timeout) as reply:
            return reply.read()

    def test(self) -> dict[str, Any]:
        try:
            self.get("/ping")
        except (OSError, ValueError, http.client.HTTPException) as error:
            raise insightconnect_plugin_runtime.exceptions.ConnectionTestException(
                cause="The API cannot be reached.", assistance="Check the URL.", data=str(error)
            ) from None
        return {"success": True}


class _Action(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__(
            self.NAME,
            "",
            insightconnect_plugin_runtime.Input(LIMIT_INPUT),
            insightconnect_plugin_runtime.Output(COUNT_OUTPUT),
        )


class FetchCareful(_Action):
    NAME = "fetch_careful"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        try:
            items = json.loads(self.connection.get(f"/items?limit={params.get('limit', 1)}"))["items"]
            return {"count": len(items) if isinstance(items, list) else 0}
        except (OSError, ValueError, KeyError, TypeError, http.client.HTTPException) as error:
            raise PluginException(cause="The API answered badly.", assistance="Retry later.", data=str(error)) from None


class FetchNaive(_Action):
    NAME = "fetch_naive"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        return {"count": len(json.loads(self.connection.get(f"/items?limit={params.get('limit', 1)}"))["items"])}


class PageTask(insightconnect_plugin_runtime.Task):
    """Fetches ``/pages/<cursor>``; the state is the next cursor."""

    def __init__(self) -> None:
        super().__init__(
            "pages",
            "",
            insightconnect_plugin_runtime.Input({"type": "object", "properties": {}}),
            insightconnect_plugin_runtime.Output({"type": "array", "items": {"type": "object"}}),
            insightconnect_plugin_runtime.State({"type": "object"}),
        )

    def run(self, params: dict[str, Any] = {}, state: dict[str, Any] = {}, custom_config: dict[str, Any] = {}):  # noqa: B006
        page = json.loads(self.connection.get(f"/pages/{state.get('cursor', 0)}"))
        return page["events"], {"cursor": page["next"]}, bool(page["more"]), 200, None


class Poller(insightconnect_plugin_runtime.Trigger):
    """Polls ``/events?after=<cursor>`` and sleeps a minute between polls; checkpoints after sending."""

    def __init__(self) -> None:
        super().__init__(
            "poll",
            "",
            insightconnect_plugin_runtime.Input({"type": "object", "properties": {}}),
            insightconnect_plugin_runtime.Output({"type": "object"}),
        )

    def run(self, params: dict[str, Any] = {}) -> None:  # noqa: B006
        while True:
            cursor = self.state.get("cursor", 0)
            for event in json.loads(self.connection.get(f"/events?after={cursor}"))["events"]:
                self.send(event)
                self.state["cursor"] = event["id"]
                self.save_state()
            time.sleep(60)


class HttpPlugin(insightconnect_plugin_runtime.Plugin):
    def __init__(self) -> None:
        super().__init__(name="HttpPlugin", vendor="tests", version="0.0.1", connection=Connection())
        self.add_action(FetchCareful())
        self.add_action(FetchNaive())
        self.add_task(PageTask())
        self.add_trigger(Poller())


KEY = "http-plugin-key-4242"


def connection(url: str) -> dict[str, Any]:
    return {"url": url, "api_key": {"secretKey": KEY}, "timeout": 5}
