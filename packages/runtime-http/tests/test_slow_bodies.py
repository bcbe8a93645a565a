"""Clients that send the headers and then stall, or drip the body, against a real gunicorn server.

Without a deadline, each such client held one worker thread for as long as it kept the connection
open, and a handful of them stopped the server answering anyone (found by the attack review).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from icon_http_testkit import Server, message, start_server

from insightconnect_plugin_runtime.api._read_deadline import ReadWatchdog

HELLO = "/api/v1/actions/say_hello"
DEADLINE = 2.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"ICON_RUNTIME_BODY_READ_SECONDS": str(DEADLINE)}
    srv = start_server(tmp_path_factory.mktemp("slow"), env, ("--process-workers", "1", "--threads", "2"))
    try:
        yield srv
    finally:
        srv.stop()


def _stalled(port: int, declared: int = 1000, sent: bytes = b'{"a"') -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    head = (
        f"POST {HELLO} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    sock.sendall(head.encode() + sent)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 1 << 30


def test_a_stalled_body_is_answered_with_a_json_408_after_the_deadline(server: Server) -> None:
    started = time.monotonic()
    sock = _stalled(server.port)
    try:
        status, body = _answer(sock)
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    assert status == 408
    assert body["type"] == "action_event" and body["body"]["status"] == "error"
    assert f"within {DEADLINE:g} seconds" in body["body"]["error"]
    assert DEADLINE - 0.5 <= elapsed < DEADLINE + 10  # a hang guard, not a speed figure


def test_a_dripped_body_cannot_extend_the_deadline(server: Server) -> None:
    sock = _stalled(server.port, declared=10_000, sent=b"[")
    started = time.monotonic()
    try:
        for _ in range(int(DEADLINE * 4)):  # one byte every 0.5 s: each recv returns before any timeout
            time.sleep(0.5)
            try:
                sock.sendall(b" ")
            except OSError:
                break
        status, body = _answer(sock)
    finally:
        sock.close()
    assert status == 408, body
    assert time.monotonic() - started < DEADLINE * 4 + 5


def test_stalled_clients_do_not_keep_the_server_from_answering(server: Server) -> None:
    stalled = [_stalled(server.port) for _ in range(6)]  # three times the worker's two threads
    try:
        started = time.monotonic()
        reply = server.post(HELLO, message("say_hello"), timeout=DEADLINE * 6 + 10)
        assert reply.status == 200
        assert time.monotonic() - started < DEADLINE * 6 + 10
    finally:
        for sock in stalled:
            sock.close()


def test_a_prompt_body_is_not_cut(server: Server) -> None:
    for _ in range(3):
        assert server.post(HELLO, message("say_hello")).status == 200


def test_the_watchdog_cuts_only_late_reads(tmp_path: Path) -> None:
    watchdog = ReadWatchdog()
    left, right = socket.socketpair()
    early_left, early_right = socket.socketpair()
    try:
        with watchdog.guard(early_left, 0.2) as early:
            early_right.sendall(b"x")
            assert early_left.recv(1) == b"x"
        started = time.monotonic()
        with watchdog.guard(left, 0.3) as late:
            assert left.recv(1) == b""  # blocked until the watchdog shut the read side
        assert 0.25 <= time.monotonic() - started < 0.9  # cut at its deadline: not before, not much after
        time.sleep(0.4)
        assert late.fired is True
        assert early.fired is False
        early_right.sendall(b"y")
        assert early_left.recv(1) == b"y"  # a read that ended in time is never cut afterwards
    finally:
        for sock in (left, right, early_left, early_right):
            sock.close()


def test_one_watchdog_thread_serves_every_read() -> None:
    watchdog = ReadWatchdog()
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        for left, right in pairs:
            with watchdog.guard(left, 5.0):
                right.sendall(b"x")
                assert left.recv(1) == b"x"
        names = [t.name for t in threading.enumerate() if t.name == "icon-body-deadline"]
        assert watchdog._thread is not None and watchdog._thread.is_alive()  # noqa: SLF001
        assert watchdog._thread.name == "icon-body-deadline" and names.count("icon-body-deadline") >= 1  # noqa: SLF001
        threads_before = threading.active_count()
        with watchdog.guard(pairs[0][0], 5.0):
            pass
        assert threading.active_count() == threads_before  # the live thread is reused, not doubled
    finally:
        for left, right in pairs:
            left.close()
            right.close()


def test_without_a_socket_nothing_is_watched() -> None:
    with ReadWatchdog().guard(None, 0.0) as deadline:
        time.sleep(0.05)
    assert deadline.fired is False
