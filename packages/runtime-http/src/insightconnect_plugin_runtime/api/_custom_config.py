"""Per-organisation task configuration from the config service (cloud only, contract 6.7).

A worker must not be held at start-up by a slow or absent service, so the fetch is bounded as a
whole: a few short attempts with a growing back-off inside a total deadline (``ICON_RUNTIME_CPS_ATTEMPTS``,
``..._TIMEOUT``, ``..._BACKOFF``, ``..._DEADLINE``; defaults 3 x 1 s, 0.25 s back-off, 4 s in all).
When the start-up fetch fails, each worker keeps retrying in a background thread with the same
bound per round, so the service coming up later is picked up without delaying requests.

The HTTP GET goes through ``insightconnect_plugin_runtime.server.request_get`` looked up at call
time: plugins' tests patch that name.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from insightconnect_plugin_runtime.settings import number

log = logging.getLogger("insightconnect_plugin_runtime.server")

OTEL_KEY = "otel_tracing"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def _env_float(name: str, default: float, positive: bool = False) -> float:
    return float(number(name, default, positive=positive))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    timeout: float = 1.0
    backoff: float = 0.25
    deadline: float = 4.0

    @classmethod
    def from_environment(cls) -> RetryPolicy:
        return cls(
            attempts=max(1, int(_env_float("ICON_RUNTIME_CPS_ATTEMPTS", cls.attempts))),
            timeout=_env_float("ICON_RUNTIME_CPS_TIMEOUT", cls.timeout, positive=True),
            backoff=_env_float("ICON_RUNTIME_CPS_BACKOFF", cls.backoff),
            deadline=_env_float("ICON_RUNTIME_CPS_DEADLINE", cls.deadline, positive=True),
        )


class ConfigServiceError(Exception):
    pass


def plugin_key(plugin: Any) -> str:
    """How the config service names a plugin: its name, lower-cased, spaces as underscores."""
    return str(getattr(plugin, "name", "") or "").lower().replace(" ", "_")


def _is_refused(error: BaseException) -> bool:
    while error is not None:
        if isinstance(error, ConnectionRefusedError) or "refused" in str(error).lower():
            return True
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return False


class ConfigStore:
    """The config-service answer this process holds, and how to refresh it."""

    def __init__(
        self,
        plugin: Any,
        endpoint: str | None,
        getter: Callable[..., Any],
        policy: RetryPolicy | None = None,
    ) -> None:
        self.plugin = plugin
        self.endpoint = endpoint
        self._get = getter
        self.policy = policy or RetryPolicy.from_environment()
        self.options: dict[str, Any] = {}
        self.loaded = False
        self.last_error: str | None = None
        self._refresher: threading.Thread | None = None

    # --- fetching ----------------------------------------------------------------------------------

    def _fetch_once(self, timeout: float) -> dict[str, Any]:
        response = self._get(self.endpoint, timeout=timeout)
        raise_for_status = getattr(response, "raise_for_status", None)
        if callable(raise_for_status):
            raise_for_status()
        try:
            payload = response.json()
        except ValueError as error:
            raise ConfigServiceError(f"the answer is not JSON ({error})") from None
        if not isinstance(payload, dict):
            raise ConfigServiceError(f"the answer is a JSON {type(payload).__name__}, not an object")
        plugins = payload.get("plugins") or {}
        if not isinstance(plugins, dict):
            raise ConfigServiceError("'plugins' in the answer is not an object")
        options: dict[str, Any] = {}
        if getattr(self.plugin, "tasks", None):
            entry = plugins.get(plugin_key(self.plugin))
            if isinstance(entry, dict):
                options = dict(entry)
        if payload.get(OTEL_KEY):
            options[OTEL_KEY] = payload[OTEL_KEY]
        return options

    def fetch(self) -> bool:
        """One bounded round of attempts; keeps the previous values on failure."""
        if not self.endpoint:
            self.last_error = "CPS_ENDPOINT is not set"
            log.warning("The config service is not configured (CPS_ENDPOINT is unset); tasks get no custom config")
            return False
        policy = self.policy
        deadline = time.monotonic() + policy.deadline
        delay = policy.backoff
        for attempt in range(1, policy.attempts + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                self.options = self._fetch_once(min(policy.timeout, remaining))
                self.loaded, self.last_error = True, None
                log.info("Loaded task configuration from the config service (attempt %d)", attempt)
                return True
            except Exception as error:  # any failure of the remote side is reported, never raised
                self.last_error = f"{type(error).__name__}: {error}"
                if _is_refused(error):
                    log.info(
                        "The config service at %s refused the connection (attempt %d/%d); it may still be starting",
                        self.endpoint,
                        attempt,
                        policy.attempts,
                    )
                else:
                    log.error(
                        "The config service at %s failed (attempt %d/%d): %s",
                        self.endpoint,
                        attempt,
                        policy.attempts,
                        self.last_error,
                    )
            if attempt < policy.attempts:
                time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
                delay *= 2
        log.error(
            "No task configuration from the config service at %s within %.1f s (%s); "
            "tasks run with the custom_config of their messages",
            self.endpoint,
            policy.deadline,
            self.last_error,
        )
        return False

    def refresh_in_background(self, rounds: int = 5, pause: float = 10.0) -> None:
        """After a failed start-up fetch: retry a few rounds in a daemon thread (per worker)."""
        if self.loaded or not self.endpoint or self._refresher is not None:
            return

        def run() -> None:
            for _ in range(rounds):
                time.sleep(pause)
                if self.fetch():
                    return

        self._refresher = threading.Thread(target=run, name="icon-cps-refresh", daemon=True)
        self._refresher.start()

    # --- merging (contract 6.7) --------------------------------------------------------------------

    def config_for(
        self, task_name: str, org_id: str, int_id: str, has_state: bool, task_names: Iterable[str]
    ) -> dict[str, Any]:
        return merge_custom_config(self.options, task_name, org_id, int_id, has_state, task_names)


def merge_custom_config(
    options: dict[str, Any], task_name: str, org_id: str, int_id: str, has_state: bool, task_names: Iterable[str]
) -> dict[str, Any]:
    """Global, global task, org, org task, org integration: each level overrides the one before."""
    merged: dict[str, Any] = {}
    levels: list[Any] = []
    everyone = options.get("*")
    if isinstance(everyone, dict):
        levels += [everyone, everyone.get(task_name)]
    org = options.get(org_id) if org_id else None
    if isinstance(org, dict):
        levels += [org, org.get(task_name), org.get(int_id) if int_id else None]
    for level in levels:
        if isinstance(level, dict):
            merged.update(level)
    names = set(task_names)
    merged = {k: v for k, v in merged.items() if k not in names and not _UUID.match(str(k))}
    if has_state and merged.get("lookback"):
        merged.pop("lookback")
    return merged
