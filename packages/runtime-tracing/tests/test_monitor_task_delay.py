"""``monitor_task_delay``: timestamp formats, the threshold override and never raising."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from insightconnect_plugin_runtime import _tracing_delay
from insightconnect_plugin_runtime.telemetry import monitor_task_delay


class RecordingLogger:
    """Stands in for the structlog logger the runtime gives a step: keeps message and fields."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, dict[str, Any]]] = []

    def error(self, message: str, *args: Any, **fields: Any) -> None:
        self.errors.append((message, fields))


class Task:
    """A task whose run returns a state chosen by the test."""

    def __init__(self, state: Any, has_more_pages: bool = False) -> None:
        self.logger = RecordingLogger()
        self.state = state
        self.has_more_pages = has_more_pages

    @monitor_task_delay(timestamp_keys=["last_seen", "cursor_time"], default_delay_threshold="2d")
    def run(self, params: Any = None, state: Any = None, custom_config: Any = None) -> Any:
        return [{"id": 1}], self.state, self.has_more_pages, 200, None


def now() -> datetime:
    return datetime.now(UTC)


def behind_events(task: Task) -> list[dict[str, Any]]:
    return [fields for message, fields in task.logger.errors if "normalized_time" in fields]


def run_with(value: Any, **kwargs: Any) -> Task:
    task = Task({"last_seen": value})
    result = task.run({}, {}, kwargs.get("custom_config"))
    assert result == ([{"id": 1}], {"last_seen": value}, False, 200, None)
    return task


@pytest.mark.parametrize(
    ("value", "behind"),
    [
        (int((now() - timedelta(days=3)).timestamp()), True),
        (int((now() - timedelta(hours=1)).timestamp()), False),
        ((now() - timedelta(days=3)).timestamp(), True),  # float seconds
        (str(int((now() - timedelta(days=3)).timestamp())), True),  # numeric string
        (int((now() - timedelta(days=3)).timestamp() * 1000), True),  # epoch milliseconds
        (int((now() - timedelta(hours=1)).timestamp() * 1000), False),
        (str(int((now() - timedelta(days=5)).timestamp() * 1000)), True),
    ],
    ids=["s-old", "s-recent", "s-float", "s-str", "ms-old", "ms-recent", "ms-str"],
)
def test_epoch_seconds_and_milliseconds(value, behind):
    task = run_with(value)
    assert bool(behind_events(task)) is behind


@pytest.mark.parametrize(
    ("value", "behind"),
    [
        ("2020-01-01T00:00:00Z", True),
        ("2020-01-01T00:00:00+05:00", True),
        ("Jan 3 2021 10:00", True),
        ((now() - timedelta(hours=2)).isoformat(), False),
        ((now() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"), True),
        ((now() - timedelta(hours=2)).astimezone(timezone(timedelta(hours=-7))).isoformat(), False),
    ],
)
def test_date_strings(value, behind):
    assert bool(behind_events(run_with(value))) is behind


def test_event_fields():
    value = "2020-01-01T00:00:00Z"
    task = Task({"last_seen": value}, has_more_pages=True)
    task.run({}, {}, {})
    ((message, fields),) = task.logger.errors
    assert message
    assert fields["field"] == "last_seen"
    assert fields["current_value"] == value
    assert fields["normalized_time"] == "2020-01-01T00:00:00+00:00"
    threshold = datetime.fromisoformat(fields["threshold_time"])
    assert abs((now() - timedelta(days=2)) - threshold) < timedelta(minutes=1)
    assert fields["configured_threshold"] == "2d"
    assert fields["has_more_pages"] is True


def test_aware_datetimes():
    eastern = timezone(timedelta(hours=-5))
    assert behind_events(run_with(datetime.now(eastern) - timedelta(days=3)))
    assert not behind_events(run_with(datetime.now(eastern) - timedelta(hours=3)))


@pytest.fixture
def local_utc_minus_12(monkeypatch):
    """Local time 12 hours behind UTC, so "naive as local" and "naive as UTC" disagree."""
    monkeypatch.setenv("TZ", "Etc/GMT+12")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_datetimes_and_strings_are_local_time(local_utc_minus_12):
    naive_local = datetime.now() - timedelta(hours=20)  # 20 h ago in local time
    # As local time it is 20 h old (inside 1 day); read as UTC it would be 32 h old (behind).
    config = {"task_delay_threshold": "1d"}
    assert not behind_events(run_with(naive_local, custom_config=config))
    assert not behind_events(run_with(naive_local.isoformat(), custom_config=config))
    expected = (naive_local + timedelta(hours=12)).replace(tzinfo=UTC)
    assert _tracing_delay.to_utc(naive_local) == expected
    assert _tracing_delay.to_utc(naive_local.strftime("%Y-%m-%d %H:%M:%S.%f")) == expected


def test_custom_config_override_passed_positionally():
    """The runtime calls run(params, state, custom_config); the override must be honoured."""
    value = (now() - timedelta(hours=3)).isoformat()
    task = Task({"last_seen": value})
    task.run({}, {}, {"task_delay_threshold": "1h"})
    (fields,) = behind_events(task)
    assert fields["configured_threshold"] == "1h"

    relaxed = Task({"last_seen": (now() - timedelta(days=3)).isoformat()})
    relaxed.run({}, {}, {"task_delay_threshold": "5d"})
    assert not behind_events(relaxed)


def test_custom_config_override_passed_by_keyword():
    task = Task({"last_seen": (now() - timedelta(hours=3)).isoformat()})
    task.run(params={}, state={}, custom_config={"task_delay_threshold": "2H"})
    assert behind_events(task)[0]["configured_threshold"] == "2H"


def test_without_custom_config_the_decorator_default_applies():
    task = Task({"last_seen": (now() - timedelta(hours=3)).isoformat()})
    task.run({}, {})
    assert not behind_events(task)


def test_first_key_behind_is_reported_once():
    old = "2020-01-01T00:00:00Z"
    task = Task({"last_seen": old, "cursor_time": old})
    task.run({}, {}, None)
    assert [fields["field"] for fields in behind_events(task)] == ["last_seen"]


def test_later_key_checked_when_first_is_missing_or_empty():
    task = Task({"last_seen": "", "cursor_time": "2020-01-01T00:00:00Z"})
    task.run({}, {}, None)
    assert [fields["field"] for fields in behind_events(task)] == ["cursor_time"]


@pytest.mark.parametrize("bad", ["not a date", {"nested": 1}, ["2020-01-01"], True, "99999999999999999999999"])
def test_bad_values_are_logged_never_raised(bad):
    task = Task({"last_seen": bad, "cursor_time": "2020-01-01T00:00:00Z"})
    result = task.run({}, {}, None)
    assert result[1]["last_seen"] is bad
    unreadable = [fields for message, fields in task.logger.errors if fields.get("field") == "last_seen"]
    assert unreadable and "normalized_time" not in unreadable[0]
    # one unreadable key does not hide a later one that is behind
    assert [fields["field"] for fields in behind_events(task)] == ["cursor_time"]


@pytest.mark.parametrize("result", [None, ("only", "two"), 42])
def test_unexpected_return_shapes_are_logged_and_returned_unchanged(result):
    class Odd:
        logger = RecordingLogger()

        @monitor_task_delay("last_seen")
        def run(self, params, state, custom_config):
            return result

    odd = Odd()
    assert odd.run({}, {}, {}) is result
    assert len(odd.logger.errors) == 1


def test_non_mapping_state_and_bad_config_are_tolerated():
    task = Task(None)
    task.run({}, {}, "not a dict")
    assert task.logger.errors == []


def test_errors_from_the_task_itself_propagate():
    class Failing:
        logger = RecordingLogger()

        @monitor_task_delay("last_seen")
        def run(self, params, state, custom_config):
            raise RuntimeError("task failed")

    with pytest.raises(RuntimeError, match="task failed"):
        Failing().run({}, {}, {})


def test_plain_stdlib_logger_gets_fields_in_the_text(caplog):
    class StdTask(Task):
        pass

    task = StdTask({"last_seen": "2020-01-01T00:00:00Z"})
    task.logger = logging.getLogger("test.stdlib.task")  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="test.stdlib.task"):
        task.run({}, {}, None)
    (record,) = caplog.records
    assert "field='last_seen'" in record.getMessage()
    assert "has_more_pages=False" in record.getMessage()


def test_logger_that_raises_does_not_reach_the_task(caplog):
    class Exploding:
        def error(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("logger down")

    task = Task({"last_seen": "2020-01-01T00:00:00Z"})
    task.logger = Exploding()  # type: ignore[assignment]
    with caplog.at_level(logging.ERROR, logger="insightconnect_plugin_runtime.telemetry"):
        assert task.run({}, {}, None)[3] == 200
    assert caplog.records


def test_wraps_keeps_the_task_signature_name():
    assert Task.run.__name__ == "run"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2d", timedelta(days=2)),
        ("5days", timedelta(days=5)),
        ("12H", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1w", timedelta(days=2)),
        ("", timedelta(days=2)),
        (None, timedelta(days=2)),
        (3, timedelta(days=2)),
        ("d2", timedelta(days=2)),
    ],
)
def test_threshold_strings(text, expected):
    assert _tracing_delay.parse_threshold(text) == expected
    assert _tracing_delay._parse_duration(text) == expected
