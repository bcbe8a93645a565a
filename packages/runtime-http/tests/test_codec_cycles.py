"""``_codec.is_plain`` ends on a reply that holds itself (a parent link a step forgot), so writing it
fails with ``json.dumps``'s ValueError instead of the walk looping for ever; no msgspec needed."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from insightconnect_plugin_runtime.api import _codec


def _ends(function: Any, *args: Any) -> list[Any]:
    """``function(*args)``'s result (or exception) within 5 s, in a thread a hang cannot block."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(function(*args))
        except Exception as error:  # noqa: BLE001 - the caller looks at it
            out.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), f"{function.__name__} did not end on a cyclic value"
    return out


def _cycles() -> list[Any]:
    in_list: list[Any] = []
    in_list.append(in_list)
    in_dict: dict[str, Any] = {"items": []}
    in_dict["items"].append({"parent": in_dict})
    return [in_list, in_dict, ("x", in_list)]


@pytest.mark.parametrize("value", _cycles(), ids=["list", "dict", "tuple"])
def test_a_cycle_is_not_plain_and_dumps_refuses_it_as_json_does(value: Any) -> None:
    assert _ends(_codec.is_plain, value) == [False]
    (error,) = _ends(_codec.dumps, value)
    assert isinstance(error, ValueError) and "ircular" in str(error)


def test_a_shared_container_is_written_twice_with_the_same_values() -> None:
    shared = {"id": 1, "tags": ["a", "b"]}
    reply = {"first": shared, "second": [shared, shared]}
    assert json.loads(_codec.dumps(reply)) == json.loads(json.dumps(reply))
    assert _codec.is_plain({"a": [1, 2], "b": [1, 2]})  # equal but distinct containers stay plain
