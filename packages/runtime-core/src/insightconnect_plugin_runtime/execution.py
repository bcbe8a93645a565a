"""Run one v1 message for a plugin and get a :class:`Reply`: the API every transport uses.

The CLI, the HTTP server and the test kit all go through :func:`execute`, so a step behaves the same
whichever way it was started. It never raises for anything the step or the message does wrong: the
failure is in the reply (``status == "error"``, :attr:`Reply.error`), with the HTTP status and the
exit code a transport answers with. :class:`StepKind` is the one table of what an action, a trigger,
a task and a connection test are called in messages, in the plugin's registries and in URLs.

This module is public API of icon-runtime-core and follows semver (docs/extension-points.md).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from .exceptions import ClientException, ConnectionTestException, MessageError, UnknownStepError

__all__ = [
    "ACTION",
    "CONNECTION_TEST",
    "EXIT_OK",
    "EXIT_STEP_FAILED",
    "EXIT_USAGE",
    "STEP_KINDS",
    "TASK",
    "TRIGGER",
    "Context",
    "Reply",
    "StepKind",
    "execute",
    "http_status_for",
    "kind_for_message",
    "refusal",
]

EXIT_OK = 0
EXIT_STEP_FAILED = 1
EXIT_USAGE = 2


class StepKind(NamedTuple):
    """What one kind of step is called wherever it appears (a named tuple: no dataclasses import on
    the one-shot path)."""

    #: ``action``, ``trigger``, ``task`` or ``connection_test``; also the ``body`` key naming the step.
    name: str
    #: Message type that starts it (``action_start``...).
    start_type: str
    #: Message type of its reply and events (``action_event``...).
    event_type: str
    #: Attribute of :class:`Plugin` holding these steps by name (``""`` for the connection test).
    registry: str
    #: URL path segment of its endpoints (``actions``...; ``connection`` for the connection test).
    segment: str

    def steps(self, plugin: Any) -> dict[str, Any]:
        """The plugin's steps of this kind by name (empty for the connection test)."""
        return getattr(plugin, self.registry) if self.registry else {}


ACTION = StepKind("action", "action_start", "action_event", "actions", "actions")
TRIGGER = StepKind("trigger", "trigger_start", "trigger_event", "triggers", "triggers")
TASK = StepKind("task", "task_start", "task_event", "tasks", "tasks")
CONNECTION_TEST = StepKind("connection_test", "connection_test", "connection_test", "", "connection")

#: Every kind, steps first, in the order plugins describe them.
STEP_KINDS: tuple[StepKind, ...] = (ACTION, TRIGGER, TASK, CONNECTION_TEST)
#: Kinds by the message type that starts them, and by name.
BY_START_TYPE: dict[str, StepKind] = {kind.start_type: kind for kind in STEP_KINDS}
BY_NAME: dict[str, StepKind] = {kind.name: kind for kind in STEP_KINDS}


def kind_for_message(message: Any) -> StepKind | None:
    """The kind a message's ``type`` starts, or None when it starts none."""
    message_type = message.get("type") if isinstance(message, dict) else None
    return BY_START_TYPE.get(message_type) if isinstance(message_type, str) else None


class Context(NamedTuple):
    """How a message is run: the switches a transport passes along with it."""

    #: Run the step's (or its connection's) test instead of the step.
    is_test: bool = False
    #: Log at debug level; a trigger's events go to stdout.
    is_debug: bool = False
    #: ``test`` runs ``connection.test``; ``test_task`` runs ``connection.test_task`` when it exists.
    connection_test_type: str = "test"
    #: Trace context headers (``traceparent``...) the step hooks continue from.
    carrier: dict[str, str] | None = None


DEFAULT_CONTEXT = Context()


def http_status_for(error: BaseException | None) -> int:
    """The HTTP status a step's failure maps to (200 without one)."""
    if error is None:
        return 200
    if isinstance(error, UnknownStepError):
        return 404
    if isinstance(error, (ClientException, ConnectionTestException)):
        return 400
    if isinstance(error, NotImplementedError):
        return 501
    return 500


class Reply:
    """The reply to one message: the v1 envelope, and how a transport answers with it.

    ``envelope`` is already masked with the message's secrets. ``status``, ``http_status`` and
    ``exit_code`` follow from the failure (``error``); :meth:`to_json` may turn the reply into an error
    when the step's output cannot be written, and then they say so too.
    """

    __slots__ = ("envelope", "error", "_masker", "_secrets_of", "_status", "unwritable")

    def __init__(
        self,
        envelope: dict[str, Any],
        error: BaseException | None = None,
        masker: Any = None,
        status: int = 0,
        secrets_of: tuple[Any, Any] | None = None,
    ) -> None:
        self.envelope = envelope
        #: What made the step fail (None on success).
        self.error = error
        self._masker = masker
        #: (connection, schema) to build the masker from when none was given (only when it is needed).
        self._secrets_of = secrets_of
        self._status = status
        #: Why :meth:`to_json` could not write the envelope as it was (masked), else None.
        self.unwritable: str | None = None

    @property
    def masker(self) -> Any:
        """The message's secret masker (``mask_text``...), for text written after the envelope was masked."""
        if self._masker is None:
            from ._masking import NO_MASKER, masker_for

            self._masker = masker_for(*self._secrets_of) if self._secrets_of is not None else NO_MASKER
        return self._masker

    @property
    def ok(self) -> bool:
        return self.error is None and self.unwritable is None

    @property
    def status(self) -> str:
        """``ok`` or ``error``, as in ``body.status``."""
        return "ok" if self.ok else "error"

    @property
    def http_status(self) -> int:
        if self.unwritable is not None:
            return 500
        return self._status or http_status_for(self.error)

    @property
    def exit_code(self) -> int:
        if self.unwritable is not None:
            return EXIT_STEP_FAILED
        if self.error is None:
            return EXIT_OK
        return EXIT_USAGE if isinstance(self.error, MessageError) else EXIT_STEP_FAILED

    def to_json(self, encoder: type[json.JSONEncoder] | None = None) -> str:
        """The envelope as JSON text, written with the plugin's ``custom_encoder`` when it has one.

        What an encoder renders (objects, bytes, numbers) never went through the envelope masking, so
        its text is masked once more. When the envelope cannot be written at all, the reply becomes an
        error without ``output`` (``unwritable`` says why) and the text is that error, written with
        ``str`` for anything JSON lacks.
        """
        try:
            if encoder is None:
                return json.dumps(self.envelope)
            text = json.dumps(self.envelope, cls=encoder)
            return self.masker.mask_envelope_json(text)
        except (TypeError, ValueError, RecursionError) as error:  # RecursionError: nesting too deep
            mask_text = self.masker.mask_text
            problem = mask_text(f"The step result cannot be written as JSON: {error}")
            self.unwritable = problem
            envelope = self.envelope if isinstance(self.envelope, dict) else {}
            body = dict(envelope.get("body") or {})
            body.pop("output", None)
            body.update({"status": "error", "error": problem})
            self.envelope = {"body": body, "version": "v1", "type": envelope.get("type")}
            return mask_text(json.dumps(self.envelope, default=str))


def execute(plugin: Any, message: Any, context: Context = DEFAULT_CONTEXT) -> Reply:
    """Run ``message`` (a decoded v1 start message) for ``plugin``; never raises for its failure.

    The message's optional body keys are filled in place (no copy is made); the step gets its own
    copy of the registered step object. Step hooks (tracing) run around the step.
    """
    from ._masking import NO_MASKER
    from ._runner import StepRunner

    runner = StepRunner(
        plugin, message, context.is_test, context.is_debug, context.connection_test_type, context.carrier
    )
    envelope, error = runner.run()
    masker = runner.execution.masker
    if masker is NO_MASKER:  # the step never got to its connection: its secrets only if asked for
        return Reply(envelope, error, None, 0, _secrets_of(plugin, message))
    return Reply(envelope, error, masker)


def _secrets_of(plugin: Any, message: Any) -> tuple[Any, Any]:
    body = message.get("body") if isinstance(message, dict) else None
    connection = body.get("connection") if isinstance(body, dict) else None
    return connection, getattr(plugin.connection, "schema", None)


def refusal(
    plugin: Any,
    kind: StepKind | None,
    message: Any,
    text: str,
    status: int = 400,
    error: BaseException | None = None,
) -> Reply:
    """The error reply to a message a transport rejects before running it (body too large, unreadable...).

    ``kind`` names the reply type (None: unknown); ``status`` is the HTTP status to answer with;
    ``error`` defaults to a :class:`ClientException` saying ``text``. The envelope is masked with the
    message's secrets, as every reply is.
    """
    from ._masking import masker_for
    from ._runner import build_envelope

    if error is None:
        error = ClientException(text)
    message_type = kind.event_type if kind is not None else None
    envelope = build_envelope(plugin, message_type, message, "", error=error, error_message=text)
    masker = masker_for(*_secrets_of(plugin, message))
    return Reply(masker.mask_envelope(envelope), error, masker, status)
