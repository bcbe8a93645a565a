"""A plugin whose steps write to stdout and stderr: directly (leaks the kit must find) and through
loggers core routes and masks (no leaks)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import traceback
from typing import Any

import insightconnect_plugin_runtime

from .planted import GOOD_CONNECTION, Connection

__all__ = ["GOOD_CONNECTION", "StdioPlugin"]

EMPTY = {"type": "object", "properties": {}}


class _Action(insightconnect_plugin_runtime.Action):
    def __init__(self) -> None:
        super().__init__(
            self.NAME,
            "writes somewhere",
            insightconnect_plugin_runtime.Input(EMPTY),
            insightconnect_plugin_runtime.Output(EMPTY),
        )


class Prints(_Action):
    """A debugging ``print`` left in: the secret goes to the container's stdout as it is."""

    NAME = "prints"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006 - plugin idiom
        print(f"calling the API with {self.connection.key}")
        return {}


class PrintsTraceback(_Action):
    """``traceback.print_exc()`` of an error whose message holds the secret: straight to stderr."""

    NAME = "prints_traceback"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        try:
            raise ValueError(f"refused key {self.connection.key}")
        except ValueError:
            traceback.print_exc()
        return {}


class PrintsInThread(_Action):
    """The print comes from a thread the step starts."""

    NAME = "prints_in_thread"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        worker = threading.Thread(target=lambda: print(f"worker key={self.connection.key}"))
        worker.start()
        worker.join()
        return {}


class PrintLogger(_Action):
    """A structlog ``PrintLogger`` the step makes on ``sys.stdout``: plain text, no masking."""

    NAME = "print_logger"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        import structlog

        structlog.PrintLogger(sys.stdout).msg(f"key={self.connection.key}")
        return {}


class WritesFd(_Action):
    """Writes the secret to fd 1 with ``os.write``, as a C extension would: below ``sys.stdout``."""

    NAME = "writes_fd"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        os.write(1, f"raw key={self.connection.key}\n".encode())
        return {}


class SubprocessEcho(_Action):
    """Runs a tool that echoes the secret on the stderr it inherits."""

    NAME = "subprocess_echo"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        tool = "import sys; sys.stderr.write('tool says ' + sys.argv[1] + chr(10))"
        subprocess.run([sys.executable, "-c", tool, self.connection.key], check=True, timeout=30)
        return {}


class SubprocessToSysStdout(_Action):
    """Hands ``sys.stdout`` to a subprocess: it writes to that stream's descriptor."""

    NAME = "subprocess_to_sys_stdout"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        tool = "import sys; print('tool says', sys.argv[1])"
        subprocess.run([sys.executable, "-c", tool, self.connection.key], check=True, timeout=30, stdout=sys.stdout)
        return {}


class WritesFdHarmless(_Action):
    """Writes to fds 1 and 2 and runs a subprocess, none of it secret: captured, not a leak."""

    NAME = "writes_fd_harmless"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        os.write(1, b"raw progress 50%\n")
        os.write(2, b"raw warning: slow\n")
        subprocess.run([sys.executable, "-c", "print('tool done')"], check=True, timeout=30)
        return {}


class Structlog(_Action):
    """Logs the secret through ``structlog.get_logger``: routed to the step logger and masked."""

    NAME = "structlog"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        import structlog

        structlog.get_logger("helpers").warning("structlog line", key=self.connection.key)
        return {}


class StepLogger(_Action):
    """Logs the secret through the step logger: masked in the log and on the console."""

    NAME = "step_logger"

    def run(self, params: dict[str, Any] = {}) -> dict[str, Any]:  # noqa: B006
        self.logger.info(f"step logger line key={self.connection.key}")
        return {}


class StdioPlugin(insightconnect_plugin_runtime.Plugin):
    def __init__(self) -> None:
        super().__init__(name="Stdio", vendor="tests", version="0.0.1", connection=Connection())
        for action in (
            Prints,
            PrintsTraceback,
            PrintsInThread,
            PrintLogger,
            WritesFd,
            SubprocessEcho,
            SubprocessToSysStdout,
            WritesFdHarmless,
            Structlog,
            StepLogger,
        ):
            self.add_action(action())
