"""Exception presets, rendering and data handling."""

from __future__ import annotations

import pickle

import pytest

from insightconnect_plugin_runtime.exceptions import (
    APIException,
    ConnectionTestException,
    HTTPStatusCodes,
    PluginException,
    ResponseExceptionData,
    UnknownPresetError,
)

PRESETS = [v for k, v in vars(PluginException.Preset).items() if not k.startswith("_")]


def test_every_preset_has_a_cause_and_an_assistance():
    assert len(PRESETS) == 18
    for preset in PRESETS:
        error = PluginException(preset=preset)
        assert error.cause == PluginException.causes[preset] and error.cause
        assert error.assistance == PluginException.assistances[preset] and error.assistance
        assert error.preset == preset


def test_preset_overrides_explicit_texts_and_unknown_preset_raises():
    error = PluginException(cause="mine", assistance="mine", preset=PluginException.Preset.UNKNOWN)
    assert error.cause == PluginException.causes["unknown"]
    with pytest.raises(KeyError):
        PluginException(preset="no_such_preset")


@pytest.mark.parametrize("falsy", [None, "", 0, {}, False, []])
def test_falsy_data_becomes_empty_string(falsy):
    assert ConnectionTestException(cause="c", data=falsy).data == ""


def test_data_is_stringified():
    assert ConnectionTestException(cause="c", data={"a": 1}).data == "{'a': 1}"


def test_str_is_one_line_and_includes_parts():
    error = PluginException(cause="line one\nline two", assistance="help", data="multi\nline")
    text = str(error)
    assert "\n" not in text
    assert "line one line two" in text and "help" in text and "multi line" in text
    assert str(ConnectionTestException(cause="c")) != str(PluginException(cause="c"))


def test_api_exception_keeps_status_code_and_preset_texts():
    error = APIException(preset=PluginException.Preset.NOT_FOUND, status_code=404, data="example")
    assert error.status_code == 404 and error.data == "example"
    assert error.cause == PluginException.causes["not_found"]
    assert isinstance(error, PluginException) and isinstance(error, ConnectionTestException)


def test_exceptions_survive_pickling():
    error = pickle.loads(pickle.dumps(PluginException(cause="c", assistance="a", data="d")))
    assert (error.cause, error.assistance, error.data) == ("c", "a", "d")


def test_constants():
    assert HTTPStatusCodes.TOO_MANY_REQUESTS == 429 and HTTPStatusCodes.NETWORK_AUTHENTICATION_REQUIRED == 511
    assert ResponseExceptionData.RESPONSE_JSON == "response_json"


# -- presets as plugins pass them (issue 17) -------------------------------------------------------


@pytest.mark.parametrize("exception", [PluginException, ConnectionTestException, APIException])
@pytest.mark.parametrize("no_preset", ["", None, 0, False])
def test_falsy_preset_means_no_preset(exception, no_preset):
    error = exception(preset=no_preset, cause="Own cause.", assistance="Own assistance.", data="d")
    assert (error.cause, error.assistance, error.data) == ("Own cause.", "Own assistance.", "d")
    assert error.preset == no_preset  # kept as given, as the reference does
    assert "Own cause." in str(error) and "Own assistance." in str(error)


@pytest.mark.parametrize("exception", [PluginException, ConnectionTestException])
def test_unknown_preset_is_a_key_error_naming_the_known_presets(exception):
    with pytest.raises(KeyError) as caught:
        exception(preset="no_such_preset", cause="c", assistance="a")
    error = caught.value
    assert isinstance(error, UnknownPresetError)
    message = str(error)
    assert message.startswith("Unknown exception preset 'no_such_preset'")
    for preset in PRESETS:
        assert str(preset) in message
    assert error.args == ("no_such_preset",)  # what code reading KeyError.args[0] expects
    assert error.__cause__ is None and error.__suppress_context__


def test_unknown_preset_error_survives_pickling():
    error = pickle.loads(pickle.dumps(UnknownPresetError("x", ["a", "b"])))
    assert isinstance(error, KeyError) and error.preset == "x"
