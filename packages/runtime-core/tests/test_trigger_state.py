"""Stateful triggers: checkpoint files, traversal guard, terminate flag, atomic saves."""

from __future__ import annotations

import json
import logging
import os

import pytest

import insightconnect_plugin_runtime as icon
from insightconnect_plugin_runtime import constants
from insightconnect_plugin_runtime.exceptions import PluginException


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "CACHE_DIR", str(tmp_path / "cache") + "/")
    monkeypatch.setattr(constants, "FLAG_DIR", str(tmp_path / "flags") + "/")
    os.makedirs(constants.FLAG_DIR)
    return tmp_path


def _trigger(trigger_id):
    trigger = icon.Trigger("t", "t", icon.Input({}), icon.Output({}))
    trigger.logger = logging.getLogger("test")
    trigger.meta = {"triggerId": trigger_id} if trigger_id else {}
    return trigger


def test_first_start_creates_an_empty_state_file(dirs):
    trigger = _trigger("abc")
    trigger.load_state()
    assert trigger.state == {}
    assert json.loads(open(trigger.state_file).read()) == {}


def test_saved_state_is_loaded_again(dirs):
    trigger = _trigger("abc")
    trigger.load_state()
    trigger.state["cursor"] = 7
    trigger._save_state()
    again = _trigger("abc")
    again.load_state()
    assert again.state == {"cursor": 7}


def test_no_trigger_id_means_stateless_and_saving_fails(dirs, caplog):
    trigger = _trigger(None)
    trigger.load_state()
    assert trigger.state_file == ""
    with pytest.raises(PluginException):
        trigger._save_state()


@pytest.mark.parametrize("bad_id", ["../escape", "../../etc/passwd", "a/../../b"])
def test_path_traversal_in_trigger_id_is_refused(dirs, bad_id):
    with pytest.raises(ValueError, match="traversal"):
        _trigger(bad_id).load_state()


def test_terminate_flag_saves_state_and_stops(dirs):
    trigger = _trigger("abc")
    trigger.load_state()
    assert trigger.run_trigger is True
    trigger.state["n"] = 1
    open(os.path.join(constants.FLAG_DIR, constants.TERMINATE_FLAG_NAME), "w").close()
    assert trigger.run_trigger is False
    assert json.loads(open(trigger.state_file).read()) == {"n": 1}
    assert not os.path.exists(os.path.join(constants.FLAG_DIR, constants.TERMINATE_FLAG_NAME))


def test_a_failed_save_keeps_the_previous_checkpoint(dirs, monkeypatch):
    trigger = _trigger("abc")
    trigger.load_state()
    trigger.state["n"] = 1
    trigger._save_state()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    trigger.state["n"] = 2
    with pytest.raises(OSError, match="No space"):
        trigger._save_state()
    assert json.loads(open(trigger.state_file).read()) == {"n": 1}
    assert [name for name in os.listdir(os.path.dirname(trigger.state_file)) if name.startswith(".state")] == []


# --- the reference's patch points, used the way plugins' own tests use them ------------------------------


def test_plugin_tests_patch_trigger_cache_dir_and_flag_dir(tmp_path):
    from unittest import mock

    cache = str(tmp_path / "trigger_unit_tests") + "/"
    with (
        mock.patch("insightconnect_plugin_runtime.trigger.CACHE_DIR", cache),
        mock.patch("insightconnect_plugin_runtime.trigger.FLAG_DIR", cache),
    ):
        trigger = _trigger("patched-id")
        trigger.load_state()
        assert trigger.state_file == os.path.join(os.path.realpath(cache), "patched-id.json")
        assert json.loads(open(trigger.state_file).read()) == {}
        trigger.state["cursor"] = 3
        assert trigger.run_trigger is True
        open(os.path.join(cache, constants.TERMINATE_FLAG_NAME), "w").close()
        assert trigger.run_trigger is False  # the flag was looked for in the patched FLAG_DIR
        assert json.loads(open(trigger.state_file).read()) == {"cursor": 3}
    # Unpatched again: the constants (and ICON_RUNTIME_CACHE_DIR) decide.
    from insightconnect_plugin_runtime import trigger as trigger_module

    assert trigger_module.cache_dir() == constants.CACHE_DIR
    assert trigger_module.flag_dir() == constants.FLAG_DIR


def test_patching_constants_keeps_working_and_the_trigger_patch_wins(dirs, tmp_path):
    from unittest import mock

    from insightconnect_plugin_runtime import trigger as trigger_module

    assert trigger_module.cache_dir() == constants.CACHE_DIR  # patched by the fixture
    assert trigger_module.flag_dir() == constants.FLAG_DIR
    elsewhere = str(tmp_path / "elsewhere") + "/"
    with mock.patch.object(trigger_module, "CACHE_DIR", elsewhere):
        assert trigger_module.cache_dir() == elsewhere
        assert trigger_module.flag_dir() == constants.FLAG_DIR
        trigger = _trigger("abc")
        trigger.load_state()
        assert os.path.dirname(trigger.state_file) == os.path.realpath(elsewhere)


def test_checkpoints_are_private_whatever_the_umask(dirs):
    import stat

    previous = os.umask(0o022)
    try:
        trigger = _trigger("abc")
        trigger.load_state()
        trigger.state["token"] = "cursor"
        trigger._save_state()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(trigger.state_file).st_mode) == 0o600
