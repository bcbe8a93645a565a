"""Unit checks of the failure-bundle writer's exact values: the file-count cap, file and directory
modes, the bundle's keys, the trigger checkpoint it reads, the size bound and the variables' defaults.
No servers: the functions are called directly, so each bound is checked at and just past its edge."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from types import SimpleNamespace
from typing import Any

import pytest

from insightconnect_plugin_runtime import trigger
from insightconnect_plugin_runtime.api import _failure_bundle, _http_recorder


class _Masker:
    """Stands in for the execution's masker: ``mask`` hides one word, ``mask_text`` another, so a test
    can tell which of the two passes ran."""

    def mask(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.mask(v) for v in value]
        return value.replace("objsecret", "[M1]") if isinstance(value, str) else value

    def mask_text(self, text: str) -> str:
        return text.replace("textsecret", "[M2]")


def _call(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "kind": "action",
        "name": "look up",
        "plugin": SimpleNamespace(vendor="acme", name="demo", version="1.2.3"),
        "is_test": 0,
        "error": ValueError("broke"),
        "message": {"body": {"input": {"q": "x"}}},
        "status": "error",
    }
    values.update(changes)
    return SimpleNamespace(**values)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (_failure_bundle.ENV_DIR, _failure_bundle.ENV_MAX_BYTES, _failure_bundle.ENV_MAX_FILES):
        monkeypatch.delenv(name, raising=False)


def test_constants_and_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _failure_bundle.FORMAT == "icon-runtime-failure-bundle/1"
    assert _failure_bundle.DEFAULT_MAX_BYTES == 1048576
    assert _failure_bundle.DEFAULT_MAX_FILES == 100
    assert _failure_bundle.BODY_LIMIT == 65536
    assert _failure_bundle._int_env(_failure_bundle.ENV_MAX_FILES, 100) == 100
    monkeypatch.setenv(_failure_bundle.ENV_MAX_FILES, "0")
    assert _failure_bundle._int_env(_failure_bundle.ENV_MAX_FILES, 100) == 100
    monkeypatch.setenv(_failure_bundle.ENV_MAX_FILES, "7")
    assert _failure_bundle._int_env(_failure_bundle.ENV_MAX_FILES, 100) == 7


def test_step_hook_is_a_no_op_without_the_directory() -> None:
    assert isinstance(_failure_bundle.step_hook(_call()), contextlib.nullcontext)


def test_step_hook_records_fifty_exchanges_of_64_kib(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    seen: list[tuple[int, int]] = []

    @contextlib.contextmanager
    def recording(max_exchanges: int, body_limit: int) -> Any:
        seen.append((max_exchanges, body_limit))
        yield _http_recorder.Recording(max_exchanges, body_limit)

    monkeypatch.setattr(_http_recorder, "recording", recording)
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path / "b"))
    with _failure_bundle.step_hook(_call()):
        pass
    assert seen == [(50, 65536)]
    assert len(os.listdir(tmp_path / "b")) == 1


def test_a_successful_step_writes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv(_failure_bundle.ENV_DIR, str(tmp_path / "b"))
    with _failure_bundle.step_hook(_call(status="ok")):
        pass
    assert not (tmp_path / "b").exists()


def _exchange(body: bytes = b'{"a": 1}') -> _http_recorder.Exchange:
    exchange = _http_recorder.Exchange("GET", "http://127.0.0.1/x", 200, "OK", [("Content-Type", "application/json")])
    exchange.body.extend(body)
    return exchange


def test_build_bundle_keys_and_values() -> None:
    recorded = _http_recorder.Recording()
    recorded.add(_exchange())
    recorded.dropped = 3
    bundle = _failure_bundle.build_bundle(_call(kind="task", message={"body": {"state": "s1"}}), recorded)
    assert list(bundle) == [
        "format", "written_at", "plugin", "kind", "name", "is_test", "error", "message", "http", "http_dropped", "state"
    ]  # fmt: skip
    assert bundle["format"] == "icon-runtime-failure-bundle/1"
    assert bundle["plugin"] == {"vendor": "acme", "name": "demo", "version": "1.2.3"}
    assert bundle["kind"] == "task" and bundle["name"] == "look up" and bundle["is_test"] is False
    assert bundle["error"] == {"type": "ValueError", "message": "broke"}
    assert bundle["http_dropped"] == 3
    assert bundle["state"] == {"task_state": "s1"}
    assert bundle["http"] == [
        {
            "method": "GET",
            "url": "http://127.0.0.1/x",
            "status": 200,
            "reason": "OK",
            "headers": [["Content-Type", "application/json"]],
            "body": '{"a": 1}',
            "body_complete": True,
        }
    ]
    assert bundle["written_at"].endswith("+00:00") and len(bundle["written_at"]) == 25


def test_build_bundle_plugin_fields_missing_are_none() -> None:
    bundle = _failure_bundle.build_bundle(_call(plugin=object(), message="not a dict"), _http_recorder.Recording())
    assert bundle["plugin"] == {"vendor": None, "name": None, "version": None}
    assert bundle["message"] == {} and bundle["state"] == {} and bundle["http_dropped"] == 0


def _checkpoint_message(trigger_id: Any) -> dict[str, Any]:
    return {"body": {"meta": {"triggerId": trigger_id}}}


@pytest.fixture
def cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    directory = tmp_path / "cache"
    directory.mkdir()
    monkeypatch.setattr(trigger, "CACHE_DIR", str(directory), raising=False)
    assert trigger.cache_dir() == str(directory)
    return directory


def test_trigger_checkpoint_is_read(cache: Any) -> None:
    (cache / "trig-1.json").write_text('{"cursor": 5}', encoding="utf-8")
    assert _failure_bundle._trigger_checkpoint(_checkpoint_message("trig-1")) == {"cursor": 5}
    bundle = _failure_bundle.build_bundle(
        _call(kind="trigger", message=_checkpoint_message("trig-1")), _http_recorder.Recording()
    )
    assert bundle["state"] == {"trigger_checkpoint": {"cursor": 5}}


@pytest.mark.parametrize("trigger_id", [None, 5, "", "../trig-1", "a/b", "a b"])
def test_trigger_checkpoint_bad_ids_are_none(cache: Any, trigger_id: Any) -> None:
    (cache / "trig-1.json").write_text('{"cursor": 5}', encoding="utf-8")
    (cache / ".json").write_text('{"cursor": 6}', encoding="utf-8")
    (cache / "a b.json").write_text('{"cursor": 7}', encoding="utf-8")
    (cache / "a").mkdir()
    (cache / "a" / "b.json").write_text('{"cursor": 8}', encoding="utf-8")
    assert _failure_bundle._trigger_checkpoint(_checkpoint_message(trigger_id)) is None


def test_trigger_checkpoint_missing_meta_is_none(cache: Any) -> None:
    assert _failure_bundle._trigger_checkpoint({}) is None
    assert _failure_bundle._trigger_checkpoint({"body": {"meta": None}}) is None
    assert _failure_bundle._trigger_checkpoint(_checkpoint_message("absent")) is None


def test_trigger_checkpoint_size_bound(cache: Any) -> None:
    limit = _failure_bundle.BODY_LIMIT
    at = '{"k": "' + "x" * (limit - 9) + '"}'
    assert len(at) == limit
    (cache / "at.json").write_text(at, encoding="utf-8")
    (cache / "over.json").write_text(at + " ", encoding="utf-8")
    assert _failure_bundle._trigger_checkpoint(_checkpoint_message("at")) == {"k": "x" * (limit - 9)}
    assert _failure_bundle._trigger_checkpoint(_checkpoint_message("over")) == {
        "omitted": "checkpoint larger than the bundle keeps"
    }


def test_trigger_checkpoint_unreadable_is_none(cache: Any) -> None:
    (cache / "bad.json").write_text("{not json", encoding="utf-8")
    (cache / "dir.json").mkdir()
    (cache / "bin.json").write_bytes(b"\xff\xfe\x00")
    for name in ("bad", "dir", "bin"):
        assert _failure_bundle._trigger_checkpoint(_checkpoint_message(name)) is None


def _bundle(*bodies: str) -> dict[str, Any]:
    return {
        "format": "f",
        "written_at": "w",
        "plugin": {},
        "kind": "action",
        "name": "n",
        "error": {},
        "message": {},
        "http": [{"body": body, "body_complete": True} for body in bodies],
        "http_dropped": 0,
        "state": {},
    }


def test_fit_exactly_at_and_one_over_the_limit() -> None:
    text = json.dumps(_bundle("a" * 1000))
    assert _failure_bundle._fit(_bundle("a" * 1000), len(text)) == text
    shortened = json.loads(_failure_bundle._fit(_bundle("a" * 1000), len(text) - 1))
    assert shortened["http"] == [{"body": "a" * 256, "body_complete": False}]


def test_fit_shortens_only_bodies_longer_than_the_step() -> None:
    quarter = _failure_bundle.BODY_LIMIT // 4
    wanted = _bundle("b" * quarter, "c" * quarter)
    wanted["http"][0]["body_complete"] = False
    max_bytes = len(json.dumps(wanted))
    fitted = json.loads(_failure_bundle._fit(_bundle("b" * (quarter + 10), "c" * quarter), max_bytes))
    assert fitted["http"] == [
        {"body": "b" * quarter, "body_complete": False},
        {"body": "c" * quarter, "body_complete": True},
    ]


def test_fit_drops_oldest_then_keeps_the_skeleton() -> None:
    fitted = json.loads(_failure_bundle._fit(_bundle("x" * 300, "y" * 10), len(json.dumps(_bundle("y" * 10)))))
    assert fitted["http"] == [{"body": "y" * 10, "body_complete": True}] and fitted["http_dropped"] == 1
    big = _bundle()
    big["message"] = {"m": "z" * 5000}
    skeleton = json.loads(_failure_bundle._fit(big, 1000))
    assert skeleton["omitted"] == "the start message or state exceeds the bundle size bound"
    assert "message" not in skeleton


def test_write_bundle_modes_name_and_masking(tmp_path: Any) -> None:
    directory = tmp_path / "bundles"
    call = _call(masker=_Masker(), message={"body": {"input": {"a": "objsecret", "b": "textsecret"}}})
    bundle = _failure_bundle.build_bundle(call, _http_recorder.Recording())
    path = _failure_bundle.write_bundle(str(directory), bundle, call)
    assert path is not None and os.path.dirname(path) == str(directory)
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.path.basename(path).startswith("action-look_up-") and path.endswith(".json")
    written = json.loads(open(path, encoding="utf-8").read())
    assert written["message"]["body"]["input"] == {"a": "[M1]", "b": "[M2]"}
    assert written["format"] == "icon-runtime-failure-bundle/1"


def _write(directory: Any, call: Any) -> str | None:
    return _failure_bundle.write_bundle(
        str(directory), _failure_bundle.build_bundle(call, _http_recorder.Recording()), call
    )


def test_write_bundle_without_a_masker(tmp_path: Any) -> None:
    call = _call(message={"body": {"input": {"b": "textsecret"}}})
    path = _failure_bundle.write_bundle(
        str(tmp_path), _failure_bundle.build_bundle(call, _http_recorder.Recording()), call
    )
    assert path is not None
    assert json.loads(open(path, encoding="utf-8").read())["message"]["body"]["input"] == {"b": "textsecret"}


def test_write_bundle_file_count_cap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(_failure_bundle.ENV_MAX_FILES, "2")
    call = _call()
    empty = _http_recorder.Recording()
    assert _failure_bundle.write_bundle(str(tmp_path), _failure_bundle.build_bundle(call, empty), call)
    assert _failure_bundle.write_bundle(str(tmp_path), _failure_bundle.build_bundle(call, empty), call)
    assert len(os.listdir(tmp_path)) == 2
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=_failure_bundle.__name__):
        assert _failure_bundle.write_bundle(str(tmp_path), _failure_bundle.build_bundle(call, empty), call) is None
    assert len(os.listdir(tmp_path)) == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"Failure bundle not written: {tmp_path} already holds the maximum number of bundles"
    ]


def test_write_bundle_default_cap_is_100(tmp_path: Any) -> None:
    for number in range(99):
        (tmp_path / f"old{number}.json").write_text("{}", encoding="utf-8")
    call = _call()
    assert _failure_bundle.write_bundle(
        str(tmp_path), _failure_bundle.build_bundle(call, _http_recorder.Recording()), call
    )
    assert (
        _failure_bundle.write_bundle(
            str(tmp_path), _failure_bundle.build_bundle(call, _http_recorder.Recording()), call
        )
        is None
    )
    assert len(os.listdir(tmp_path)) == 100


def test_write_bundle_max_bytes_from_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv(_failure_bundle.ENV_MAX_BYTES, "300")
    call = _call(message={"body": {"input": {"q": "x" * 2000}}})
    path = _failure_bundle.write_bundle(
        str(tmp_path), _failure_bundle.build_bundle(call, _http_recorder.Recording()), call
    )
    assert path is not None and os.path.getsize(path) <= 300
