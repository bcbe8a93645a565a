"""schemathesis hooks for the API fuzzing check (loaded through ``SCHEMATHESIS_HOOKS``).

* ``before_call`` caps the ``sleep`` action at ``RELIABILITY_SLEEP_MAX`` seconds: a value the schema
  accepts stays accepted (it only gets smaller), an invalid one is left alone, so negative testing is
  unaffected while no request sleeps for up to 60 s.
* ``before_call`` also gives a valid numeric connection ``pin`` a value of its own: the generator
  reuses small values across fields, and a task state or output number equal to the PIN is masked (a
  value equal to a secret is replaced whatever its type: the runtime over-masks rather than leaks),
  which breaks the documented type of that field without saying anything about the server.
* ``after_call`` appends one JSON line per response to ``RELIABILITY_ST_LOG`` for the suite's own
  figures (5xx, error bodies that are not JSON envelopes).
"""

from __future__ import annotations

import json
import os
import threading

import schemathesis

SLEEP_MAX = float(os.environ.get("RELIABILITY_SLEEP_MAX", "0.05"))
_LOCK = threading.Lock()


PIN = 7_391_524


@schemathesis.hook
def before_call(context, case, **kwargs):
    body = case.body
    _route_to_named_step(case)
    _own_pin(body)
    if not (isinstance(body, dict) and case.path.endswith("/actions/{name}")):
        return
    step = body.get("body")
    if not isinstance(step, dict) or not isinstance(step.get("input"), dict):
        return
    seconds = step["input"].get("seconds")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and 0 <= seconds <= 60:
        step["input"]["seconds"] = min(seconds, SLEEP_MAX)


def _own_pin(body):
    step = body.get("body") if isinstance(body, dict) else None
    connection = step.get("connection") if isinstance(step, dict) else None
    if isinstance(connection, dict):
        pin = connection.get("pin")
        if isinstance(pin, int) and not isinstance(pin, bool):
            connection["pin"] = PIN


def _route_to_named_step(case):
    """Send a start message to the route of the step it names.

    The document has one ``{name}`` route per kind whose body is any of that kind's start messages; it
    cannot say that the name in the body must equal the one in the path (a mismatch is a documented
    400). So a message naming a registered-looking step is posted to that step's route.
    """
    parameters = case.path_parameters or {}
    body = case.body
    if "name" not in parameters or not isinstance(body, dict) or not isinstance(body.get("body"), dict):
        return
    for key in ("action", "trigger", "task"):
        named = body["body"].get(key)
        if isinstance(named, str) and named.replace("_", "").isalnum() and named.isascii():
            parameters["name"] = named
            return


def _mode(case):
    meta = getattr(case, "meta", None) or getattr(case, "_meta", None)
    try:
        return str(meta.generation.mode.value)
    except AttributeError:
        return None


def _kind(body):
    try:
        value = body["body"]["input"]["kind"]
        return value if isinstance(value, str) else None
    except (KeyError, TypeError):
        return None


@schemathesis.hook
def after_call(context, case, response):
    path = os.environ.get("RELIABILITY_ST_LOG")
    if not path:
        return
    content_type = ",".join(response.headers.get("content-type", []))
    try:
        parsed = json.loads(response.content)
        shape = "object" if isinstance(parsed, dict) else type(parsed).__name__
        keys = sorted(parsed)[:8] if isinstance(parsed, dict) else []
    except ValueError:
        shape, keys = "not-json", []
    record = {
        "method": case.method,
        "template": case.path,
        "url": response.request.url,
        "status": response.status_code,
        "content_type": content_type,
        "shape": shape,
        "keys": keys,
        "kind": _kind(case.body) if isinstance(case.body, dict) else None,
        "mode": _mode(case),
        "sample": response.content[:300].decode(errors="replace"),
    }
    with _LOCK, open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
