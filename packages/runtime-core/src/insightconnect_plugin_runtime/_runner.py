"""The execution pipeline behind :func:`execution.execute`: one v1 message in, one envelope out.

What it guarantees, whatever the transport:

* every failure, including one in the message structure and a ``SystemExit`` or
  ``KeyboardInterrupt`` raised by the step, produces an error envelope, so a caller can never
  mistake a crashed step for one that returned nothing;
* problems of the caller's making (empty required inputs, a missing task ``state``, connection
  parameters that fail their schema) are client errors (HTTP 400), an unknown step is
  :class:`UnknownStepError` (HTTP 404), so the orchestrator does not retry them;
* the reply and the captured log are masked with the connection's secrets in every mode; while the
  step runs its secrets are in the process-wide masking authority (``_in_flight``), so every log line of
  the process is masked with them, whatever thread or logger wrote it;
* a connection with more secret values than the masker takes (``_masking.MAX_SECRETS``,
  ``MAX_SECRET_CHARS``) is refused with a 400 before any step code runs, so masking cost stays bounded.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from types import FunctionType
from typing import Any, NamedTuple

from ._contracts import StepCall
from ._extensions import around_step
from ._in_flight import IN_FLIGHT
from ._logging import Execution, capture, step_logger
from ._masking import MAX_SECRET_CHARS, MAX_SECRETS, masker_for
from ._validation import describe_error, is_validation_error
from .dispatcher import Http, Noop, Stdout
from .exceptions import (
    ClientException,
    ConnectionTestException,
    MessageError,
    ServerException,
    StepOutputError,
    UnknownStepError,
)
from .execution import (  # noqa: F401 - http_status_for re-exported
    BY_START_TYPE,
    CONNECTION_TEST,
    StepKind,
    http_status_for,
    kind_for_message,
)
from .util import is_running_in_cloud


class TaskFields(NamedTuple):
    """What a task's ``run`` returns besides its output, as the envelope carries it."""

    state: Any = None
    has_more_pages: Any = None
    status_code: Any = None
    error_object: Any = None


NO_TASK_FIELDS = TaskFields()

_TEST_FAILED_CAUSE = "The test of this step failed with an unexpected error."
_TEST_FAILED_ASSISTANCE = "Read the step log for the error and its traceback."


def validate_input_message(msg: Any) -> None:
    """Check the envelope of a start message and fill in the optional body keys."""
    if not isinstance(msg, dict):
        raise MessageError("The message must be a JSON object with 'type', 'version' and 'body'.")
    missing = [name for name in ("type", "version", "body") if name not in msg]
    if missing:
        raise MessageError(f"The message lacks the field(s): {', '.join(missing)}.")
    if msg["version"] != "v1":
        raise MessageError(f"Unsupported message version {msg['version']!r}; only 'v1' is understood.")
    kind = BY_START_TYPE.get(msg["type"]) if isinstance(msg["type"], str) else None
    if kind is None:
        raise MessageError(f"Unsupported message type {msg['type']!r}; expected one of {sorted(BY_START_TYPE)}.")
    body = msg["body"]
    if not isinstance(body, dict):
        raise MessageError("The message body must be a JSON object.")
    step_key = kind.name
    if kind is not CONNECTION_TEST and not isinstance(body.get(step_key), str):
        raise MessageError(f"A {msg['type']} message needs the {step_key} name as a string in body.{step_key}.")
    for name in ("meta", "connection", "dispatcher", "input"):
        if body.get(name) is None:
            body[name] = {}
        elif not isinstance(body[name], dict):
            raise MessageError(f"body.{name} must be a JSON object.")
    if body.get("custom_config") is not None and not isinstance(body["custom_config"], dict):
        raise MessageError("body.custom_config must be a JSON object.")
    for name in ("url", "webhook_url"):
        value = body["dispatcher"].get(name)
        if value is not None and not isinstance(value, str):
            raise MessageError(f"body.dispatcher.{name} must be a string.")


def _accepts_arguments(function: Any) -> int:
    """How many positional arguments ``function`` takes (a large number for ``*args``)."""
    underlying = getattr(function, "__func__", function)
    bound = underlying is not function
    try:
        return _positional_count(underlying) - (1 if bound else 0)
    except TypeError:  # not hashable: inspect it every time
        return _positional_count.__wrapped__(underlying) - (1 if bound else 0)


_CO_VARARGS = 0x04


@functools.lru_cache(maxsize=1024)
def _positional_count(function: Any) -> int:
    """Positional parameters of a plain function, cached: signatures never change at run time."""
    if (
        type(function) is FunctionType
        and not hasattr(function, "__wrapped__")
        and not hasattr(function, "__signature__")
    ):
        code = function.__code__
        # A plain function: read its code object (what inspect.signature would; importing inspect
        # costs a one-shot run more than the step it runs).
        return 99 if code.co_flags & _CO_VARARGS else int(code.co_argcount)
    import inspect

    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 1
    count = 0
    for parameter in parameters:
        if parameter.kind == parameter.VAR_POSITIONAL:
            return 99
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _call(function: Any, *args: Any) -> Any:
    return function(*args[: _accepts_arguments(function)])


def _check(schema: Any, value: Any, error_class: type[Exception], problem: str) -> None:
    """Validate ``value`` against a step schema object, turning a schema violation into ``error_class``."""
    if schema is None:
        return
    try:
        schema.validate(value)
    except Exception as error:
        if not is_validation_error(error):
            raise
        raise error_class(f"{problem} {describe_error(error)}") from None


def _error_text(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"The step called exit ({error.code!r}) instead of returning a result."
    if isinstance(error, KeyboardInterrupt):
        return "The step was interrupted before it returned a result."
    return str(error) or type(error).__name__


def _json_safe(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return str(value)


def build_envelope(
    plugin: Any,
    message_type: str | None,
    input_message: Any,
    log: Any,
    *,
    output: Any = None,
    error: BaseException | None = None,
    error_message: str | None = None,
    task: TaskFields = NO_TASK_FIELDS,
    is_test: bool = False,
    success: bool | None = None,
) -> dict[str, Any]:
    """The v1 envelope of a reply; ``success`` defaults to "no ``error``"."""
    if success is None:
        success = error is None
    ex = error
    body_in = input_message.get("body") if isinstance(input_message, dict) else None
    meta = body_in.get("meta") if isinstance(body_in, dict) else None
    body: dict[str, Any] = {"log": log, "status": "ok" if success else "error", "meta": meta}
    state, has_more_pages, status_code, error_object = task
    for name, value in (("state", state), ("has_more_pages", has_more_pages), ("status_code", status_code)):
        if value is not None:
            body[name] = value
    if isinstance(error_object, ConnectionTestException):
        body["exception"] = _exception_block(error_object)
    if success:
        body["output"] = output
    else:
        body["error"] = error_message
        if isinstance(ex, ConnectionTestException):
            body["exception"] = _exception_block(ex)
        elif is_test and ex is not None:
            body["exception"] = {
                "cause": _TEST_FAILED_CAUSE,
                "assistance": _TEST_FAILED_ASSISTANCE,
                "data": repr(ex),
            }
        if is_running_in_cloud() and ex is not None:
            from .metrics import MetricsBuilder

            workflow = plugin.connection.meta.build_workflow(meta)
            body["metrics"] = MetricsBuilder(
                plugin.name,
                plugin.version,
                plugin.vendor,
                input_message,
                ex,
                workflow.workflowId,
                workflow.shortOrgId,
            ).build()
    return {"body": body, "version": "v1", "type": message_type}


def _exception_block(error: ConnectionTestException) -> dict[str, Any]:
    return {"cause": error.cause, "assistance": error.assistance, "data": _json_safe(error.data)}


class StepRunner:
    """Runs one message for one plugin; see the module docstring for the guarantees."""

    def __init__(
        self,
        plugin: Any,
        message: Any,
        is_test: bool,
        is_debug: bool,
        connection_test_type: str = "test",
        carrier: dict[str, str] | None = None,
    ) -> None:
        self.plugin = plugin
        self.message = message
        self.is_test = is_test
        self.is_debug = is_debug or bool(getattr(plugin, "debug", False))
        self.connection_test_type = connection_test_type
        self.carrier = carrier or {}
        self.execution = Execution(level=logging.DEBUG if self.is_debug else logging.INFO)
        self.logger = step_logger()
        self.task_fields = NO_TASK_FIELDS
        self.test_log: Any = None

    # --- top level ---------------------------------------------------------------------------------

    def run(self) -> tuple[dict[str, Any], BaseException | None]:
        """The masked envelope, and what made the step fail (None on success)."""
        try:
            return self._run()
        finally:
            IN_FLIGHT.release(self.execution.masker)  # after the reply and the failure log are masked

    def _run(self) -> tuple[dict[str, Any], BaseException | None]:
        output: Any = None
        error: BaseException | None = None
        reply_type: str | None = None
        with capture(self.execution):
            try:
                kind = kind_for_message(self.message)
                reply_type = kind.event_type if kind is not None else None
                validate_input_message(self.message)
                output = self._run_with_hooks()
            except BaseException as caught:  # the step must never take the runtime down
                error = caught
                self._log_failure(caught)
        success = error is None
        log = self.test_log if self.test_log is not None else self.execution.text()
        reply = build_envelope(
            self.plugin,
            reply_type,
            self.message,
            log,
            output=output,
            error=error,
            error_message=None if success else _error_text(error),  # type: ignore[arg-type]
            task=self.task_fields,
            is_test=self.is_test,
        )
        return self.execution.masker.mask_envelope(reply), error

    def _log_failure(self, error: BaseException) -> None:
        if isinstance(error, ConnectionTestException):
            self.logger.error(f"Step failed: {error}")
            if self.connection_test_type == "test_task" and self._is_connection_test():
                self.test_log = error.data or "Connection test failed"
        elif isinstance(error, ClientException):
            self.logger.error(f"Step rejected: {error}")
        else:
            self.logger.error(f"Step failed: {_error_text(error)}", exc_info=error)

    def _is_connection_test(self) -> bool:
        return isinstance(self.message, dict) and self.message.get("type") == "connection_test"

    def _run_with_hooks(self) -> Any:
        body = self.message["body"]
        masker = masker_for(body.get("connection"), getattr(self.plugin.connection, "schema", None))
        self.execution.masker = masker
        IN_FLIGHT.acquire(masker)  # released by run() once the reply is built
        if masker.overflow:
            raise ClientException(
                "The connection holds more secret values than the runtime masks "
                f"(at most {MAX_SECRETS} values, {MAX_SECRET_CHARS} characters in all); it was refused unused."
            )
        self.plugin.connection.meta.set_workflow(body.get("meta"))
        step_kind = BY_START_TYPE[self.message["type"]]
        kind = step_kind.name
        name = body.get(kind, "") if step_kind is not CONNECTION_TEST else "connection"
        call = StepCall(self.plugin, kind, name, self.message, self.is_test, self.carrier)
        call.masker = self.execution.masker
        hooks = around_step(call)
        try:
            hooks.__enter__()
        except Exception:
            logging.getLogger(__name__).warning("A step hook failed to start", exc_info=True)
            hooks = None  # type: ignore[assignment]
        try:
            result = self._connection_test(body) if step_kind is CONNECTION_TEST else self._step(step_kind, body)
            call.status = "ok"
            return result
        except BaseException as error:
            call.status, call.error = "error", error
            raise
        finally:
            if hooks is not None:
                try:
                    hooks.__exit__(None, None, None)
                except Exception:
                    logging.getLogger(__name__).warning("A step hook failed to finish", exc_info=True)

    # --- connection --------------------------------------------------------------------------------

    def _connection(self, body: dict[str, Any]) -> Any:
        try:
            return self.plugin.connection_cache.get(body["connection"], self.logger)
        except Exception as error:
            if not is_validation_error(error):
                raise
            raise ClientException(f"The connection parameters are invalid {describe_error(error)}") from None

    def _header(self, step_name: str | None = None) -> None:
        plugin = self.plugin
        header = f"{plugin.vendor}/{plugin.name}:{plugin.version}"
        self.logger.info(f"{header}. Step name: {step_name}" if step_name else header)

    def _connection_test(self, body: dict[str, Any]) -> Any:
        connection = self._connection(body)
        self._header()
        if self.connection_test_type == "test_task" and hasattr(connection, "test_task"):
            task_name = body.get("task")
            args = (task_name,) if task_name is not None else ()
            output, self.test_log = _call(connection.test_task, *args) if args else connection.test_task()
            return output
        if hasattr(connection, "test"):
            return _call(connection.test, {})
        raise NotImplementedError("The plugin's connection has no test() to run.")

    # --- actions, triggers, tasks -------------------------------------------------------------------

    def _step(self, step_kind: StepKind, body: dict[str, Any]) -> Any:
        kind = step_kind.name
        registry = step_kind.steps(self.plugin)
        name = body[kind]
        if name not in registry:
            raise UnknownStepError(f'The plugin has no {kind} named "{name}".')
        connection = self._connection(body)
        step = copy.copy(registry[name])
        step.debug = self.is_debug
        step.connection = connection
        step.logger = self.logger
        params = body.get("input") or {}
        if kind == "trigger":
            self._prepare_trigger(step, body)
        state: Any = None
        custom_config: Any = None
        if not self.is_test:
            self._validate_input(kind, step, params)
            if kind == "task":
                state, custom_config = self._task_state(step, body)
        self._header(name)
        if self.is_test:
            return self._test(kind, step, connection, params, body)
        if kind == "task":
            return self._run_task(step, params, state, custom_config)
        output = _call(step.run, params)
        if kind == "action":
            self._validate_output(kind, step, output)
        return output

    def _validate_input(self, kind: str, step: Any, params: Any) -> None:
        _check(step.input, params, ClientException, f"The {kind} input is invalid")
        if isinstance(params, dict):
            from ._validation import coerce_integers

            coerce_integers(getattr(step.input, "schema", None), params)
        if hasattr(step.input, "validate_required"):
            step.input.validate_required(params)

    def _task_state(self, step: Any, body: dict[str, Any]) -> tuple[Any, Any]:
        if "state" not in body or body["state"] is None:
            raise ClientException("A task_start message needs body.state (use {} for the first run).")
        state = body["state"]
        _check(getattr(step, "state", None), state, ClientException, "The task state is invalid")
        if isinstance(state, dict):
            from ._validation import coerce_integers

            coerce_integers(getattr(getattr(step, "state", None), "schema", None), state)
        return state, body.get("custom_config") or {}

    def _validate_output(self, kind: str, step: Any, output: Any) -> None:
        _check(step.output, output, StepOutputError, f"The {kind} returned output that fails its schema")

    def _prepare_trigger(self, step: Any, body: dict[str, Any]) -> None:
        dispatcher = body.get("dispatcher") or {}
        step.log_stream = self.execution
        step.meta = body.get("meta") or {}
        step.url = dispatcher.get("url", "")
        step.webhook_url = dispatcher.get("webhook_url", "")
        step._masker = self.execution.masker
        step.load_state()
        if step.dispatcher is None:
            if self.is_debug:
                step.dispatcher = Stdout(dispatcher)
            elif dispatcher.get("url"):
                step.dispatcher = Http(dispatcher)
            elif self.is_test:
                step.dispatcher = Noop(dispatcher)
            else:
                raise MessageError("A trigger_start message needs body.dispatcher.url to deliver events to.")
        if not self.is_test and hasattr(step, "_start_outbox"):
            step._start_outbox()  # resend what a previous run left unacknowledged, before run()

    def _test(self, kind: str, step: Any, connection: Any, params: Any, body: dict[str, Any]) -> Any:
        if kind == "task" and self.connection_test_type == "test_task" and hasattr(connection, "test_task"):
            output, self.test_log = _call(connection.test_task, body.get("task"))
            return output
        if hasattr(connection, "test"):
            return _call(connection.test, params)
        return _call(step.test, params)

    def _run_task(self, step: Any, params: Any, state: Any, custom_config: Any) -> Any:
        result = _call(step.run, params, state, custom_config)
        if not isinstance(result, (tuple, list)) or len(result) != 5:
            got = len(result) if isinstance(result, (tuple, list)) else type(result).__name__
            raise ServerException(
                "A task's run() must return (output, state, has_more_pages, status_code, error_object); "
                f"it returned {got}."
            )
        output, new_state, has_more_pages, status_code, error_object = result
        self._validate_output("task", step, output)
        self.task_fields = TaskFields(new_state, has_more_pages, status_code, error_object)
        return output
