"""From ``ServerOptions`` (and ``GUNICORN_CONFIG_FILE``) to gunicorn settings and server behaviour.

Choices made so that a server cannot be configured into a bad state by accident:

* the worker class is ``gthread`` unless ``gevent`` is asked for *and* installed (``sync`` would let
  one slow action block health checks);
* ``GUNICORN_CONFIG_FILE`` overrides the command-line values key by key (a file with only
  ``workers`` keeps the graceful timeout), and a name that leaves the working directory is rejected
  with a clear error;
* ``/api/v1/info`` reports the effective worker and thread counts;
* the worker count has a ceiling (``ICON_RUNTIME_MAX_WORKERS``, by default what the CPUs and the
  memory limit can carry), the admin endpoints can require a bearer token
  (``ICON_RUNTIME_ADMIN_TOKEN`` or ``ICON_RUNTIME_ADMIN_TOKEN_FILE``) or be switched off
  (``ICON_RUNTIME_ADMIN=off``), and each step request has bounded cost (``RequestLimits``).

Every variable is read through core's ``settings`` (one rule for switches, one for numbers).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from insightconnect_plugin_runtime.settings import flag, number, text

from ._limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_CONTAINERS,
    DEFAULT_MAX_JSON_DEPTH,
    DEFAULT_MAX_JSON_VALUES,
    MIB,
    RequestLimits,
)
from ._read_deadline import DEFAULT_BODY_READ_SECONDS

log = logging.getLogger("insightconnect_plugin_runtime.server")

#: Settings this server always decides itself (hooks are installed by the application).
_RESERVED = frozenset({"post_fork", "child_exit", "pre_request", "post_request", "when_ready", "on_exit"})


#: Memory one worker may need: its baseline plus the worst request at the default limits.
WORKER_MEMORY_BUDGET = 256 * MIB
#: cgroup files holding the memory limit (v2, then v1) and the CPU quota (v2).
CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
CGROUP_CPU_FILE = "/sys/fs/cgroup/cpu.max"


class ConfigFileError(Exception):
    """A file the settings name (GUNICORN_CONFIG_FILE, the admin token file) cannot be used."""


@dataclass
class ServerSettings:
    """What the app needs to know about how it is served."""

    workers: int = 1
    threads: int = 4
    worker_class: str = "gthread"
    graceful_timeout: float = 30
    debug: bool = False
    cloud: bool = False
    track_work: bool = True
    #: Admin shutdown also stops gunicorn once step work drained, so the container actually exits.
    shutdown_stops_server: bool = True
    #: Seconds admin shutdown keeps serving (readiness 503) before it stops the server, so a load
    #: balancer polling readiness (a Kubernetes Service) stops routing to it first.
    shutdown_delay: float = 0
    gunicorn: dict[str, Any] = field(default_factory=dict)
    #: ``ICON_RUNTIME_ADMIN=off`` removes the admin endpoints (shutdown, workers add/remove).
    admin_enabled: bool = True
    #: Bearer token the admin endpoints require when set (never in a repr or a log line).
    admin_token: str | None = field(default=None, repr=False)
    #: Most workers ``/api/v1/workers/add`` (or SIGTTIN) may reach; never below ``workers``.
    max_workers: int = 1
    limits: RequestLimits = field(default_factory=RequestLimits)
    #: Seconds a step request's whole body may take to arrive (``_read_deadline``); 408 past it.
    body_read_seconds: float = DEFAULT_BODY_READ_SECONDS


def choose_worker_class(requested: str | None) -> str:
    if requested == "gevent":
        if importlib.util.find_spec("gevent") is not None:
            return "gevent"
        log.warning("The gevent worker class was asked for but gevent is not installed; using gthread")
    return "gthread"


def read_config_file(name: str, cwd: str | None = None) -> dict[str, Any]:
    """Load the JSON named by ``GUNICORN_CONFIG_FILE``; it must stay inside the working directory."""
    base = Path(cwd or os.getcwd()).resolve()
    candidate = Path(name)
    if candidate.is_absolute() or not name.strip():
        raise ConfigFileError(f"GUNICORN_CONFIG_FILE must be a file name relative to {base}, not {name!r}")
    path = (base / candidate).resolve()
    if not path.is_relative_to(base):
        raise ConfigFileError(f"GUNICORN_CONFIG_FILE {name!r} points outside the working directory {base}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigFileError(f"GUNICORN_CONFIG_FILE {name!r} cannot be read: {error.strerror}") from None
    except ValueError as error:
        raise ConfigFileError(f"GUNICORN_CONFIG_FILE {name!r} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ConfigFileError(f"GUNICORN_CONFIG_FILE {name!r} must hold a JSON object")
    return {str(key).lower(): value for key, value in data.items() if value is not None}


def _seconds(env: Any, name: str, default: float = 0.0) -> float:
    return float(number(name, default, env=env))


def _positive_int(env: Any, name: str, default: int) -> int:
    return int(number(name, default, integer=True, positive=True, env=env))


def request_limits(env: Any) -> RequestLimits:
    """Body size, JSON depth and JSON counts of one step request (see ``_limits``)."""
    return RequestLimits(
        max_body_bytes=_positive_int(env, "ICON_RUNTIME_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
        max_json_depth=_positive_int(env, "ICON_RUNTIME_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH),
        max_json_containers=_positive_int(env, "ICON_RUNTIME_MAX_JSON_CONTAINERS", DEFAULT_MAX_JSON_CONTAINERS),
        max_json_values=_positive_int(env, "ICON_RUNTIME_MAX_JSON_VALUES", DEFAULT_MAX_JSON_VALUES),
    )


def _read_number(path: str) -> int | None:
    try:
        text = Path(path).read_text().split()[0]
        return int(text)
    except (OSError, IndexError, ValueError):
        return None  # absent, or "max": no limit


def memory_limit(files: tuple[str, ...] = CGROUP_MEMORY_FILES) -> int | None:
    """The container's memory limit in bytes, or None without one (cgroup v1 says "none" with a huge value)."""
    for path in files:
        value = _read_number(path)
        if value is not None:
            return value if value < 1 << 60 else None
    return None


def cpu_count(quota_file: str = CGROUP_CPU_FILE) -> int:
    """CPUs this process may use: the affinity mask, lowered by a cgroup v2 quota when there is one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path(quota_file).read_text().split()[:2]
        cpus = min(cpus, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass  # no file, or "max": no quota
    return max(1, cpus)


def default_max_workers(cpus: int, memory: int | None) -> int:
    """gunicorn's usual ceiling of 2 x CPUs + 1, lowered to what the memory limit can carry."""
    by_cpu = 2 * cpus + 1
    if memory is None:
        return by_cpu
    return max(1, min(by_cpu, memory // WORKER_MEMORY_BUDGET))


def admin_token(env: Any) -> str | None:
    """``ICON_RUNTIME_ADMIN_TOKEN``, else the content of ``ICON_RUNTIME_ADMIN_TOKEN_FILE`` (a mounted
    Secret); a named file that cannot be read or is empty stops the server rather than leaving the
    endpoints open."""
    token = text("ICON_RUNTIME_ADMIN_TOKEN", env=env)
    if token:
        return token
    name = text("ICON_RUNTIME_ADMIN_TOKEN_FILE", env=env)
    if not name:
        return None
    try:
        token = Path(name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"ICON_RUNTIME_ADMIN_TOKEN_FILE {name!r} cannot be read: {error}") from None
    if not token:
        raise ConfigFileError(f"ICON_RUNTIME_ADMIN_TOKEN_FILE {name!r} is empty")
    return token


def build_settings(options: Any, cloud: bool, environ: dict[str, str] | None = None) -> ServerSettings:
    """Gunicorn settings from the command line, then the config file on top."""
    env = os.environ if environ is None else environ
    threads = max(1, int(options.threads or 1))
    config: dict[str, Any] = {
        "bind": f"{options.bind_host}:{options.port}",
        "workers": max(1, int(options.workers or 1)),
        "worker_class": choose_worker_class(options.worker_class),
        "threads": threads,
        "worker_connections": int(options.worker_connections or 200),
        "graceful_timeout": int(options.graceful_timeout),
        "loglevel": "debug" if options.debug else "info",
    }
    name = text("GUNICORN_CONFIG_FILE", env=env)
    if name:
        overrides = read_config_file(name)
        ignored = sorted(k for k in overrides if k in _RESERVED)
        if ignored:
            log.warning("GUNICORN_CONFIG_FILE: ignoring %s (set by the server itself)", ", ".join(ignored))
        config.update({k: v for k, v in overrides.items() if k not in _RESERVED})
        if "worker_class" in overrides:
            config["worker_class"] = choose_worker_class(str(overrides["worker_class"]))
    # Never leave a control socket (gunicorn >= 24) in the plugin's working directory or $HOME.
    config.setdefault("control_socket_disable", True)
    workers = int(config.get("workers", 1))
    max_workers = _positive_int(env, "ICON_RUNTIME_MAX_WORKERS", 0) or default_max_workers(cpu_count(), memory_limit())
    if max_workers < workers:
        log.warning(
            "%d workers start, more than the ceiling of %d: the ceiling is raised to match", workers, max_workers
        )
        max_workers = workers
    return ServerSettings(
        workers=workers,
        threads=int(config.get("threads", threads)),
        worker_class=str(config["worker_class"]),
        graceful_timeout=float(config.get("graceful_timeout", 30)),
        debug=bool(options.debug),
        cloud=cloud,
        track_work=flag("TRACK_WORK", not cloud, env),
        shutdown_stops_server=flag("ICON_RUNTIME_SHUTDOWN_STOPS_SERVER", True, env),
        shutdown_delay=_seconds(env, "ICON_RUNTIME_SHUTDOWN_DELAY"),
        gunicorn=config,
        admin_enabled=flag("ICON_RUNTIME_ADMIN", True, env),
        admin_token=admin_token(env),
        max_workers=max_workers,
        limits=request_limits(env),
        body_read_seconds=float(
            number("ICON_RUNTIME_BODY_READ_SECONDS", DEFAULT_BODY_READ_SECONDS, positive=True, env=env)
        ),
    )
