"""Admin endpoints closed by default: bearer token, worker ceiling and ``ICON_RUNTIME_ADMIN=off``.

Real gunicorn servers on 127.0.0.1; the settings helpers are also tested directly.
"""

from __future__ import annotations

import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from icon_http_testkit import Server, message, wait_for, worker_pids

from insightconnect_plugin_runtime._contracts import ServerOptions
from insightconnect_plugin_runtime.api._admin import bearer_token, is_authorized
from insightconnect_plugin_runtime.api._settings import (
    WORKER_MEMORY_BUDGET,
    ConfigFileError,
    admin_token,
    build_settings,
    cpu_count,
    default_max_workers,
    memory_limit,
)

TOKEN = "s3cr3t-admin-token-0123456789"
ADMIN_POSTS = ("/api/v1/workers/add", "/api/v1/workers/remove", "/api/v1/admin/shutdown")


def assert_unauthorized(reply) -> None:  # type: ignore[no-untyped-def]
    assert reply.status == 401, reply.body[:300]
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["www-authenticate"].startswith("Bearer")
    payload = reply.json()
    assert payload["code"] == 401 and "Bearer" in payload["error"]
    assert TOKEN.encode() not in reply.body


# --- token -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["none", "shorter", "longer", "basic-scheme", "no-scheme", "empty"],
)
def test_admin_calls_without_the_right_token_are_401(fresh_server, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_ADMIN_TOKEN": TOKEN})
    for path in ADMIN_POSTS:
        assert_unauthorized(server.post(path, headers=headers))
    # nothing happened: still one worker, still ready, step work still accepted
    assert server.get("/api/v1/workers").json() == {"num_workers": 1}
    assert server.get("/api/v1/health/ready").status == 200
    assert server.post("/api/v1/actions/say_hello", message("say_hello")).status == 200
    assert TOKEN not in server.log()


def test_admin_calls_with_the_token_from_a_file_work(fresh_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")  # a mounted Secret often ends with a newline
    server: Server = fresh_server({"ICON_RUNTIME_ADMIN_TOKEN_FILE": str(token_file)})
    right = {"Authorization": f"bearer {TOKEN}"}
    assert_unauthorized(server.post("/api/v1/workers/add"))
    assert server.post("/api/v1/workers/add", headers=right).json() == {"num_workers": 2}
    wait_for(lambda: len(worker_pids(server)) == 2)
    assert server.post("/api/v1/workers/remove", headers=right).json() == {"num_workers": 1}
    wait_for(lambda: len(worker_pids(server)) == 1)
    assert server.post("/api/v1/admin/shutdown", headers=right).status == 200
    assert server.process.wait(20) == 0
    assert TOKEN not in server.log()


@pytest.mark.parametrize("content", [None, "", "  \n"], ids=["missing", "empty", "blank"])
def test_an_unusable_token_file_stops_the_server(fresh_server, tmp_path: Path, content: str | None) -> None:  # type: ignore[no-untyped-def]
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    server = fresh_server({"ICON_RUNTIME_ADMIN_TOKEN_FILE": str(token_file)}, wait=False)
    assert server.process.wait(20) == 2
    assert "ICON_RUNTIME_ADMIN_TOKEN_FILE" in server.log()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("BEARER abc", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("abc", None),
    ],
)
def test_bearer_token_parsing(header: str | None, expected: str | None) -> None:
    assert bearer_token(header) == expected


def test_is_authorized() -> None:
    assert is_authorized(None, None) is True  # no token configured: open, as in the reference
    assert is_authorized(None, "Bearer anything") is True
    assert is_authorized("tok", "Bearer tok") is True
    assert is_authorized("tok", None) is False
    assert is_authorized("tok", "Bearer to") is False
    assert is_authorized("tok", "Bearer tokk") is False
    assert is_authorized("tok", "Basic tok") is False
    assert is_authorized("tøk", "Bearer tøk") is True  # non-ASCII compared as bytes, not refused


def test_admin_token_sources(tmp_path: Path) -> None:
    token_file = tmp_path / "t"
    token_file.write_text(" from-file \n")
    assert admin_token({}) is None
    assert admin_token({"ICON_RUNTIME_ADMIN_TOKEN": "  "}) is None
    assert admin_token({"ICON_RUNTIME_ADMIN_TOKEN": " env "}) == "env"
    assert admin_token({"ICON_RUNTIME_ADMIN_TOKEN_FILE": str(token_file)}) == "from-file"
    both = {"ICON_RUNTIME_ADMIN_TOKEN": "env", "ICON_RUNTIME_ADMIN_TOKEN_FILE": str(token_file)}
    assert admin_token(both) == "env"
    with pytest.raises(ConfigFileError, match="cannot be read"):
        admin_token({"ICON_RUNTIME_ADMIN_TOKEN_FILE": str(tmp_path / "missing")})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigFileError, match="is empty"):
        admin_token({"ICON_RUNTIME_ADMIN_TOKEN_FILE": str(tmp_path / "empty")})


def test_the_token_never_shows_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICON_RUNTIME_ADMIN_TOKEN", TOKEN)
    settings = build_settings(ServerOptions(), cloud=False)
    assert settings.admin_token == TOKEN
    assert TOKEN not in repr(settings)


# --- worker ceiling ------------------------------------------------------------------------------


def test_workers_add_past_the_ceiling_is_409(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_MAX_WORKERS": "2"})
    assert server.post("/api/v1/workers/add").json() == {"num_workers": 2}
    wait_for(lambda: len(worker_pids(server)) == 2)
    for _ in range(3):
        reply = server.post("/api/v1/workers/add")
        assert reply.status == 409 and reply.headers["content-type"].startswith("application/json")
        assert "ICON_RUNTIME_MAX_WORKERS" in reply.json()["error"] and reply.json()["code"] == 409
    # A SIGTTIN sent around the endpoint is refused by the arbiter itself.
    os.kill(server.process.pid, signal.SIGTTIN)
    wait_for(lambda: "Not changing the worker count" in server.log())
    assert len(worker_pids(server)) == 2
    assert server.get("/api/v1/workers").json() == {"num_workers": 2}
    # Below the ceiling again, a worker can be added again.
    assert server.post("/api/v1/workers/remove").json() == {"num_workers": 1}
    wait_for(lambda: len(worker_pids(server)) == 1)
    assert server.post("/api/v1/workers/add").json() == {"num_workers": 2}
    wait_for(lambda: len(worker_pids(server)) == 2)


def test_concurrent_adds_cannot_pass_the_ceiling_together(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_MAX_WORKERS": "3"}, ("--threads", "8"))
    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(lambda _: server.post("/api/v1/workers/add").status, range(8)))
    assert statuses == [200, 200] + [409] * 6
    wait_for(lambda: len(worker_pids(server)) == 3)
    assert server.get("/api/v1/workers").json() == {"num_workers": 3}


def test_workers_started_above_the_ceiling_keep_running(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_MAX_WORKERS": "1"}, ("--process-workers", "2"))
    wait_for(lambda: len(worker_pids(server)) == 2)
    assert server.post("/api/v1/workers/add").status == 409
    assert "ceiling" in server.log()


@pytest.mark.parametrize(
    ("cpus", "memory", "expected"),
    [
        (1, None, 3),
        (4, None, 9),
        (4, 10 * WORKER_MEMORY_BUDGET, 9),
        (4, 2 * WORKER_MEMORY_BUDGET, 2),
        (4, 2 * WORKER_MEMORY_BUDGET + WORKER_MEMORY_BUDGET - 1, 2),
        (4, WORKER_MEMORY_BUDGET // 2, 1),
        (2, 5 * WORKER_MEMORY_BUDGET, 5),
    ],
)
def test_default_ceiling_from_cpus_and_memory(cpus: int, memory: int | None, expected: int) -> None:
    assert default_max_workers(cpus, memory) == expected


def test_cgroup_memory_limit(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert memory_limit((str(v2), str(v1))) is None
    v1.write_text("9223372036854771712\n")  # cgroup v1 without a limit
    assert memory_limit((str(v2), str(v1))) is None
    v1.write_text("536870912\n")
    assert memory_limit((str(v2), str(v1))) == 536870912
    v2.write_text("max\n")  # v2 without a limit: v1 is not consulted on a real v2 host, but may be here
    assert memory_limit((str(v2), str(v1))) == 536870912
    v2.write_text("1073741824\n")
    assert memory_limit((str(v2), str(v1))) == 1073741824


def test_cgroup_cpu_quota(tmp_path: Path) -> None:
    quota = tmp_path / "cpu.max"
    available = len(os.sched_getaffinity(0))
    assert cpu_count(str(quota)) == available
    quota.write_text("max 100000\n")
    assert cpu_count(str(quota)) == available
    quota.write_text("50000 100000\n")  # half a CPU still runs one worker's worth
    assert cpu_count(str(quota)) == 1
    quota.write_text(f"{(available + 5) * 100000} 100000\n")
    assert cpu_count(str(quota)) == available


def test_settings_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GUNICORN_CONFIG_FILE", raising=False)
    monkeypatch.setenv("ICON_RUNTIME_MAX_WORKERS", "6")
    assert build_settings(ServerOptions(workers=2), cloud=False).max_workers == 6
    assert build_settings(ServerOptions(workers=8), cloud=False).max_workers == 8  # never below the start
    for bad in ("0", "-1", "many"):
        monkeypatch.setenv("ICON_RUNTIME_MAX_WORKERS", bad)
        computed = default_max_workers(cpu_count(), memory_limit())
        assert build_settings(ServerOptions(), cloud=False).max_workers == computed


# --- switched off --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["off", "OFF", "false", "0"])
def test_admin_off_removes_the_routes(fresh_server, value: str) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_ADMIN": value})
    for path in ADMIN_POSTS:
        reply = server.post(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert reply.status == 404 and reply.headers["content-type"].startswith("application/json"), path
    paths = server.get("/api/v1/api").json()["paths"]
    assert not any(path in paths for path in ADMIN_POSTS)
    # read-only views stay
    assert server.get("/api/v1/workers").json() == {"num_workers": 1}
    assert server.get("/api/v1/admin/status").status == 200
    assert len(worker_pids(server)) == 1


def test_admin_on_documents_the_refusals(fresh_server) -> None:  # type: ignore[no-untyped-def]
    server = fresh_server({"ICON_RUNTIME_ADMIN": "on", "ICON_RUNTIME_ADMIN_TOKEN": TOKEN})
    paths = server.get("/api/v1/api").json()["paths"]
    assert set(paths["/api/v1/workers/add"]["post"]["responses"]) == {"200", "400", "401", "409"}
    assert set(paths["/api/v1/admin/shutdown"]["post"]["responses"]) == {"200", "401"}
