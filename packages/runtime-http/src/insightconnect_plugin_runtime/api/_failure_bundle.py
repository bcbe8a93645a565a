"""Failure bundles: what a plugin author needs to replay a step that failed in production, in one file.

Switched on by ``ICON_RUNTIME_FAILURE_BUNDLE_DIR`` (a directory; created 0700 when missing). While it
is set, every step keeps its outgoing HTTP responses (:mod:`._http_recorder`), and a step that fails
writes ``<kind>-<name>-<time>-<random>.json`` (mode 0600) there holding:

* the start message (connection included) as the orchestrator sent it,
* the error's type and message,
* the responses the step received, newest last (bodies de-chunked and decompressed),
* the state: a task's incoming ``state`` and a stateful trigger's checkpoint file.

Everything is masked with the execution's own ``SecretMasker`` (the connection's secrets in every
form core derives) before it is written; binary bodies are left out because they cannot be masked,
and ``Set-Cookie``/``Authorization``-like response headers are dropped (session tokens are not
connection fields, so the masker does not know them); for the same reason the values under
secret-looking names in the recorded JSON or form bodies and URL queries (an OAuth answer's
``access_token``, a ``?token=``) are masked wherever they occur in the bundle. The file is bounded: at most
``ICON_RUNTIME_FAILURE_BUNDLE_MAX_BYTES`` (default 1 MiB; bodies are shortened, then the oldest
responses dropped, to fit) and at most ``ICON_RUNTIME_FAILURE_BUNDLE_MAX_FILES`` (default 100) files in
the directory, after which no more are written. ``icon-runtime-testing`` replays a bundle as a test
(``replay_bundle``).

Plugged in as a step hook (entry point ``failure_bundle`` of ``insightconnect_plugin_runtime.step_hooks``
in this distribution, through ``_failure_bundle_hook``, which imports this module only while bundles
are on), so the HTTP endpoints need no code for it; a step run by ``bin/<plugin> run`` with the
variable set is bundled the same way.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from typing import Any

from insightconnect_plugin_runtime import settings

from . import _http_recorder
from ._failure_bundle_hook import ENV_DIR

ENV_MAX_BYTES = "ICON_RUNTIME_FAILURE_BUNDLE_MAX_BYTES"
ENV_MAX_FILES = "ICON_RUNTIME_FAILURE_BUNDLE_MAX_FILES"
FORMAT = "icon-runtime-failure-bundle/1"
DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_FILES = 100
MAX_EXCHANGES = 50
BODY_LIMIT = 64 * 1024
#: Response headers that carry credentials the connection does not hold (sessions, tokens).
_DROPPED_HEADERS = re.compile(r"set-cookie|authorization|cookie|.*token.*|.*api[-_]?key.*", re.IGNORECASE)
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")

log = logging.getLogger(__name__)


def _int_env(name: str, default: int) -> int:
    return int(settings.number(name, default, integer=True, positive=True))


def step_hook(call: Any) -> contextlib.AbstractContextManager[Any]:
    """Core's step hook: record the step's HTTP responses while bundles are on, write one on failure."""
    directory = settings.text(ENV_DIR)
    if not directory:
        return contextlib.nullcontext()
    return _bundled(call, directory)


@contextlib.contextmanager
def _bundled(call: Any, directory: str) -> Iterator[None]:
    with _http_recorder.recording(MAX_EXCHANGES, BODY_LIMIT) as recorded:
        yield
    if call.status != "error":
        return
    try:
        write_bundle(directory, build_bundle(call, recorded), call)
    except Exception:  # a bundle that cannot be written must not change the step's reply
        log.warning("Could not write the failure bundle", exc_info=True)


def _body(exchange: _http_recorder.Exchange) -> dict[str, Any]:
    data, complete = _http_recorder.decoded_body(exchange, BODY_LIMIT)
    try:
        return {"body": data.decode("utf-8"), "body_complete": complete}
    except UnicodeDecodeError:
        return {"body": None, "body_omitted": f"{len(data)} bytes of binary data (binary bodies cannot be masked)"}


def _headers(exchange: _http_recorder.Exchange) -> list[list[str]]:
    skip = {"transfer-encoding", "content-encoding", "content-length"}  # the body is stored decoded
    return [[k, v] for k, v in exchange.headers if k.lower() not in skip and not _DROPPED_HEADERS.fullmatch(k)]


def _trigger_checkpoint(message: Any) -> Any:
    """The checkpoint file of a stateful trigger (``None`` when there is none or it is unreadable)."""
    from insightconnect_plugin_runtime import trigger

    trigger_id = ((message.get("body") or {}).get("meta") or {}).get("triggerId")
    if not isinstance(trigger_id, str) or not trigger_id or _NAME.search(trigger_id):
        return None
    path = os.path.join(trigger.cache_dir(), f"{trigger_id}.json")
    try:
        if os.path.getsize(path) > BODY_LIMIT:
            return {"omitted": "checkpoint larger than the bundle keeps"}
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def build_bundle(call: Any, recorded: _http_recorder.Recording) -> dict[str, Any]:
    """The bundle of a failed step, unmasked (``write_bundle`` masks it)."""
    message = call.message if isinstance(call.message, dict) else {}
    body = message.get("body") or {}
    plugin = call.plugin
    state: dict[str, Any] = {}
    if call.kind == "task":
        state["task_state"] = body.get("state")
    if call.kind == "trigger":
        state["trigger_checkpoint"] = _trigger_checkpoint(message)
    return {
        "format": FORMAT,
        "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "plugin": {k: getattr(plugin, k, None) for k in ("vendor", "name", "version")},
        "kind": call.kind,
        "name": call.name,
        "is_test": bool(call.is_test),
        "error": {"type": type(call.error).__name__, "message": str(call.error)},
        "message": message,
        "http": [
            {
                "method": exchange.method,
                "url": exchange.url,
                "status": exchange.status,
                "reason": exchange.reason,
                "headers": _headers(exchange),
                **_body(exchange),
            }
            for exchange in recorded.exchanges
        ],
        "http_dropped": recorded.dropped,
        "state": state,
    }


def _fit(bundle: dict[str, Any], max_bytes: int) -> str:
    """The bundle as JSON of at most ``max_bytes``: bodies shortened first, then old responses dropped."""
    text = json.dumps(bundle, default=str)
    limit = BODY_LIMIT
    while len(text.encode()) > max_bytes and limit > 256:
        limit //= 4
        for exchange in bundle["http"]:
            if isinstance(exchange.get("body"), str) and len(exchange["body"]) > limit:
                exchange["body"], exchange["body_complete"] = exchange["body"][:limit], False
        text = json.dumps(bundle, default=str)
    while len(text.encode()) > max_bytes and bundle["http"]:
        bundle["http"].pop(0)
        bundle["http_dropped"] += 1
        text = json.dumps(bundle, default=str)
    if len(text.encode()) > max_bytes:  # the message or state alone is too large: keep what replays nothing
        bundle = {key: bundle[key] for key in ("format", "written_at", "plugin", "kind", "name", "error")}
        bundle["omitted"] = "the start message or state exceeds the bundle size bound"
        text = json.dumps(bundle, default=str)[:max_bytes]
    return text


def _mask_session_tokens(bundle: dict[str, Any]) -> dict[str, Any]:
    """``bundle`` with the values found under secret-looking names (``access_token``, ``token``,
    ``api_key``...) in the recorded JSON or form bodies, URL queries (of requests and of response
    headers: an unfollowed ``Location``), and the task state or trigger checkpoint masked wherever
    they occur.

    Those are credentials the step obtained at run time (an OAuth token answer, a session id sent back
    as ``?access_token=``): not connection fields, so the connection's masker does not know them, yet
    they would replay a live session. Past the masker's bound the bodies are left out rather than kept
    half-masked.
    """
    from urllib.parse import parse_qsl, urlsplit

    from insightconnect_plugin_runtime.masking import masker_for  # only once a bundle is written

    found: dict[str, Any] = {"state": bundle.get("state")}  # a checkpoint often keeps the token
    for index, exchange in enumerate(bundle.get("http") or []):
        found[f"query{index}"] = dict(parse_qsl(urlsplit(str(exchange.get("url", ""))).query))
        for number, (_, value) in enumerate(exchange.get("headers") or []):  # Location: ...#access_token=
            parts = urlsplit(str(value))
            found[f"header{index}.{number}"] = dict(parse_qsl(f"{parts.query}&{parts.fragment}"))
        body = exchange.get("body")
        if isinstance(body, str):
            try:
                found[f"body{index}"] = json.loads(body)
            except ValueError:
                found[f"body{index}"] = dict(parse_qsl(body))
    sessions = masker_for(found)
    if sessions.overflow:
        for exchange in bundle.get("http") or []:
            exchange.update(body=None, body_omitted="too many token-like values to mask")
    return sessions.mask(bundle)  # type: ignore[no-any-return]


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def write_bundle(directory: str, bundle: dict[str, Any], call: Any) -> str | None:
    """Mask ``bundle`` with the execution's masker and write it (0600); the path, or ``None`` when the
    directory already holds the maximum number of files."""
    masker = getattr(call, "masker", None)
    if masker is not None:
        bundle = masker.mask(bundle)
    bundle = _mask_session_tokens(bundle)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if len(os.listdir(directory)) >= _int_env(ENV_MAX_FILES, DEFAULT_MAX_FILES):
        log.warning("Failure bundle not written: %s already holds the maximum number of bundles", directory)
        return None
    text = _fit(bundle, _int_env(ENV_MAX_BYTES, DEFAULT_MAX_BYTES))
    if masker is not None:
        rescanned = masker.mask_text(text)  # the JSON text: forms only whole in the written file
        text = rescanned if _parses(rescanned) else text
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    name = _NAME.sub("_", f"{call.kind}-{call.name}")[:80]
    path = os.path.join(directory, f"{name}-{stamp}-{secrets.token_hex(4)}.json")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    log.warning("Step failed: failure bundle written to %s", path)
    return path
