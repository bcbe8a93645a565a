"""Replay a failure bundle (written by icon-runtime-http when ``ICON_RUNTIME_FAILURE_BUNDLE_DIR`` is set)
as a local test: the same start message, the same HTTP answers, the same task state or trigger
checkpoint, through the message protocol.

The bundle's outgoing HTTP responses become a vcrpy cassette replayed with ``record_mode="none"``
(nothing reaches the network; an unrecorded request fails the step). Requests are matched on method,
scheme, host, port and path, in the order they were recorded, not on query or body: the bundle's
secrets are masked (``********``), and the replayed connection holds either those masks or the
connection the test gives, so queries differ from the recorded ones anyway.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._testing_run import StepResult, execute, isolated_directories

FORMAT = "icon-runtime-failure-bundle/1"
ENV_DIR = "ICON_RUNTIME_FAILURE_BUNDLE_DIR"


@dataclass
class BundleReplay:
    """The replayed run and the bundle; ``reproduced`` when the step failed with the same exception type."""

    bundle: dict[str, Any]
    result: StepResult

    @property
    def recorded_error(self) -> str:
        return str((self.bundle.get("error") or {}).get("type", ""))

    @property
    def reproduced(self) -> bool:
        error = self.result.error
        return error is not None and type(error).__name__ == self.recorded_error


def load_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        bundle = json.load(handle)
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise ValueError(f"{path} is not a failure bundle ({FORMAT})")
    if "message" not in bundle:
        raise ValueError(f"{path} holds no start message: {bundle.get('omitted', 'it was cut')}")
    return bundle


def cassette(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The bundle's responses as a vcrpy cassette (version 1)."""
    interactions = []
    for exchange in bundle.get("http") or ():
        headers: dict[str, list[str]] = {}
        for name, value in exchange.get("headers") or ():
            headers.setdefault(name, []).append(value)
        body = exchange.get("body")
        interactions.append(
            {
                "request": {
                    "method": exchange.get("method", "GET"),
                    "uri": exchange["url"],
                    "body": None,
                    "headers": {},
                },
                "response": {
                    "status": {"code": exchange.get("status", 200), "message": exchange.get("reason", "")},
                    "headers": headers,
                    "body": {"string": body if isinstance(body, str) else ""},
                },
            }
        )
    return {"version": 1, "interactions": interactions}


def _message(bundle: Mapping[str, Any], connection: Mapping[str, Any] | None) -> dict[str, Any]:
    message = json.loads(json.dumps(bundle["message"]))
    if connection is not None:
        message.setdefault("body", {})["connection"] = dict(connection)
    return message


@contextlib.contextmanager
def _no_new_bundles() -> Iterator[None]:
    """A replayed failure is expected: it must not write another bundle."""
    saved = os.environ.pop(ENV_DIR, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[ENV_DIR] = saved


def replay_bundle(
    path: str | os.PathLike[str],
    plugin: Any,
    connection: Mapping[str, Any] | None = None,
    *,
    max_events: int | None = 10,
) -> BundleReplay:
    """Run the bundle's step again in this process, answered by the bundle's recorded responses.

    ``connection`` replaces the bundle's (masked) connection, for a plugin that refuses ``********``.
    A trigger starts from the bundled checkpoint and stops after ``max_events`` events.
    """
    try:
        import vcr
    except ImportError as missing:
        raise RuntimeError("Replaying a bundle needs vcrpy: pip install 'icon-runtime-testing[record]'.") from missing
    import yaml

    plugin = plugin() if isinstance(plugin, type) else plugin
    bundle = load_bundle(path)
    message = _message(bundle, connection)
    with tempfile.TemporaryDirectory(prefix="icon-bundle-") as scratch:
        tape = os.path.join(scratch, "bundle.yaml")
        with open(tape, "w", encoding="utf-8") as handle:
            yaml.safe_dump(cassette(bundle), handle)
        player = vcr.VCR(
            record_mode="none",
            match_on=("method", "scheme", "host", "port", "path"),
            decode_compressed_response=True,
        )
        with isolated_directories(os.path.join(scratch, "state")) as state_dir:
            checkpoint = (bundle.get("state") or {}).get("trigger_checkpoint")
            trigger_id = ((message.get("body") or {}).get("meta") or {}).get("triggerId")
            if bundle.get("kind") == "trigger" and isinstance(checkpoint, dict) and isinstance(trigger_id, str):
                with open(os.path.join(state_dir, "cache", f"{trigger_id}.json"), "w", encoding="utf-8") as handle:
                    json.dump(checkpoint, handle)
            with player.use_cassette(tape), _no_new_bundles():
                events = max_events if bundle.get("kind") == "trigger" else None
                result = execute(plugin, message, is_test=bool(bundle.get("is_test")), max_events=events)
    return BundleReplay(bundle, result)
