"""``exec_command``: run a command line without a shell, safely and with an optional time limit."""

from __future__ import annotations

import shlex
import subprocess
from typing import Any

from ._helper_base import HelperError, logger


def exec_command(command: str, timeout: float | None = None) -> dict[str, Any]:
    """Run ``command`` without a shell and return ``{"stdout": bytes, "stderr": bytes, "rcode": int}``.

    The string is split with :func:`shlex.split` and executed directly, so ``;``, ``|``, ``$(...)``,
    back-ticks and newlines are plain argument text, never shell syntax. Both pipes are drained
    together (``communicate``) so a chatty stderr cannot deadlock the child. With ``timeout`` the
    child is killed when it runs longer and :class:`HelperError` is raised.
    """
    args = shlex.split(command)
    if not args:
        raise HelperError("exec_command: the command is empty")
    try:
        process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
    except OSError as error:
        logger.error("exec_command: cannot start %r: %s", args[0], error)
        raise HelperError(f"exec_command: cannot start {args[0]!r}: {error}") from error
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as error:
        process.kill()
        process.communicate()
        logger.error("exec_command: %r ran longer than %s s and was killed", args[0], timeout)
        raise HelperError(f"exec_command: {args[0]!r} did not finish within {timeout} s") from error
    return {"stdout": stdout, "stderr": stderr, "rcode": process.returncode}
