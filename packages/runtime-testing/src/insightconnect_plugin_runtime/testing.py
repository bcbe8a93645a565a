"""icon-runtime-testing: run a plugin's steps in tests exactly as the orchestrator does.

Plain functions (for unittest suites, which is what public plugins use) and the same operations on a
:class:`PluginKit` bound to one plugin (what the pytest fixture ``icon_kit`` gives)::

    from insightconnect_plugin_runtime.testing import run_action

    result = run_action(MyPlugin(), "lookup", {"ip": "1.2.3.4"}, connection={"api_key": {"secretKey": "k"}})
    assert result.ok, result.error_message
    assert result.output == {...}
    assert "Looking up" in result.log

Every run builds the v1 start message, sends it through ``Plugin.handle_step`` (validation, connection
cache, masking, step log, output schema) and returns a :class:`StepResult` holding the JSON reply
envelope as the orchestrator receives it. ``via="http"`` posts the same message to the HTTP app of
icon-runtime-http instead. See the package README for triggers, tasks, canaries, fuzzing and
``bin/<plugin> check``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._testing_bundle import BundleReplay, replay_bundle
from ._testing_canary import Canary, Leak, canary_connection, is_credential, marker_forms
from ._testing_check import check_plugin
from ._testing_clock import ClockLimit, VirtualClock
from ._testing_connection_fuzz import fuzz_connection
from ._testing_fuzz import Finding, fuzz_step
from ._testing_http_fuzz import Fault, FaultServer, fuzz_http
from ._testing_network import loopback_only, redirected_to
from ._testing_restart import RestartReport
from ._testing_run import CollectingDispatcher, EnoughEvents, StepResult, execute, isolated_directories, start_message

__all__ = [
    "BundleReplay",
    "Canary",
    "CanaryRun",
    "ClockLimit",
    "CollectingDispatcher",
    "EnoughEvents",
    "Fault",
    "FaultServer",
    "Finding",
    "Leak",
    "PluginKit",
    "RestartReport",
    "StepResult",
    "TaskSession",
    "VirtualClock",
    "assert_no_leaks",
    "canary_connection",
    "check_plugin",
    "fuzz_connection",
    "fuzz_http",
    "fuzz_step",
    "is_credential",
    "recorded_http",
    "replay_bundle",
    "restart_trigger",
    "load_plugin",
    "loopback_only",
    "marker_forms",
    "redirected_to",
    "run_action",
    "run_connection_test",
    "run_task",
    "run_trigger",
    "start_message",
]

#: ``meta`` of trigger messages unless a test gives its own: a trigger id makes the trigger stateful.
DEFAULT_TRIGGER_META = {"triggerId": "icon-testing-trigger"}


def load_plugin(bin_script: str | os.PathLike[str]) -> Any:
    """An instance of the plugin that ``bin/<plugin>`` (a script without ``.py``) defines.

    The script's folder's parent (the plugin's root, where its package lives) goes on ``sys.path``
    first, as the script itself arranges when it runs; ``main()`` is not called.
    """
    import importlib.machinery
    import importlib.util
    import sys

    from insightconnect_plugin_runtime import Plugin

    path = os.path.abspath(bin_script)
    root = os.path.dirname(os.path.dirname(path))
    if root not in sys.path:
        sys.path.insert(0, root)
    module_name = "icon_testing_bin_" + os.path.basename(path).replace("-", "_")
    loader = importlib.machinery.SourceFileLoader(module_name, path)
    spec = importlib.util.spec_from_loader(module_name, loader)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    loader.exec_module(module)
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Plugin) and value is not Plugin
    ]
    if len(classes) != 1:
        raise LookupError(f"{bin_script} defines {len(classes)} Plugin subclasses; expected exactly one")
    return classes[0]()


def _plugin(plugin: Any) -> Any:
    return plugin() if isinstance(plugin, type) else plugin


def _connection(plugin: Any, connection: Mapping[str, Any] | None) -> dict[str, Any]:
    if connection is not None:
        return dict(connection)
    return plugin.connection.sample() or {} if getattr(plugin.connection, "schema", None) else {}


def _run(plugin: Any, message: dict[str, Any], *, test: bool, via: str, max_events: int | None = None) -> StepResult:
    if via == "http":
        from ._testing_http import execute_http

        return execute_http(plugin, message, is_test=test)
    if via != "protocol":
        raise ValueError(f"via must be 'protocol' or 'http', not {via!r}")
    return execute(plugin, message, is_test=test, max_events=max_events)


def run_action(
    plugin: Any,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    meta: Mapping[str, Any] | None = None,
    test: bool = False,
    via: str = "protocol",
) -> StepResult:
    """Run (or with ``test=True``, test) action ``name``; ``connection`` defaults to the schema's sample."""
    plugin = _plugin(plugin)
    message = start_message("action", name, input, _connection(plugin, connection), meta=meta)
    return _run(plugin, message, test=test, via=via)


def run_trigger(
    plugin: Any,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    max_events: int | None = None,
    meta: Mapping[str, Any] | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    test: bool = False,
    via: str = "protocol",
) -> StepResult:
    """Run trigger ``name`` until it returns, or until it sends once more after ``max_events`` events
    (that send raises :class:`EnoughEvents` into the trigger and ``result.stopped`` is true).

    Events land in ``result.events`` (the masked ``trigger_event`` envelopes) and ``result.outputs``.
    The checkpoint lives in ``state_dir`` (a fresh temporary directory unless given), so running twice
    with the same ``state_dir`` is a restart.
    """
    plugin = _plugin(plugin)
    meta = DEFAULT_TRIGGER_META if meta is None else meta
    message = start_message("trigger", name, input, _connection(plugin, connection), meta=meta)
    if via == "http" or test:
        return _run(plugin, message, test=test, via=via)
    with isolated_directories(state_dir):
        return execute(plugin, message, max_events=max_events)


def run_task(
    plugin: Any,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    state: Any = None,
    custom_config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    test: bool = False,
    via: str = "protocol",
) -> StepResult:
    """Run task ``name`` once with ``state`` (``{}`` for a first run); the new state is ``result.state``."""
    plugin = _plugin(plugin)
    message = start_message(
        "task", name, input, _connection(plugin, connection), meta=meta, state=state, custom_config=custom_config
    )
    return _run(plugin, message, test=test, via=via)


def run_connection_test(
    plugin: Any, connection: Mapping[str, Any] | None = None, *, via: str = "protocol"
) -> StepResult:
    """Run the connection test (``bin/<plugin> test`` with a ``connection_test`` message)."""
    plugin = _plugin(plugin)
    message = start_message("connection_test", "", connection=_connection(plugin, connection))
    return _run(plugin, message, test=True, via=via)


class TaskSession:
    """Runs a task repeatedly, carrying ``state`` from each reply into the next start message,
    as the orchestrator does between scheduled runs."""

    def __init__(
        self,
        plugin: Any,
        name: str,
        input: Mapping[str, Any] | None = None,
        connection: Mapping[str, Any] | None = None,
        *,
        state: Any = None,
        custom_config: Mapping[str, Any] | None = None,
        via: str = "protocol",
    ) -> None:
        self.plugin = _plugin(plugin)
        self.name = name
        self.input = dict(input or {})
        self.connection = connection
        self.state = {} if state is None else state
        self.custom_config = dict(custom_config or {})
        self.via = via
        self.results: list[StepResult] = []

    def run(self) -> StepResult:
        """One scheduled run; on success the session's state becomes the reply's state."""
        result = run_task(
            self.plugin,
            self.name,
            self.input,
            self.connection,
            state=self.state,
            custom_config=self.custom_config,
            via=self.via,
        )
        self.results.append(result)
        if result.ok and result.state is not None:
            self.state = result.state
        return result

    def pages(self, limit: int = 100) -> Iterator[StepResult]:
        """Run until a reply says ``has_more_pages`` is false (or fails); at most ``limit`` runs."""
        for _ in range(limit):
            result = self.run()
            yield result
            if not result.ok or not result.has_more_pages:
                return
        raise AssertionError(f"task {self.name!r} still had more pages after {limit} runs")


def restart_trigger(
    plugin: Any,
    name: str,
    input: Mapping[str, Any] | None = None,
    connection: Mapping[str, Any] | None = None,
    *,
    events: int = 5,
    key: Any = None,
    at: str = "event",
    clock: bool = True,
    clock_limit: float = 24 * 3600,
) -> RestartReport:
    """Stop trigger ``name`` at every boundary and restart it from its checkpoint; the report compares
    the events with an uninterrupted run (``report.ok``, ``report.lost``, ``report.duplicated``).

    ``at="event"`` stops after every delivered event, ``at="checkpoint"`` right after every change
    of the checkpoint file. With ``clock`` (default) each run has a :class:`VirtualClock`: sleeps
    return at once and a run ends after ``clock_limit`` virtual seconds. ``key`` (default: the whole
    event output) says which events are the same event.
    """
    from ._testing_restart import checkpoint_file
    from ._testing_restart import restart_trigger as harness

    plugin = _plugin(plugin)
    connection = _connection(plugin, connection)
    message = start_message("trigger", name, input, connection, meta=DEFAULT_TRIGGER_META)

    def run(max_events: int | None, state_dir: str, gate: Any) -> StepResult:
        with isolated_directories(state_dir):
            return execute(plugin, message, max_events=max_events, gate=gate)

    options = {"key": key} if key is not None else {}
    return harness(
        run,
        events=events,
        at=at,
        clock=clock,
        clock_limit=clock_limit,
        checkpoint_path=checkpoint_file(DEFAULT_TRIGGER_META["triggerId"]),
        **options,
    )


def recorded_http(
    cassette: str | os.PathLike[str],
    connection: Mapping[str, Any] | None,
    schema: Mapping[str, Any] | None = None,
    *,
    record_mode: str = "once",
) -> Any:
    """Context manager recording (or replaying) outgoing HTTP in a cassette scrubbed of the
    connection's secrets by the runtime's masker (needs the ``record`` extra: vcrpy)."""
    from ._testing_record import recorded_http as recorder

    return recorder(cassette, connection, schema, record_mode=record_mode)


@dataclass
class CanaryRun:
    """A step run with canary secrets in its connection, and every marker found in its outputs."""

    result: StepResult
    canary: Canary
    leaks: list[Leak]


def assert_no_leaks(run: CanaryRun) -> None:
    """Fail with every leak found (field, output path, encoding and the surrounding text)."""
    if run.leaks:
        raise AssertionError("canary secrets leaked:\n" + "\n".join(f"  {leak}" for leak in run.leaks))


class PluginKit:
    """The functions above bound to one plugin, a default connection and one state directory."""

    def __init__(
        self,
        plugin: Any,
        connection: Mapping[str, Any] | None = None,
        *,
        via: str = "protocol",
        state_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.plugin = _plugin(plugin)
        self.connection = _connection(self.plugin, connection)
        self.via = via
        self.state_dir = state_dir

    def action(self, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> StepResult:
        options.setdefault("via", self.via)
        return run_action(self.plugin, name, input, options.pop("connection", self.connection), **options)

    def trigger(self, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> StepResult:
        options.setdefault("state_dir", self.state_dir)
        return run_trigger(self.plugin, name, input, options.pop("connection", self.connection), **options)

    def task(self, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> StepResult:
        options.setdefault("via", self.via)
        return run_task(self.plugin, name, input, options.pop("connection", self.connection), **options)

    def task_session(self, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> TaskSession:
        options.setdefault("via", self.via)
        return TaskSession(self.plugin, name, input, options.pop("connection", self.connection), **options)

    def connection_test(self, connection: Mapping[str, Any] | None = None) -> StepResult:
        return run_connection_test(self.plugin, connection or self.connection, via=self.via)

    def recording(self, cassette: str | os.PathLike[str], record_mode: str = "once", connection: Any = None) -> Any:
        """``recorded_http`` with this kit's connection (or ``connection``) and connection schema."""
        schema = getattr(self.plugin.connection, "schema", None)
        return recorded_http(cassette, connection or self.connection, schema, record_mode=record_mode)

    def restart_trigger(self, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> RestartReport:
        return restart_trigger(self.plugin, name, input, options.pop("connection", self.connection), **options)

    def fuzz_http(self, kind: str, name: str, input: Mapping[str, Any] | None = None, **options: Any) -> list[Finding]:
        """:func:`fuzz_http` of one step with this kit's connection."""
        return fuzz_http(self.plugin, kind, name, options.pop("connection", self.connection), input, **options)

    def replay_bundle(self, path: str | os.PathLike[str], connection: Any = None, **options: Any) -> BundleReplay:
        """:func:`replay_bundle` with this plugin (the bundle's masked connection unless ``connection``)."""
        return replay_bundle(path, self.plugin, connection, **options)

    def canary(
        self,
        kind: str,
        name: str,
        input: Mapping[str, Any] | None = None,
        *,
        cassette: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> CanaryRun:
        """Run a step (``kind``: action, trigger, task, connection_test) with canary secrets.

        With ``cassette``, the step's outgoing HTTP is recorded into it (scrubbed) and the cassette
        file is searched for the markers too.
        """
        import contextlib

        with contextlib.ExitStack() as stack:
            canary_run = self._canary(kind, name, input, stack, cassette, **options)
        if cassette is not None and os.path.exists(cassette):
            with open(cassette, encoding="utf-8", errors="replace") as handle:
                canary_run.leaks += canary_run.canary.leaks([("cassette", handle.read())])
        return canary_run

    def _canary(self, kind: str, name: str, input: Any, stack: Any, cassette: Any, **options: Any) -> CanaryRun:
        canary = canary_connection(getattr(self.plugin.connection, "schema", None), self.connection)
        if cassette is not None:
            stack.enter_context(self.recording(cassette, record_mode="all", connection=canary.connection))
        runner = {"action": self.action, "trigger": self.trigger, "task": self.task}.get(kind)
        if kind == "connection_test":
            result = self.connection_test(canary.connection)
        elif runner is None:
            raise ValueError(f"kind must be action, trigger, task or connection_test, not {kind!r}")
        else:
            if kind == "trigger":
                options.setdefault("max_events", 3)
            result = runner(name, input, connection=canary.connection, **options)
        return CanaryRun(result, canary, canary.leaks(result.texts()))
