"""fds 1 and 2 are captured while a step runs and put back afterwards: also on an exception, when
captures overlap, and without clobbering a descriptor someone else (pytest) pointed elsewhere."""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import pytest

from insightconnect_plugin_runtime._testing_fd_capture import TAPS
from insightconnect_plugin_runtime._testing_output import captured_stdio


def _identity(fd: int) -> tuple[int, int]:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def test_the_descriptors_are_put_back_and_later_writes_reach_them(capfd):
    before = _identity(1), _identity(2)
    with captured_stdio() as capture:
        assert _identity(1) != before[0] and _identity(2) != before[1]
        os.write(1, b"inside out\n")
        os.write(2, b"inside err\n")
    assert (_identity(1), _identity(2)) == before
    os.write(1, b"after\n")
    assert capture.text("stdout") == "inside out\n" and capture.text("stderr") == "inside err\n"
    assert capfd.readouterr().out == "after\n"  # the write inside went to the capture only


def test_the_descriptors_are_put_back_when_the_step_raises():
    before = _identity(1), _identity(2)
    with pytest.raises(RuntimeError), captured_stdio() as capture:
        os.write(1, b"before the error\n")
        raise RuntimeError("the step failed")
    assert (_identity(1), _identity(2)) == before
    assert capture.text("stdout") == "before the error\n"
    assert all(not tap.active and tap.users == 0 for tap in TAPS.values())


def test_overlapping_captures_share_the_redirection_and_the_last_one_puts_it_back():
    before = _identity(1)
    first = captured_stdio()
    one = first.__enter__()
    os.write(1, b"first only\n")
    second = captured_stdio()
    two = second.__enter__()
    os.write(1, b"both\n")  # a descriptor is process-wide: both steps may have written it
    first.__exit__(None, None, None)
    assert _identity(1) != before  # the second capture is still open
    os.write(1, b"second only\n")
    second.__exit__(None, None, None)
    assert _identity(1) == before
    assert one.text("stdout") == "first only\nboth\n"
    assert two.text("stdout") == "both\nsecond only\n"


def test_a_descriptor_pointed_elsewhere_meanwhile_is_left_there():
    """pytest points fds 1 and 2 at its own files between tests; a capture ending later (a step the
    fuzzer abandoned) must not put back a descriptor that is no longer its file."""
    kept = os.dup(1)
    try:
        with tempfile.TemporaryFile() as elsewhere:
            with captured_stdio():
                os.dup2(elsewhere.fileno(), 1)
            assert _identity(1) == _identity(elsewhere.fileno())
    finally:
        os.dup2(kept, 1)
        os.close(kept)


def test_a_subprocess_given_sys_stdout_writes_to_the_captured_descriptor():
    import subprocess

    with captured_stdio() as capture:
        assert sys.stdout.fileno() == 1
        subprocess.run([sys.executable, "-c", "print('from the child')"], stdout=sys.stdout, check=True, timeout=30)
    assert capture.text("stdout") == "from the child\n"


def test_python_text_comes_first_then_the_descriptors_text():
    with captured_stdio() as capture:
        os.write(1, b"raw\n")
        print("printed")
    assert capture.text("stdout") == "printed\nraw\n"


def test_a_step_the_fuzzer_gives_up_on_leaves_the_descriptors_as_they_were():
    from insightconnect_plugin_runtime._testing_fuzz import _run_bounded

    release = threading.Event()
    before = _identity(1), _identity(2)

    def stuck() -> None:
        with captured_stdio():
            release.wait(10)

    try:
        finished, _ = _run_bounded(stuck, 0.2)
        assert not finished
        assert (_identity(1), _identity(2)) == before
    finally:
        release.set()
