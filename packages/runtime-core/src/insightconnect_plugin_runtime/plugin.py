"""``Plugin``: the registry of a plugin's steps, and the entry point that runs one message.

Running a message is :func:`execution.execute`; this module keeps the names plugins and their tests
import from ``insightconnect_plugin_runtime.plugin`` (``handle_step`` raising
:class:`LoggedException`, ``envelope``...).
"""

from __future__ import annotations

import json
from typing import IO, Any

from ._output_masker import OutputMasker  # noqa: F401 - re-exported name
from .connection import Connection, ConnectionCache
from .dispatcher import Http, Stdout  # noqa: F401 - re-exported names
from .exceptions import (  # noqa: F401 - re-exported names
    ClientException,
    ConnectionTestException,
    LoggedException,
    MessageError,
    PluginException,
    ServerException,
)
from .execution import STEP_KINDS, Context, execute
from .util import flush_logging_handlers, is_running_in_cloud  # noqa: F401 - re-exported names

#: Start message type -> reply message type.
message_output_type = {kind.start_type: kind.event_type for kind in STEP_KINDS}

_INSIGHT_CONNECT_FIELDS = (
    "shortOrgId",
    "orgProductToken",
    "uiHostUrl",
    "jobId",
    "stepId",
    "versionId",
    "nextStepId",
    "nextEdgeId",
    "triggerId",
    "jobExecutionContextId",
    "time",
    "connectionTestId",
    "connectionTestTimeout",
    "workflowId",
)


class Workflow:
    """Where in the orchestrator a message comes from (org, workflow, step, trigger...).

    Takes the ``meta`` fields (``shortOrgId``, ``jobId``, ``triggerId``, ``workflowId``...) by name or
    in their documented order; fields not given are ``None``.
    """

    def __init__(self, *values: Any, **fields: Any) -> None:
        unknown = set(fields) - set(_INSIGHT_CONNECT_FIELDS)
        if unknown or len(values) > len(_INSIGHT_CONNECT_FIELDS):
            raise TypeError(f"Workflow got unexpected fields: {sorted(unknown) or values}")
        fields.update(zip(_INSIGHT_CONNECT_FIELDS, values, strict=False))
        for name in _INSIGHT_CONNECT_FIELDS:
            setattr(self, name, fields.get(name))

    @staticmethod
    def from_komand(meta: dict[str, Any]) -> Workflow:
        return Workflow(
            workflowId=meta.get("workflow_uid"),
            stepId=meta.get("step_uid"),
            versionId=meta.get("workflow_version_uid"),
        )

    @staticmethod
    def from_insight_connect(meta: dict[str, Any]) -> Workflow:
        """Reads ``workflowId`` too, so cloud metrics carry the workflow's id."""
        return Workflow(**{name: meta.get(name) for name in _INSIGHT_CONNECT_FIELDS})


class Meta:
    """The plugin's identity, shared with its connection as ``connection.meta``."""

    def __init__(
        self, name: str = "", vendor: str = "", description: str = "", version: str = "", workflow: Any = None
    ) -> None:
        self.name = name
        self.vendor = vendor
        self.description = description
        self.version = version
        self.workflow = workflow

    def set_workflow(self, meta: dict[str, Any] | None) -> None:
        self.workflow = Meta.build_workflow(meta)

    @staticmethod
    def build_workflow(meta: dict[str, Any] | None) -> Workflow:
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("workflow_uid"):
            return Workflow.from_komand(meta)
        return Workflow.from_insight_connect(meta)


class Plugin:
    """A plugin: its identity, its connection and its actions, triggers and tasks by name."""

    def __init__(
        self,
        name: str = "",
        vendor: str = "",
        description: str = "",
        version: str = "",
        connection: Connection | None = None,
        custom_encoder: type[json.JSONEncoder] | None = None,
        custom_decoder: type[json.JSONDecoder] | None = None,
    ) -> None:
        self.name = name
        self.vendor = vendor
        self.description = description
        self.version = version
        if connection is None:
            connection = Connection(None)
            connection.connect = lambda params=None: None  # type: ignore[method-assign]
        self.connection = connection
        self.connection.meta = Meta(name=name, vendor=vendor, description=description, version=version)
        self.connection_cache = ConnectionCache(connection)
        self.custom_encoder = custom_encoder
        self.custom_decoder = custom_decoder
        self.triggers: dict[str, Any] = {}
        self.actions: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {}
        self.debug = False

    def add_trigger(self, trigger: Any) -> None:
        self.triggers[trigger.name] = trigger

    def add_action(self, action: Any) -> None:
        self.actions[action.name] = action

    def add_task(self, task: Any) -> None:
        self.tasks[task.name] = task

    # --- messages ----------------------------------------------------------------------------------

    def marshal(self, msg: Any, fd: IO[str]) -> None:
        json.dump(msg, fd, cls=self.custom_encoder)
        fd.flush()

    def unmarshal(self, fd: IO[str]) -> Any:
        return json.load(fd, cls=self.custom_decoder)

    @staticmethod
    def validate_input_message(msg: Any) -> None:
        """Raise :class:`MessageError` unless ``msg`` is a well-formed v1 start message."""
        from ._runner import validate_input_message

        validate_input_message(msg)

    @staticmethod
    def validate_json(obj: Any, schema: dict[str, Any]) -> None:
        from ._validation import compiled, describe_error

        try:
            compiled(schema).validate(obj)
        except Exception as error:
            raise ClientException(f"The JSON does not match its schema {describe_error(error)}") from error

    def handle_step(
        self,
        input_message: Any,
        is_test: bool = False,
        is_debug: bool = False,
        connection_test_type: str = "test",
        carrier: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Run one message and return its reply; raise :class:`LoggedException` if the step failed."""
        reply = execute(self, input_message, Context(is_test, is_debug, connection_test_type, carrier or {}))
        if reply.error is not None:
            raise LoggedException(reply.error, reply.envelope)
        return reply.envelope

    def envelope(
        self,
        message_type: str | None,
        input_message: Any,
        log: Any,
        success: bool,
        output: Any,
        error_message: str | None,
        state: Any = None,
        has_more_pages: Any = None,
        status_code: Any = None,
        error_object: Any = None,
        ex: BaseException | None = None,
        is_test: bool = False,
    ) -> dict[str, Any]:
        from ._runner import TaskFields, build_envelope

        return build_envelope(
            self,
            message_type,
            input_message,
            log,
            output=output,
            error=ex,
            error_message=error_message,
            task=TaskFields(state, has_more_pages, status_code, error_object),
            is_test=is_test,
            success=success,
        )


def __getattr__(name: str) -> Any:
    """``MetricsBuilder`` stays importable from here; its module (dataclasses, inspect) loads on use."""
    if name == "MetricsBuilder":
        from .metrics import MetricsBuilder

        return MetricsBuilder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
