"""Hostile request bodies against a real gunicorn worker at the default limits.

Each body gets a JSON error with the right status, and what it costs the worker that answers it
(peak RSS growth from /proc/<pid>/status, CPU time from /proc/<pid>/stat) stays within a budget:

* bodies the limits refuse before parsing (deep nesting, a million empty arrays, too many values,
  a declared length over the limit): under 64 MiB of RSS;
* bodies that must be read whole (just under the limit, a chunked body just over it): under
  2.5 times the body limit plus 16 MiB (the bytes and their text, then the text and the parsed
  value: twice the body, measured 86-102 MiB at 48 MiB; the rest is the allocator's slack);
* 100,000 secret-looking connection fields: under 64 MiB, and none of the values in the reply;
* the costliest body every limit lets through (just under the body limit, the most containers and
  values allowed, parsed in full): under three times the body limit plus 16 MiB.

Elapsed time is checked only as a generous bound (a hang guard, not a speed figure); the figures
of ``bench/hostile_bench.py`` are the measured ones.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from icon_http_testkit import ProcessCost, Reply, Server, message, post_raw, start_server, worker_pids

from insightconnect_plugin_runtime.api._limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_CONTAINERS,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_JSON_VALUES,
)

HELLO = "/api/v1/actions/say_hello"
MIB = 1024 * 1024
PARSE_FREE_BUDGET = 64 * MIB
READ_WHOLE_BUDGET = 5 * DEFAULT_MAX_BODY_BYTES // 2 + 16 * MIB
WORST_ACCEPTED_BUDGET = 3 * DEFAULT_MAX_BODY_BYTES + 16 * MIB
SECONDS_BUDGET = 30.0


@pytest.fixture(scope="module")
def lone_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """A server at the default limits with one worker, so every request lands on the measured pid."""
    server = start_server(tmp_path_factory.mktemp("hostile"), {}, ("--process-workers", "1", "--threads", "2"))
    try:
        [pid] = worker_pids(server)
        assert server.post(HELLO, message("say_hello")).status == 200  # warm: first-request imports
        yield server, pid
    finally:
        server.stop()


def measured(pid: int, send: Any) -> tuple[Reply, ProcessCost, float]:
    started = time.monotonic()
    with ProcessCost(pid) as cost:
        reply = send()
    return reply, cost, time.monotonic() - started


def assert_json_refusal(reply: Reply, status: int, words: str) -> dict[str, Any]:
    assert reply.status == status, reply.body[:300]
    assert reply.headers["content-type"].startswith("application/json")
    payload = reply.json()
    assert payload["type"] == "action_event" and payload["body"]["status"] == "error"
    assert words in payload["body"]["error"], payload["body"]["error"]
    return payload  # type: ignore[no-any-return]


def wrong_type_message(padding: int, extra: dict[str, Any] | None = None) -> bytes:
    """A message the route refuses (trigger_start to an action route), padded to an exact size."""
    template = message("say_hello")
    template["type"] = "trigger_start"
    template["body"]["input"] = {"name": "@", **(extra or {})}
    text = json.dumps(template, separators=(",", ":")).encode()
    body = text.replace(b'"@"', b'"' + b"A" * (padding - len(text) + 1) + b'"')
    assert len(body) == padding
    return body


@pytest.mark.parametrize(
    ("name", "body", "status", "words"),
    [
        (
            "deep nesting",
            b"[" * (DEFAULT_MAX_JSON_CONTAINERS // 2) + b"]" * (DEFAULT_MAX_JSON_CONTAINERS // 2),
            400,
            f"deeper than {DEFAULT_MAX_JSON_DEPTH} levels",
        ),
        ("a million empty arrays", b"[" + b"[]," * 999_999 + b"[]]", 413, "arrays and objects"),
        ("a million empty objects", b"[" + b"{}," * 999_999 + b"{}]", 413, "arrays and objects"),
        ("too many values", b"[" + b'"ab",' * DEFAULT_MAX_JSON_VALUES + b"0]", 413, "values"),
    ],
)
def test_counted_bodies_are_refused_before_parsing(
    lone_worker: tuple[Server, int], name: str, body: bytes, status: int, words: str
) -> None:
    server, pid = lone_worker
    reply, cost, elapsed = measured(pid, lambda: server.post(HELLO, body, timeout=SECONDS_BUDGET))
    assert_json_refusal(reply, status, words)
    assert cost.rss_growth < PARSE_FREE_BUDGET, (name, cost.rss_growth / MIB)
    assert elapsed < SECONDS_BUDGET


def test_many_secret_looking_connection_fields(lone_worker: tuple[Server, int]) -> None:
    server, pid = lone_worker
    body = message("say_hello")
    connection = body["body"]["connection"]
    secrets = {f"password_{i}": f"hunter-{i:06d}-secret" for i in range(100_000)}
    connection.update(secrets)
    body["body"]["input"] = {}  # fails the input schema: the error envelope is masked and returned
    reply, cost, elapsed = measured(pid, lambda: server.post(HELLO, body, timeout=SECONDS_BUDGET))
    assert reply.status == 400 and reply.headers["content-type"].startswith("application/json")
    assert reply.json()["body"]["status"] == "error"
    assert b"hunter-" not in reply.body and b"example-secret-key-123" not in reply.body
    assert cost.rss_growth < PARSE_FREE_BUDGET, cost.rss_growth / MIB
    assert elapsed < SECONDS_BUDGET


def test_body_just_under_the_limit_is_read_and_refused_by_route(lone_worker: tuple[Server, int]) -> None:
    server, pid = lone_worker
    body = wrong_type_message(DEFAULT_MAX_BODY_BYTES)
    reply, cost, elapsed = measured(pid, lambda: server.post(HELLO, body, timeout=60))
    assert_json_refusal(reply, 400, "trigger_start")
    assert cost.rss_growth < READ_WHOLE_BUDGET, cost.rss_growth / MIB
    assert elapsed < SECONDS_BUDGET * 2


def test_the_costliest_body_within_every_limit(lone_worker: tuple[Server, int]) -> None:
    objects = DEFAULT_MAX_JSON_CONTAINERS - 10
    members = (DEFAULT_MAX_JSON_VALUES - 50) // objects - 1
    rows = [{f"k{m}": f"v{i}-{m}" for m in range(members)} for i in range(objects)]
    body = wrong_type_message(DEFAULT_MAX_BODY_BYTES, {"rows": rows})
    server, pid = lone_worker
    reply, cost, elapsed = measured(pid, lambda: server.post(HELLO, body, timeout=60))
    assert_json_refusal(reply, 400, "trigger_start")  # parsed in full: no limit refused it
    assert cost.rss_growth < WORST_ACCEPTED_BUDGET, cost.rss_growth / MIB
    assert elapsed < SECONDS_BUDGET * 2


def test_declared_length_over_the_limit_is_refused_unread(lone_worker: tuple[Server, int]) -> None:
    server, pid = lone_worker
    size = DEFAULT_MAX_BODY_BYTES + 1
    chunks = (b"A" * MIB for _ in range(size // MIB + 1))
    headers = {"Content-Type": "application/json", "Content-Length": str(size)}
    reply, cost, elapsed = measured(pid, lambda: post_raw(server, HELLO, chunks, headers))
    assert_json_refusal(reply, 413, f"limit of {DEFAULT_MAX_BODY_BYTES} bytes")
    assert cost.rss_growth < 16 * MIB, cost.rss_growth / MIB
    assert elapsed < SECONDS_BUDGET


def test_chunked_body_just_over_the_limit_is_413(lone_worker: tuple[Server, int]) -> None:
    server, pid = lone_worker
    body = wrong_type_message(DEFAULT_MAX_BODY_BYTES + 1)

    def chunked() -> Iterator[bytes]:
        for start in range(0, len(body), MIB):
            piece = body[start : start + MIB]
            yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        yield b"0\r\n\r\n"

    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    reply, cost, elapsed = measured(pid, lambda: post_raw(server, HELLO, chunked(), headers))
    assert_json_refusal(reply, 413, f"limit of {DEFAULT_MAX_BODY_BYTES} bytes")
    assert cost.rss_growth < READ_WHOLE_BUDGET, cost.rss_growth / MIB
    assert elapsed < SECONDS_BUDGET * 2


def test_the_worker_still_answers_after_the_hostile_bodies(lone_worker: tuple[Server, int], tmp_path: Path) -> None:
    server, pid = lone_worker
    assert server.post(HELLO, message("say_hello")).json()["body"]["output"] == {"message": "Hello, World!"}
    assert worker_pids(server) == [pid]  # nothing was killed or restarted on the way
