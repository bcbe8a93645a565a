"""Run one step the way the orchestrator does: a JSON start message in, a JSON reply envelope out.

Everything goes through ``Plugin.handle_step`` (the same pipeline as ``bin/<plugin> run`` and the
HTTP server): message validation, connection cache, input and output schemas, masking and the step
log. The message and the reply are round-tripped through JSON with the plugin's own encoder and
decoder, because that is what the orchestrator sends and receives; a reply that cannot be written as
JSON is a failure here as it would be in production.

Trigger events go to an in-process :class:`CollectingDispatcher` instead of an HTTP endpoint; once
``max_events`` were collected, the next ``send`` ends the run (the dispatcher raises
:class:`EnoughEvents`, a ``BaseException`` so that a plugin's ``except Exception`` cannot swallow it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from insightconnect_plugin_runtime import constants
from insightconnect_plugin_runtime.exceptions import LoggedException

from ._testing_output import captured_stdio, one_shot_console
from ._testing_spans import captured_spans

KINDS = ("action", "trigger", "task")


class EnoughEvents(BaseException):  # noqa: N818 - a stop signal, not an error
    """Raised by :class:`CollectingDispatcher` to end a trigger run once enough events arrived."""


class CollectingDispatcher:
    """Keeps every trigger event envelope in memory, in order, with its idempotency key."""

    def __init__(self, max_events: int | None = None, gate: Callable[[], None] | None = None) -> None:
        self.max_events = max_events
        self.gate = gate
        self.messages: list[dict[str, Any]] = []
        self.keys: list[str | None] = []
        self.webhook_url = ""

    def write(self, msg: Any, idempotency_key: str | None = None) -> None:
        if self.gate is not None:  # the restart harness stops the run here after a checkpoint
            self.gate()
        # The event after the last one wanted is refused, not kept: the trigger had the chance to
        # checkpoint the ones delivered, as it would before the orchestrator stopped it.
        if self.max_events is not None and len(self.messages) >= self.max_events:
            raise EnoughEvents(f"stopped by the test after {len(self.messages)} events")
        # A JSON round trip: what the orchestrator would have received.
        self.messages.append(json.loads(json.dumps(msg, default=str)))
        self.keys.append(idempotency_key)


@dataclass
class StepResult:
    """What one execution produced, as the orchestrator would see it, plus what only a test can see.

    ``reply`` is the JSON reply envelope; ``error`` the exception the step raised (``None`` on
    success, also ``None`` when a trigger was stopped by the kit after ``max_events``); ``records``
    are lines logged during the run by loggers other than the step logger (they reach stderr in a
    container); ``events`` are trigger event envelopes; ``stdout`` and ``stderr`` what was written to
    ``sys.stdout`` and ``sys.stderr`` during the run (``print``, the console lines of the step logger
    as ``bin/<plugin> run`` prints them, masked, and anything else written there directly), followed
    by what reached fds 1 and 2 below Python (``os.write``, C extensions, subprocesses).
    """

    message: dict[str, Any]
    reply: dict[str, Any]
    error: BaseException | None = None
    records: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    http_status: int | None = None
    seconds: float = 0.0
    stopped: bool = False
    spans: list[tuple[str, str]] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    @property
    def body(self) -> dict[str, Any]:
        body = self.reply.get("body") if isinstance(self.reply, dict) else None
        return body if isinstance(body, dict) else {}

    @property
    def status(self) -> str | None:
        return self.body.get("status")

    @property
    def ok(self) -> bool:
        return self.status == "ok" or self.stopped

    @property
    def output(self) -> Any:
        return self.body.get("output")

    @property
    def log(self) -> str:
        log = self.body.get("log")
        return log if isinstance(log, str) else ""

    @property
    def error_message(self) -> str | None:
        return self.body.get("error")

    @property
    def state(self) -> Any:
        return self.body.get("state")

    @property
    def has_more_pages(self) -> Any:
        return self.body.get("has_more_pages")

    @property
    def outputs(self) -> list[Any]:
        """Trigger: the ``output`` of every event; other steps: ``[output]`` when there is one."""
        if self.events:
            return [event.get("body", {}).get("output") for event in self.events]
        return [self.output] if "output" in self.body else []

    def texts(self) -> Iterator[tuple[str, str]]:
        """``(where, text)`` for every path a secret could leave by: reply, step log, events, records,
        stdout, stderr, and spans (when icon-runtime-tracing is installed)."""
        yield "reply", json.dumps(self.reply, default=str)
        yield "step log", self.log
        for number, event in enumerate(self.events, 1):
            yield f"event {number}", json.dumps(event, default=str)
        for number, record in enumerate(self.records, 1):
            yield f"log record {number}", record
        yield "stdout", self.stdout
        yield "stderr", self.stderr
        yield from self.spans


def start_message(
    kind: str,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    state: Any = None,
    custom_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The v1 start message the orchestrator sends for step ``name`` of ``kind``."""
    if kind not in KINDS and kind != "connection_test":
        raise ValueError(f"kind must be one of {KINDS + ('connection_test',)}, not {kind!r}")
    body: dict[str, Any] = {"meta": dict(meta or {}), "connection": dict(connection or {})}
    if kind == "connection_test":
        return {"type": "connection_test", "version": "v1", "body": body}
    body[kind] = name
    body["input"] = dict(input or {})
    if kind == "trigger":
        body["dispatcher"] = {"url": "", "webhook_url": ""}
    if kind == "task":
        body["state"] = {} if state is None else state
        body["custom_config"] = dict(custom_config or {})
    return {"type": f"{kind}_start", "version": "v1", "body": body}


#: Loggers of the test's own tools (the HTTP recorder, local test servers): not the plugin's output.
TOOL_LOGGERS = ("vcr", "werkzeug", "pytest_httpserver")


class _RecordCollector(logging.Handler):
    """Formats every record of WARNING and above reaching the root logger from loggers other than
    the step logger: what a container with default logging prints to stderr. DEBUG and INFO records of
    libraries are not printed unless a plugin configures logging, so they are not collected."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".", 1)[0] in TOOL_LOGGERS:
            return
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not our test's failure
            self.lines.append(f"{record.levelname} {record.name} <unformattable record>")


@contextlib.contextmanager
def _collect_records() -> Iterator[_RecordCollector]:
    root = logging.getLogger()
    collector = _RecordCollector()
    root.addHandler(collector)
    try:
        yield collector
    finally:
        root.removeHandler(collector)


@contextlib.contextmanager
def isolated_directories(state_dir: str | os.PathLike[str] | None = None) -> Iterator[str]:
    """Point the trigger checkpoint and flag directories at ``state_dir`` (a new temporary one if None)."""
    saved = (constants.CACHE_DIR, constants.FLAG_DIR)
    with contextlib.ExitStack() as stack:
        root = str(state_dir) if state_dir is not None else stack.enter_context(tempfile.TemporaryDirectory())
        constants.CACHE_DIR = os.path.join(root, "cache") + os.sep
        constants.FLAG_DIR = os.path.join(root, "flags") + os.sep
        os.makedirs(constants.CACHE_DIR, exist_ok=True)
        os.makedirs(constants.FLAG_DIR, exist_ok=True)
        try:
            yield root
        finally:
            constants.CACHE_DIR, constants.FLAG_DIR = saved


def _roundtrip(plugin: Any, value: Any) -> Any:
    text = json.dumps(value, cls=getattr(plugin, "custom_encoder", None))
    return json.loads(text, cls=getattr(plugin, "custom_decoder", None))


def execute(
    plugin: Any,
    message: Mapping[str, Any],
    *,
    is_test: bool = False,
    max_events: int | None = None,
    gate: Callable[[], None] | None = None,
) -> StepResult:
    """Run ``message`` through ``plugin.handle_step`` and return what came out of it.

    ``gate`` (triggers) is called before each event is delivered; it may raise :class:`EnoughEvents`.
    """
    sent = _roundtrip(plugin, dict(message))
    dispatcher = None
    registered = None
    if sent.get("type") == "trigger_start" and not is_test:
        registered = plugin.triggers.get(sent.get("body", {}).get("trigger"))
        dispatcher = CollectingDispatcher(max_events, gate)
    started = time.perf_counter()
    error: BaseException | None = None
    stopped = False
    one_shot_console(debug=bool(getattr(plugin, "debug", False)))
    with _collect_records() as records, captured_spans() as spans, captured_stdio() as stdio:
        # The runner copies the registered trigger per execution: the copy keeps this dispatcher.
        previous = getattr(registered, "dispatcher", None)
        if registered is not None:
            registered.dispatcher = dispatcher
        try:
            reply = plugin.handle_step(json.loads(json.dumps(sent)), is_test=is_test)
        except LoggedException as failure:
            reply = failure.output
            error = failure.ex
            if isinstance(error, EnoughEvents):
                stopped, error = True, None
        finally:
            if registered is not None:
                registered.dispatcher = previous
    seconds = time.perf_counter() - started
    try:
        reply = _roundtrip(plugin, reply)
    except (TypeError, ValueError) as unwritable:
        error = error or unwritable
        reply = {"body": {"status": "error", "error": f"The reply cannot be written as JSON: {unwritable}"}}
    return StepResult(
        message=sent,
        reply=reply,
        error=error,
        records=list(records.lines),
        events=list(dispatcher.messages) if dispatcher is not None else [],
        seconds=seconds,
        stopped=stopped,
        spans=spans,
        stdout=stdio.text("stdout"),
        stderr=stdio.text("stderr"),
    )
