"""``bin/<plugin>``: the command line every plugin container runs.

Sub-commands: ``info``, ``sample <step>``, ``run`` and ``test`` (one JSON message on stdin or after
``--``, one JSON reply on stdout), ``http`` (served by icon-runtime-http, found through an entry
point) and ``dead-letters list|redrive`` (trigger events the orchestrator rejected, see ``outbox``).
stdout carries only JSON; logs go to stderr and into ``body.log``.

Exit codes: 0 success, 1 the step failed, 2 usage error or unreadable message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .exceptions import MessageError
from .execution import ACTION, EXIT_OK, EXIT_STEP_FAILED, EXIT_USAGE, TASK, TRIGGER, Context, Reply, execute, refusal

if TYPE_CHECKING:
    import argparse

__all__ = ["BUILTIN_COMMANDS", "CLI", "EXIT_OK", "EXIT_STEP_FAILED", "EXIT_USAGE"]

#: Sub-commands core implements; an extension may not replace them.
BUILTIN_COMMANDS = frozenset({"info", "sample", "run", "test", "http", "dead-letters"})

GREEN = "\033[92m"
RESET = "\033[0m"


class CLI:
    """Parses the command line of a plugin's ``bin`` script and runs it."""

    def __init__(self, plugin: Any, args: Sequence[str] | None = None) -> None:
        self.plugin = plugin
        args = list(sys.argv[1:] if args is None else args)
        self.msg: str | None = None
        if "--" in args:
            split = args.index("--")
            self.msg = " ".join(args[split + 1 :])
            args = args[:split]
        self.args = args
        self._stdout: TextIO | None = None
        self._stdin: TextIO | None = None

    # --- streams ---------------------------------------------------------------------------------------

    # ``sys.stdout`` and ``sys.stdin`` are looked up each time they are used, not when the CLI is built:
    # harnesses and plugins' tests build the CLI first, then redirect stdio (``redirect_stdout``,
    # swapping ``sys.stdin``). Assigning a stream pins it instead.

    @property
    def stdout(self) -> TextIO:
        return self._stdout if self._stdout is not None else sys.stdout

    @stdout.setter
    def stdout(self, stream: TextIO | None) -> None:
        self._stdout = stream

    @property
    def stdin(self) -> TextIO:
        return self._stdin if self._stdin is not None else sys.stdin

    @stdin.setter
    def stdin(self, stream: TextIO | None) -> None:
        self._stdin = stream

    # --- parsing -------------------------------------------------------------------------------------

    def _parser(self) -> argparse.ArgumentParser:
        import argparse

        parser = argparse.ArgumentParser(prog=self._prog(), description=self.plugin.description or None)
        parser.add_argument("--debug", action="store_true", help="log at debug level; trigger events go to stdout")
        parser.add_argument("--version", action="store_true", help="print the plugin and runtime versions")
        commands = parser.add_subparsers(dest="command")
        commands.add_parser("info", help="describe the plugin and its steps")
        sample = commands.add_parser("sample", help="print an example start message for a step")
        sample.add_argument("name", help="action, trigger or task name")
        commands.add_parser("run", help="run the step named by the message on stdin")
        commands.add_parser("test", help="test the step or connection named by the message on stdin")
        http = commands.add_parser("http", help="serve the plugin over HTTP (needs icon-runtime-http)")
        http.add_argument("--port", type=int, default=10001)
        http.add_argument("--bind", default="0.0.0.0", help="address to listen on")
        http.add_argument(
            "--process_workers", "--process-workers", "--process", "--workers", dest="process_workers", type=int,
            default=1,
        )  # fmt: skip
        http.add_argument(
            "--threads_per_worker", "--threads-per-worker", "--threads", dest="threads_per_worker", type=int,
            default=4,
        )  # fmt: skip
        http.add_argument(
            "--worker_class", "--worker-class", dest="worker_class", choices=("sync", "gthread", "gevent"),
            default="sync",
        )  # fmt: skip
        http.add_argument(
            "--worker_connections", "--worker-connections", dest="worker_connections", type=int, default=200
        )
        http.add_argument("--graceful_timeout", "--graceful-timeout", dest="graceful_timeout", type=int, default=30)
        http.add_argument("--debug", dest="http_debug", action="store_true", help="debug logging")
        if self._first_command() in (None, "dead-letters"):  # help or the command itself: run, test... skip it
            from .outbox import add_command

            add_command(commands)
        for name, command in self._extension_commands():
            extension = commands.add_parser(name, help=getattr(command, "help", None))
            if hasattr(command, "add_arguments"):
                command.add_arguments(extension)
        return parser

    def _first_command(self) -> str | None:
        """The sub-command the arguments name, without parsing them (None: help or nothing)."""
        return next((arg for arg in self.args if not arg.startswith("-")), None)

    def _extension_commands(self) -> tuple[tuple[str, Any], ...]:
        """Sub-commands siblings add (entry points), loaded only when no built-in command is named."""
        if self._first_command() in BUILTIN_COMMANDS:
            return ()
        from ._extensions import cli_commands

        return tuple((name, command) for name, command in cli_commands() if name not in BUILTIN_COMMANDS)

    def _prog(self) -> str:
        import os

        return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else self.plugin.name

    # --- entry point -----------------------------------------------------------------------------------

    def run(self) -> None:
        """Run the command; exits the process with a non-zero code on failure."""
        code = self.main()
        if code != EXIT_OK:
            sys.exit(code)

    def _quick_step(self) -> tuple[str, bool] | None:
        """``(command, debug)`` when the arguments are ``[--debug] run|test``: what argparse would make
        of them, without importing and building the parser (a sixth of a one-shot run)."""
        debug = self.args[:1] == ["--debug"]
        rest = self.args[1:] if debug else self.args
        return (rest[0], debug) if rest in (["run"], ["test"]) else None

    def main(self) -> int:
        quick = self._quick_step()
        if quick is not None:
            return self.execute_step(is_test=quick[0] == "test", is_debug=quick[1], msg=self.msg)
        try:
            args = self._parser().parse_args(self.args)
        except SystemExit as exit_:
            return EXIT_OK if exit_.code in (0, None) else EXIT_USAGE
        if args.version:
            return self.version()
        if args.command == "info":
            return self.info(args)
        if args.command == "sample":
            return self.sample(args)
        if args.command in ("run", "test"):
            return self.execute_step(is_test=args.command == "test", is_debug=args.debug, msg=self.msg)
        if args.command == "http":
            return self.server(args)
        if args.command == "dead-letters":
            from .outbox import run_command

            return run_command(args, self.stdout)
        extension = dict(self._extension_commands()).get(args.command or "")
        if extension is not None:
            return int(extension.run(self.plugin, args) or 0)
        self._parser().print_help(self.stdout)
        return EXIT_OK

    # --- commands -------------------------------------------------------------------------------------

    def version(self) -> int:
        from ._components import installed_distributions

        self.stdout.write(f"{self.plugin.name} {self.plugin.version}\n")
        for name, version in installed_distributions().items():
            self.stdout.write(f"{name} {version}\n")
        return EXIT_OK

    def info(self, args: argparse.Namespace | None = None) -> int:
        plugin = self.plugin
        lines = [
            f"{label + ':':<13}{GREEN}{value}{RESET}"
            for label, value in (
                ("Name", plugin.name),
                ("Vendor", plugin.vendor),
                ("Version", plugin.version),
                ("Description", plugin.description),
            )
        ]
        for title, steps in (
            ("Triggers", plugin.triggers),
            ("Actions", plugin.actions),
            ("Tasks", plugin.tasks),
        ):
            if steps:
                lines += ["", f"{title} ({len(steps)}):"]
                lines += [f"└── {GREEN}{name}{RESET} ({step.description}{RESET})" for name, step in steps.items()]
        self.stdout.write("\n".join(lines) + "\n\n")
        return EXIT_OK

    def sample(self, args: argparse.Namespace) -> int:
        message = self.sample_message(args.name)
        if message is None:
            sys.stderr.write(f"No action, trigger or task is named {args.name!r}.\n")
            return EXIT_USAGE
        self.stdout.write(json.dumps(message, cls=self.plugin.custom_encoder) + "\n")
        return EXIT_OK

    def sample_message(self, name: str) -> dict[str, Any] | None:
        plugin = self.plugin
        connection = plugin.connection.sample() if plugin.connection is not None else {}
        for step_kind in (TASK, TRIGGER, ACTION):
            step = step_kind.steps(plugin).get(name)
            if step is None:
                continue
            kind = step_kind.name
            body: dict[str, Any] = {
                kind: name,
                "meta": {},
                "input": step.input.sample() if step.input is not None else {},
                "connection": connection or {},
            }
            if kind == "trigger":
                body["dispatcher"] = {"url": "http://localhost:8000", "webhook_url": ""}
            if kind == "task":
                state = getattr(step, "state", None)
                body["state"] = state.sample() if state is not None else {}
                body["custom_config"] = {}
            return {"body": body, "type": step_kind.start_type, "version": "v1"}
        return None

    def execute_step(self, is_test: bool = False, is_debug: bool = False, msg: str | None = None) -> int:
        from ._logging import configure_console
        from .util import is_running_in_cloud

        configure_console(json_lines=is_running_in_cloud(), debug=is_debug)
        self.plugin.debug = self.plugin.debug or is_debug
        message, problem = self._read_message(msg)
        if problem is not None:
            sys.stderr.write(problem + "\n")
            return self._write_reply(refusal(self.plugin, None, None, problem, error=MessageError(problem)))
        return self._write_reply(execute(self.plugin, message, Context(is_test=is_test, is_debug=is_debug)))

    def _read_message(self, inline: str | None) -> tuple[Any, str | None]:
        try:
            text = inline if inline is not None else self.stdin.read()
        except (OSError, UnicodeDecodeError) as error:
            return None, f"The message could not be read: {error}"
        if not text or not text.strip():
            return None, "No message was given: pass one JSON message on stdin or after '--'."
        try:
            return json.loads(text, cls=self.plugin.custom_decoder), None
        except (ValueError, RecursionError) as error:
            return None, f"The message is not valid JSON: {error}"

    def _write_reply(self, reply: Reply) -> int:
        text = reply.to_json(self.plugin.custom_encoder)
        if reply.unwritable is not None:
            sys.stderr.write(reply.unwritable + "\n")
        self.stdout.write(text + "\n")
        self.stdout.flush()
        return reply.exit_code

    # Names plugins' tests and harnesses call on the CLI object.
    def run_step(self, args: Any = None) -> int:
        return self.execute_step(is_test=False, is_debug=bool(getattr(args, "debug", False)), msg=self.msg)

    def test_step(self, args: Any = None) -> int:
        return self.execute_step(is_test=True, is_debug=bool(getattr(args, "debug", False)), msg=self.msg)

    def server(self, args: argparse.Namespace) -> int:
        from ._contracts import ServerOptions
        from ._extensions import load_server

        serve = load_server()
        if serve is None:
            sys.stderr.write(
                "The http command is provided by the icon-runtime-http distribution, which is not installed "
                "(pip install icon-runtime-http).\n"
            )
            return EXIT_USAGE
        options = ServerOptions.from_namespace(args)
        self.plugin.debug = self.plugin.debug or options.debug
        return int(serve(self.plugin, options) or 0)
