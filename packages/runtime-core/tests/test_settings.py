"""One rule for switches and one for numbers, whichever distribution reads the variable."""

from __future__ import annotations

import logging

import pytest

from insightconnect_plugin_runtime import settings, util


@pytest.mark.parametrize("word", ["1", "true", "TRUE", " yes ", "on", "Enabled"])
def test_on_words_switch_on_whatever_the_default(word):
    assert settings.flag("X", False, {"X": word}) is True


@pytest.mark.parametrize("word", ["0", "false", "No", " off", "disabled"])
def test_off_words_switch_off_whatever_the_default(word):
    assert settings.flag("X", True, {"X": word}) is False


@pytest.mark.parametrize("default", [True, False])
def test_unset_empty_and_unknown_words_keep_the_default(default, caplog):
    assert settings.flag("X", default, {}) is default
    assert settings.flag("X", default, {"X": "  "}) is default
    with caplog.at_level(logging.WARNING, "insightconnect_plugin_runtime.settings"):
        assert settings.flag("X", default, {"X": "ture"}) is default
    assert "X='ture'" in caplog.text


def test_track_work_reads_one_the_same_in_core_and_for_the_server(monkeypatch):
    monkeypatch.setenv("TRACK_WORK", "1")
    monkeypatch.setenv("PLUGIN_RUNTIME_ENVIRONMENT", "cloud")
    assert util.enable_work_tracker() is True
    assert settings.track_work() is True
    monkeypatch.delenv("TRACK_WORK")
    assert util.enable_work_tracker() is False
    monkeypatch.delenv("PLUGIN_RUNTIME_ENVIRONMENT")
    assert util.enable_work_tracker() is True


def test_cloud_is_the_exact_word():
    assert settings.running_in_cloud({"PLUGIN_RUNTIME_ENVIRONMENT": "cloud"})
    assert not settings.running_in_cloud({"PLUGIN_RUNTIME_ENVIRONMENT": "Cloud"})
    assert not settings.running_in_cloud({})


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("", {}, 7),
        ("2.5", {}, 2.5),
        ("0", {}, 0),
        ("0", {"positive": True}, 7),
        ("-1", {}, 7),
        ("nan", {}, 7),
        ("abc", {}, 7),
        ("3", {"integer": True}, 3),
        ("3.5", {"integer": True}, 7),
    ],
)
def test_numbers(value, options, expected):
    result = settings.number("N", 7, env={"N": value}, **options)
    assert result == expected
    if options.get("integer"):
        assert isinstance(result, int)


def test_names_are_a_comma_separated_set():
    assert settings.names("L", {"L": " a, ,b ,a"}) == {"a", "b"}
    assert settings.names("L", {}) == frozenset()


def test_every_variable_is_listed_once_with_a_known_kind():
    names = [variable.name for variable in settings.VARIABLES]
    assert len(names) == len(set(names))
    assert {variable.kind for variable in settings.VARIABLES} <= {"flag", "number", "text", "names"}
