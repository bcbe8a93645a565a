"""From ``ServerOptions`` (and ``GUNICORN_CONFIG_FILE``) to gunicorn settings and server behaviour.

Differences from the reference, on purpose:

* the worker class is ``gthread`` unless ``gevent`` is asked for *and* installed (``sync`` would let
  one slow action block health checks);
* ``GUNICORN_CONFIG_FILE`` overrides the command-line values key by key instead of replacing them all
  (a file with only ``workers`` no longer loses the graceful timeout), and a name that leaves the
  working directory is rejected with a clear error instead of being silently rewritten;
* ``/api/v1/info`` reports the effective worker and thread counts.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("insightconnect_plugin_runtime.server")

#: Settings this server always decides itself (hooks are installed by the application).
_RESERVED = frozenset({"post_fork", "child_exit", "pre_request", "post_request", "when_ready", "on_exit"})


class ConfigFileError(Exception):
    """GUNICORN_CONFIG_FILE names a file that cannot be used."""


def _truthy(env: Any, name: str, default: bool) -> bool:
    return str(env.get(name, str(default))).strip().lower() in ("1", "true", "yes", "on")


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
    #: Admin shutdown also stops gunicorn once step work drained (the reference only set a flag).
    shutdown_stops_server: bool = True
    #: Seconds admin shutdown keeps serving (readiness 503) before it stops the server, so a load
    #: balancer polling readiness (a Kubernetes Service) stops routing to it first.
    shutdown_delay: float = 0
    gunicorn: dict[str, Any] = field(default_factory=dict)


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


def _seconds(env: Any, name: str) -> float:
    text = str(env.get(name, "") or "0").strip()
    try:
        value = float(text)
    except ValueError:
        log.warning("%s=%r is not a number of seconds; using 0", name, text)
        return 0.0
    return max(0.0, value)


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
    name = env.get("GUNICORN_CONFIG_FILE")
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
    return ServerSettings(
        workers=int(config.get("workers", 1)),
        threads=int(config.get("threads", threads)),
        worker_class=str(config["worker_class"]),
        graceful_timeout=float(config.get("graceful_timeout", 30)),
        debug=bool(options.debug),
        cloud=cloud,
        track_work=_truthy(env, "TRACK_WORK", not cloud),
        shutdown_stops_server=_truthy(env, "ICON_RUNTIME_SHUTDOWN_STOPS_SERVER", True),
        shutdown_delay=_seconds(env, "ICON_RUNTIME_SHUTDOWN_DELAY"),
        gunicorn=config,
    )
