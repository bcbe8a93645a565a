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


def test_python_buffers_on_the_descriptors_are_flushed_at_the_right_side_of_the_step(monkeypatch, capfd):
    """A stream on fd 1 made before the step (``sys.__stdout__``) may still buffer text: what it held
    before the step goes out before the redirection, what the step left in it is found."""
    writer = open(1, "w", closefd=False, buffering=1 << 16)  # noqa: SIM115 - closed below
    monkeypatch.setattr(sys, "__stdout__", writer)
    try:
        writer.write("before the step\n")
        with captured_stdio() as capture:
            writer.write("left in the buffer by the step\n")
        assert capture.text("stdout") == "left in the buffer by the step\n"
        assert capfd.readouterr().out == "before the step\n"
    finally:
        writer.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_no_descriptor_is_left_open():
    before = sorted(os.listdir("/proc/self/fd"))
    with captured_stdio():
        os.write(1, b"x\n")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_without_pread_only_the_python_streams_are_captured(monkeypatch, capfd):
    monkeypatch.delattr(os, "pread")
    before = _identity(1)
    with captured_stdio() as capture:
        assert _identity(1) == before
        print("printed")
        os.write(1, b"raw\n")
    assert capture.text("stdout") == "printed\n"
    assert capfd.readouterr().out == "raw\n"


def test_a_descriptor_that_is_not_open_is_left_alone_and_the_other_one_captured():
    kept = os.dup(2)
    try:
        os.close(2)
        with captured_stdio() as capture:
            os.write(1, b"still captured\n")
        with pytest.raises(OSError):
            os.fstat(2)
        assert capture.text("stdout") == "still captured\n"
    finally:
        os.dup2(kept, 2)
        os.close(kept)


def test_a_descriptor_closed_during_the_step_is_not_reopened():
    kept = os.dup(1)
    try:
        with captured_stdio():
            os.close(1)
        with pytest.raises(OSError):
            os.fstat(1)
    finally:
        os.dup2(kept, 1)
        os.close(kept)
    assert all(not tap.active and tap.users == 0 for tap in TAPS.values())


def test_a_capture_that_cannot_start_leaves_no_descriptor_redirected(monkeypatch):
    before = _identity(1), _identity(2)

    def refuse() -> None:
        raise OSError("no room for a temporary file")

    monkeypatch.setattr(TAPS["stderr"], "open", refuse)
    with pytest.raises(OSError, match="no room"), captured_stdio():
        pass  # pragma: no cover - never entered
    assert (_identity(1), _identity(2)) == before
    assert TAPS["stdout"].users == 0


def test_a_failed_read_still_puts_every_descriptor_back(monkeypatch):
    before = _identity(1), _identity(2)

    def unreadable(start: int) -> bytes:
        raise OSError("unreadable")

    monkeypatch.setattr(TAPS["stdout"], "read_from", unreadable)
    with pytest.raises(OSError, match="unreadable"), captured_stdio():
        os.write(2, b"on stderr\n")
    assert (_identity(1), _identity(2)) == before
    assert all(not tap.active and tap.users == 0 for tap in TAPS.values())
