"""What a step writes to stdout and stderr is an output path: captured, searched for canaries, and
the console set up as ``bin/<plugin> run`` sets it up (structlog routed, lines masked)."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from insightconnect_plugin_runtime._testing_output import captured_stdio
from insightconnect_plugin_runtime.testing import PluginKit, check_plugin, run_action

from .stdio_plugin import GOOD_CONNECTION, StdioPlugin


@pytest.fixture
def kit():
    return PluginKit(StdioPlugin(), GOOD_CONNECTION)


def test_a_printed_secret_is_a_leak_found_in_stdout(kit):
    run = kit.canary("action", "prints")
    marker = run.canary.markers["api_key.secretKey"]
    assert run.result.ok
    assert f"calling the API with {marker}" in run.result.stdout
    assert [(leak.where, leak.field, leak.form) for leak in run.leaks] == [("stdout", "api_key.secretKey", "plain")]


@pytest.mark.parametrize(
    ("step", "where"), [("prints_traceback", "stderr"), ("prints_in_thread", "stdout"), ("print_logger", "stdout")]
)
def test_direct_writes_from_tracebacks_threads_and_print_loggers_are_leaks(kit, step, where):
    run = kit.canary("action", step)
    assert run.result.ok, run.result.error_message
    assert [(leak.where, leak.field) for leak in run.leaks] == [(where, "api_key.secretKey")]


@pytest.mark.parametrize(
    ("step", "where", "line"),
    [
        ("writes_fd", "stdout", "raw key="),
        ("subprocess_echo", "stderr", "tool says "),
        ("subprocess_to_sys_stdout", "stdout", "tool says "),
    ],
)
@pytest.mark.parametrize("via", ["protocol", "http"])
def test_writes_below_python_are_leaks(step, where, line, via):
    """``os.write(1, ...)`` and a subprocess inheriting fds 1 and 2 never touch ``sys.stdout``: the
    descriptors themselves are captured, in process and behind the HTTP app alike."""
    run = PluginKit(StdioPlugin(), GOOD_CONNECTION, via=via).canary("action", step)
    marker = run.canary.markers["api_key.secretKey"]
    assert run.result.ok, run.result.error_message
    assert f"{line}{marker}\n" in getattr(run.result, where)
    assert [(leak.where, leak.field, leak.form) for leak in run.leaks] == [(where, "api_key.secretKey", "plain")]


def test_writes_below_python_without_a_secret_are_captured_and_no_leak(kit):
    run = kit.canary("action", "writes_fd_harmless")
    assert run.result.ok, run.result.error_message
    assert run.leaks == []
    assert "raw progress 50%\n" in run.result.stdout and "tool done\n" in run.result.stdout
    assert "raw warning: slow\n" in run.result.stderr


@pytest.mark.parametrize("step", ["structlog", "step_logger"])
def test_lines_logged_through_structlog_or_the_step_logger_are_masked_on_the_console(kit, step):
    run = kit.canary("action", step)
    assert run.result.ok, run.result.error_message
    assert run.leaks == []
    # the console line is there, as a one-shot run prints it on stderr, masked like body.log
    line = "structlog line" if step == "structlog" else "step logger line"
    assert line in run.result.stderr
    assert line in run.result.log
    assert "key=********" in run.result.stderr
    assert run.result.stdout == ""


def test_the_console_writes_json_lines_in_the_cloud(monkeypatch):
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    try:
        result = run_action(StdioPlugin(), "step_logger", connection=GOOD_CONNECTION)
    finally:
        monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT")
        run_action(StdioPlugin(), "step_logger", connection=GOOD_CONNECTION)  # plain lines again
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any("step logger line" in line["message"] for line in lines)


def test_check_reports_print_leaks_and_prints_no_marker(capsys):
    findings = check_plugin(StdioPlugin(), GOOD_CONNECTION, fuzz=False)
    leaks = sorted((f.step, f.detail.split(" (")[0]) for f in findings if f.check == "leak")
    assert leaks == [
        ("action print_logger", "api_key.secretKey leaked into stdout"),
        ("action prints", "api_key.secretKey leaked into stdout"),
        ("action prints_in_thread", "api_key.secretKey leaked into stdout"),
        ("action prints_traceback", "api_key.secretKey leaked into stderr"),
        ("action subprocess_echo", "api_key.secretKey leaked into stderr"),
        ("action subprocess_to_sys_stdout", "api_key.secretKey leaked into stdout"),
        ("action writes_fd", "api_key.secretKey leaked into stdout"),
    ]
    printed = capsys.readouterr()
    assert "cnry" not in printed.out + printed.err


def test_the_streams_are_put_back_whatever_order_overlapping_captures_end_in():
    stdout, stderr = sys.stdout, sys.stderr
    first = captured_stdio()
    second = captured_stdio()
    one = first.__enter__()
    two = second.__enter__()
    print("to the second")  # this thread entered the second capture last
    first.__exit__(None, None, None)
    assert sys.stdout is not stdout  # the second capture is still open
    print("still the second")
    second.__exit__(None, None, None)
    assert (sys.stdout, sys.stderr) == (stdout, stderr)
    assert one.text("stdout") == ""
    assert two.text("stdout") == "to the second\nstill the second\n"


def test_a_thread_outside_every_capture_writes_to_all_open_ones():
    with captured_stdio() as outer:
        with captured_stdio() as inner:
            thread = threading.Thread(target=lambda: sys.stderr.write("from a thread\n"))
            thread.start()
            thread.join()
    assert outer.text("stderr") == inner.text("stderr") == "from a thread\n"


def test_a_stream_kept_from_a_capture_writes_to_the_original_afterwards(capsys):
    with captured_stdio():
        kept = sys.stdout
    kept.write("after the step\n")
    assert capsys.readouterr().out == "after the step\n"


def test_a_capture_left_open_does_not_stop_later_ones_when_the_streams_were_swapped(monkeypatch):
    """The fuzzer abandons a step that outlives its budget (its capture stays open) and pytest swaps
    the streams between tests: the next step's writes are still captured, and the streams put back."""
    import io

    abandoned = captured_stdio()
    abandoned.__enter__()
    try:
        swapped = io.StringIO()
        monkeypatch.setattr(sys, "stdout", swapped)
        with captured_stdio() as later:
            print("next step")
        assert later.text("stdout") == "next step\n"
        assert sys.stdout is swapped
    finally:
        abandoned.__exit__(None, None, None)


def test_bytes_written_to_the_buffer_are_captured_too():
    with captured_stdio() as capture:
        sys.stdout.buffer.write("bytes é\n".encode())
        sys.stdout.flush()
    assert capture.text("stdout") == "bytes é\n"


def test_a_character_split_across_buffer_writes_is_captured_whole():
    """A ``TextIOWrapper`` over ``sys.stdout.buffer`` writes at any byte: a non-ASCII secret split
    there must still be found (decoding each write alone gave replacement characters)."""
    secret = "pässwörd-ünïcode"
    with captured_stdio() as capture:
        for byte in secret.encode():
            sys.stdout.buffer.write(bytes([byte]))
        sys.stdout.buffer.write(b"\n")
    assert capture.text("stdout") == secret + "\n"


def test_a_step_the_fuzzer_gives_up_on_leaves_the_streams_as_they_were():
    """A step that outlives its budget keeps running in its thread; its capture is closed when the
    kit stops waiting, so what is printed afterwards (the check table) is not swallowed by it."""
    from insightconnect_plugin_runtime._testing_fuzz import _run_bounded

    release = threading.Event()
    stdout = sys.stdout

    def stuck() -> None:
        with captured_stdio():
            release.wait(10)

    try:
        finished, _ = _run_bounded(stuck, 0.2)
        assert not finished
        assert sys.stdout is stdout
        with captured_stdio() as later:
            print("next step")
        assert later.text("stdout") == "next step\n"
        assert sys.stdout is stdout
    finally:
        release.set()


def test_a_switch_over_a_closed_stream_flushes_and_closes_quietly() -> None:
    import os

    from insightconnect_plugin_runtime._testing_output import _Switch

    original = open(os.devnull, "w")  # noqa: SIM115 - closed on purpose
    original.close()
    switch = _Switch("stdout", original)
    switch.flush()  # raised "I/O operation on closed file" (seen when a collected switch was closed)
    switch.close()
    assert switch.closed
