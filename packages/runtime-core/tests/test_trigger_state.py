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
