"""The process-wide masking authority: in-flight registry, every handler, logging errors, uncaught
exceptions, and the attribution of threads and executor tasks a step starts (issue 14)."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from insightconnect_plugin_runtime import util
from insightconnect_plugin_runtime._in_flight import IN_FLIGHT, InFlightSecrets
from insightconnect_plugin_runtime._logging import Execution, _current, capture, current_execution
from insightconnect_plugin_runtime._masking import MASK, MAX_SECRETS, NO_MASKER, SecretMasker
from insightconnect_plugin_runtime._process_masking import install, print_thread_exception

SECRET = "in-flight-s3cret/+="
SAMPLE_MESSAGES = Path(__file__).resolve().parents[3] / "samples" / "example" / "messages"


def load_message(name: str) -> dict:
    return json.loads((SAMPLE_MESSAGES / f"{name}.json").read_text())


@pytest.fixture(autouse=True)
def installed():
    install()


@pytest.fixture
def held():
    masker = SecretMasker([SECRET])
    IN_FLIGHT.acquire(masker)
    yield masker
    IN_FLIGHT.release(masker)


def _stream_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(name)
    logger.handlers = [logging.StreamHandler(stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_registry_counts_users_and_masks_with_all_of_them():
    registry = InFlightSecrets()
    first, second = SecretMasker(["first-secret"]), SecretMasker(["second-secret"])
    assert registry.mask_text("first-secret") == "first-secret"
    registry.acquire(first)
    registry.acquire(first)
    registry.acquire(second)
    registry.acquire(NO_MASKER)
    assert registry.active == (first, second)
    assert registry.mask_text("first-secret and second-secret") == f"{MASK} and {MASK}"
    registry.release(first)
    assert registry.mask_text("first-secret") == MASK  # still one user
    registry.release(first)
    assert registry.active == (second,)
    assert registry.mask_text("first-secret") == "first-secret"
    registry.release(first)  # releasing what is not held changes nothing
    registry.release(NO_MASKER)
    assert registry.active == (second,)
    registry.release(second)
    assert registry.active == () and registry.mask_text("second-secret") == "second-secret"


def test_registry_masks_overlapping_secrets_of_two_executions_as_one_union():
    registry = InFlightSecrets()
    registry.acquire(SecretMasker(["1234567"]))
    registry.acquire(SecretMasker(["5678901"]))
    assert registry.mask_text("x1234567890123y") == f"x{MASK}23y"
    also = SecretMasker(["xyz-only"])
    assert registry.mask_text("xyz-only", also=also) == MASK
    assert registry.mask_text("") == "" and registry.mask_text(None) is None


def test_registry_masks_values_and_numbers():
    registry = InFlightSecrets()
    assert registry.mask({"a": "9911223"}) == {"a": "9911223"}
    masker = SecretMasker(["9911223"])
    registry.acquire(masker)
    assert registry.mask({"a": 9911223, "b": ["x 9911223"], "c": 5}) == {"a": MASK, "b": [f"x {MASK}"], "c": 5}
    registry.release(masker)


def test_public_mask_function_uses_the_authority(held):
    assert util.mask_secrets_in_flight(f"a {SECRET} b") == f"a {MASK} b"


def test_every_logger_and_handler_is_masked(held):
    for name in ("urllib3.connectionpool", "botocore.credentials", "some.plugin.module"):
        logger, stream = _stream_logger(name)
        logger.warning("calling /x?key=%s", SECRET, extra={"token": SECRET})
        logger.error("failed", exc_info=ValueError(f"bad {SECRET}"))
        text = stream.getvalue()
        assert SECRET not in text and text.count(MASK) == 2, text


def test_a_broken_record_is_reported_without_its_arguments(held, capsys):
    logger, stream = _stream_logger("broken.args")

    class Unrenderable:
        def __str__(self):
            raise ValueError(f"cannot render {SECRET}")

    logger.warning("%s and %s", SECRET)  # noqa: PLE1206 - too few arguments, on purpose
    logger.warning("value %s", Unrenderable())
    err = capsys.readouterr().err
    assert stream.getvalue() == ""
    assert err.count("its arguments are not shown") == 2
    assert "TypeError" in err and "ValueError: cannot render ********" in err
    assert "'broken.args'" in err and SECRET not in err and "Arguments" not in err


def test_logging_errors_are_silent_when_logging_says_so(held, capsys, monkeypatch):
    monkeypatch.setattr(logging, "raiseExceptions", False)
    logger, _ = _stream_logger("broken.silent")
    logger.warning("%s and %s", SECRET)  # noqa: PLE1206 - on purpose
    assert capsys.readouterr().err == ""


def test_uncaught_thread_exception_is_printed_masked(held, capsys):
    # pytest replaces threading.excepthook during a test, so the hook is called as Python would.
    def fail():
        raise RuntimeError(f"boom with {SECRET}")

    thread = threading.Thread(target=fail, name="leaky")
    try:
        fail()
    except RuntimeError:
        print_thread_exception(threading.ExceptHookArgs([*sys.exc_info(), thread]))
    print_thread_exception(threading.ExceptHookArgs([SystemExit, SystemExit(3), None, thread]))
    err = capsys.readouterr().err
    assert err.startswith("Exception in thread leaky:\nTraceback")
    assert f"boom with {MASK}" in err and SECRET not in err and "SystemExit" not in err


def test_uncaught_process_exception_is_printed_masked(held, capsys):
    try:
        raise KeyError(SECRET)
    except KeyError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert "KeyError" in err and MASK in err and SECRET not in err


def _execution(secret: str) -> Execution:
    execution = Execution(masker=SecretMasker([secret]))
    return execution


def test_threads_a_step_starts_log_into_its_execution_and_hold_its_secrets():
    execution = _execution("thread-secret-1")
    seen = []
    release = threading.Event()

    def worker():
        seen.append(current_execution())
        release.wait(5)
        seen.append(current_execution())

    with capture(execution):
        thread = threading.Thread(target=worker)
        thread.start()
    assert execution.masker in IN_FLIGHT.active  # the thread still runs: its secrets stay registered
    release.set()
    thread.join()
    assert seen == [execution, execution]
    assert execution.masker not in IN_FLIGHT.active


def test_timer_threads_are_attributed_too():
    execution = _execution("timer-secret-1")
    seen = []
    with capture(execution):
        timer = threading.Timer(0, lambda: seen.append(current_execution()))
        timer.start()
    timer.join()
    assert seen == [execution]


def test_executor_tasks_carry_their_own_execution_not_the_pool_threads():
    first, second = _execution("pool-secret-1"), _execution("pool-secret-2")
    other = _execution("pool-secret-3")
    with capture(other), ThreadPoolExecutor(max_workers=1) as pool:  # two executions in flight
        with capture(first):
            assert pool.submit(current_execution).result() is first
        with capture(second):
            assert pool.submit(current_execution).result() is second
        token = _current.set(None)
        try:
            # The worker thread was started during the first execution, yet serves others unattributed,
            # and no earlier task's execution lingers in it.
            assert pool.submit(current_execution).result() not in (first, second)
        finally:
            _current.reset(token)
    assert first.masker not in IN_FLIGHT.active and second.masker not in IN_FLIGHT.active


def test_a_task_holds_its_secrets_until_it_is_done():
    execution = _execution("task-secret-1")
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        with capture(execution):
            future = pool.submit(gate.wait, 5)
        assert execution.masker in IN_FLIGHT.active
        gate.set()
        future.result()
    assert execution.masker not in IN_FLIGHT.active


def test_submitting_keeps_the_steps_own_execution():
    execution = _execution("task-secret-3")
    with capture(execution), ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(print, end="").result()
        assert current_execution() is execution


def test_a_refused_submit_or_start_releases_its_secrets():
    execution = _execution("task-secret-4")
    pool = ThreadPoolExecutor(max_workers=1)
    pool.shutdown()
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    with capture(execution):
        with pytest.raises(RuntimeError):
            pool.submit(print)
        with pytest.raises(RuntimeError):
            thread.start()  # a thread starts only once
        assert IN_FLIGHT._counts.get(execution.masker, 0) <= 1  # noqa: SLF001 - only capture's own hold
    assert execution.masker not in IN_FLIGHT.active


def test_a_cancelled_task_releases_its_secrets():
    execution = _execution("task-secret-2")
    gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        blocker = pool.submit(gate.wait, 5)
        with capture(execution):
            queued = pool.submit(print, "never")
        assert queued.cancel()
        gate.set()
        blocker.result()
    assert execution.masker not in IN_FLIGHT.active


def test_thread_lines_reach_the_step_log_through_the_runner(run_cli):
    message = load_message("leak_everywhere")
    result = run_cli("run", stdin=json.dumps(message))
    log = result.reply["body"]["log"]
    for where in ("executor-a", "executor-b", "bare-thread"):
        assert f"sample {where}: {MASK} {MASK}" in log
    assert "example-secret-key-123" not in result.stdout + result.stderr
    assert "48213" not in result.stdout + result.stderr
    assert result.reply["body"]["output"]["encoded"] == [{"opaque": MASK}, MASK, [MASK], MASK, MASK]


def test_warnings_reach_stderr_masked(run_cli):
    result = run_cli("run", stdin=json.dumps(load_message("leak_everywhere")))
    assert result.reply["body"]["status"] == "ok"
    assert f"UserWarning: sample deprecated call holding {MASK}\n" in result.stderr
    assert "example-secret-key-123" not in result.stdout + result.stderr


def test_warnings_are_formatted_masked_in_process(held):
    """What both Python's default ``showwarning`` and ``logging.captureWarnings`` write (pytest
    records warnings itself, so the subprocess test above shows the stderr path)."""
    import warnings

    text = warnings.formatwarning(f"deprecated with {SECRET}", UserWarning, "plugin.py", 7, line="x = 1")
    assert text == f"plugin.py:7: UserWarning: deprecated with {MASK}\n  x = 1\n"


NON_ASCII = "pässwörd-ключ"
#: Pieces of the non-ASCII secret in every escaped form: none may reach any output.
NON_ASCII_PIECES = ("ssw", "ключ", "\\xc3\\xa4", "\\xe4", "\\u043a", "\\xd0\\xba", "\\\\x")


def test_a_non_ascii_secret_leaves_the_one_shot_run_masked_in_every_escaped_form(run_cli):
    message = load_message("leak_everywhere")
    message["body"]["connection"]["api_key"]["secretKey"] = NON_ASCII
    message["body"]["input"]["fail"] = True
    result = run_cli("run", stdin=json.dumps(message))
    body = result.reply["body"]
    assert body["status"] == "error"
    # base64("user:" + secret) keeps the characters that encode "user:" ("dXNlcjp"), nothing of the secret
    assert body["error"].endswith(f"failed while holding {MASK} (dXNlcjp{MASK}) b'{MASK}'"), body["error"]
    assert f"sample request-thread bytes: b'{MASK}' ascii: '{MASK}'" in body["log"]
    for piece in NON_ASCII_PIECES:
        assert piece not in result.stdout + result.stderr, piece


def test_every_logger_masks_bytes_and_ascii_forms_of_a_non_ascii_secret():
    masker = SecretMasker([NON_ASCII])
    IN_FLIGHT.acquire(masker)
    try:
        logger, stream = _stream_logger("test.process_masking.non_ascii")
        logger.info("%s %a %r", NON_ASCII.encode(), NON_ASCII, NON_ASCII.encode())
        logger.info(json.dumps({"k": NON_ASCII}))
    finally:
        IN_FLIGHT.release(masker)
    assert stream.getvalue() == f"b'{MASK}' '{MASK}' b'{MASK}'\n{{\"k\": \"{MASK}\"}}\n"


def test_a_connection_with_too_many_secrets_is_refused_before_the_step_runs(run_cli):
    message = load_message("say_hello")
    message["body"]["connection"]["extra"] = [{"token": f"token-{i:05d}"} for i in range(MAX_SECRETS * 4)]
    result = run_cli("run", stdin=json.dumps(message))
    body = result.reply["body"]
    assert body["status"] == "error" and "more secret values than the runtime masks" in body["error"]
    assert "Step name" not in body["log"]  # refused before the step header: nothing of the step ran
    assert "token-00001" not in result.stdout + result.stderr


# --- installation, in a fresh interpreter: what install() reports and which hooks it takes ---------------


def _fresh(code: str, **env: str) -> str:
    import os
    import subprocess

    environ = {k: v for k, v in os.environ.items() if k != "ICON_RUNTIME_BENCH_NO_PROCESS_MASKING"}
    environ.update(env)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


INSTALL_TWICE = (
    "import logging, sys, threading\n"
    "from insightconnect_plugin_runtime import _process_masking as pm\n"
    "print(pm.install(), pm.install(), threading.excepthook is pm.print_thread_exception,"
    " sys.excepthook is pm.print_uncaught_exception, logging.Handler.handleError is pm.report_logging_error)"
)


def test_install_reports_true_every_time_and_takes_the_default_hooks() -> None:
    assert _fresh(INSTALL_TWICE) == "True True True True True"


def test_the_bench_switch_leaves_the_process_unmasked_and_says_so() -> None:
    assert _fresh(INSTALL_TWICE, ICON_RUNTIME_BENCH_NO_PROCESS_MASKING="1") == "False False False False False"


def test_a_plugins_own_excepthooks_are_kept() -> None:
    code = (
        "import sys, threading\n"
        "mine = lambda *a: None\n"
        "threading.excepthook = mine; sys.excepthook = mine\n"
        "from insightconnect_plugin_runtime import _process_masking as pm\n"
        "print(pm.install(), threading.excepthook is mine, sys.excepthook is mine)"
    )
    assert _fresh(code) == "True True True"


def test_an_exception_of_a_thread_without_a_thread_object_is_reported_as_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    try:
        raise ValueError("boom")
    except ValueError as error:
        args = SimpleNamespace(exc_type=ValueError, exc_value=error, exc_traceback=error.__traceback__, thread=None)
    print_thread_exception(args)
    assert stderr.getvalue().startswith("Exception in thread unknown:\nTraceback")
    assert stderr.getvalue().rstrip().endswith("ValueError: boom")
