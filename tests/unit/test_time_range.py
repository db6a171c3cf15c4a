import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from analytics.time_range import InvalidTimeRange, parse_time_range

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 3, 15, 12, 30, tzinfo=UTC)
# 2024-01-01T00:00:00Z is 19723 days after the epoch: 19723 * 86400 = 1_704_067_200 seconds.
NEW_YEAR_2024_MS = 1_704_067_200_000
START_BEFORE_END = "Start date must be before end date"


@pytest.fixture(params=["America/Los_Angeles", "Asia/Kolkata"])
def host_time_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local time zone set through TZ."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", request.param)
        time.tzset()
        yield request.param
    # The context has restored TZ, and tzset makes the C library read it again.
    time.tzset()


def invalid_message(value: Any) -> str:
    with pytest.raises(InvalidTimeRange) as caught:
        parse_time_range(value, now=NOW)
    return str(caught.value)


# Durations


@pytest.mark.parametrize(
    ("value", "hours"),
    [
        ("24h", 24),
        ("1h", 1),
        ("7d", 7 * 24),
        ("30d", 30 * 24),
        ("90d", 90 * 24),
        ("4w", 4 * 7 * 24),
        ("1w", 7 * 24),
    ],
)
def test_duration_ends_now(value: str, hours: int):
    time_range = parse_time_range(value, now=NOW)

    assert time_range.end == NOW
    assert time_range.start == NOW - dt.timedelta(hours=hours)
    assert time_range.label == value


def test_duration_case_and_spaces():
    time_range = parse_time_range(" 7D ", now=NOW)

    assert time_range.start == NOW - dt.timedelta(days=7)
    assert time_range.label == "7d"


def test_duration_defaults_to_current_time():
    before = dt.datetime.now(UTC)
    time_range = parse_time_range("24h")
    after = dt.datetime.now(UTC)

    assert before <= time_range.end <= after
    assert time_range.end - time_range.start == dt.timedelta(hours=24)


def test_duration_clamped_at_epoch():
    # 99999 weeks is about 1917 years, so the start would fall before 1970.
    time_range = parse_time_range("99999w", now=NOW)

    assert time_range.start_ms == 0
    assert time_range.end == NOW


def test_duration_millis():
    time_range = parse_time_range("24h", now=dt.datetime(2024, 1, 2, tzinfo=UTC))

    assert time_range.start_ms == NEW_YEAR_2024_MS
    assert time_range.end_ms == NEW_YEAR_2024_MS + 86_400_000


@pytest.mark.parametrize("value", ["999999d", "999999w"])
def test_duration_too_long(value: str):
    # Expected: clamped at the epoch like "99999w". An OverflowError becomes a 500 in the API.
    time_range = parse_time_range(value, now=NOW)

    assert time_range.start_ms == 0


# "all" and a missing range


@pytest.mark.parametrize("value", [None, "all", "ALL", " all "])
def test_all_is_unbounded(value: Any):
    time_range = parse_time_range(value, now=NOW)

    assert time_range.label == "all"
    assert time_range.start_ms == 0
    # Later than any real send time.
    assert time_range.end > dt.datetime(2200, 1, 1, tzinfo=UTC)
    assert time_range.as_dict() == {"label": "all", "start": None, "end": None}


# Start and end


def test_custom_range_utc():
    time_range = parse_time_range({"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z"}, now=NOW)

    assert time_range.start == dt.datetime(2024, 1, 1, tzinfo=UTC)
    assert time_range.end == dt.datetime(2024, 1, 2, tzinfo=UTC)
    assert time_range.label == "custom"
    assert time_range.start_ms == NEW_YEAR_2024_MS
    assert time_range.end_ms == NEW_YEAR_2024_MS + 86_400_000


def test_custom_range_offsets():
    # 02:00 at +02:00 is midnight UTC. 19:00 at -05:00 on Jan 1 is midnight UTC on Jan 2.
    value = {"start": "2024-01-01T02:00:00+02:00", "end": "2024-01-01T19:00:00-05:00"}

    time_range = parse_time_range(value, now=NOW)

    assert time_range.start_ms == NEW_YEAR_2024_MS
    assert time_range.end_ms == NEW_YEAR_2024_MS + 86_400_000


def test_custom_range_as_dict():
    value = {"start": "2024-01-01T02:00:00+02:00", "end": "2024-01-02T00:00:00.250Z"}

    time_range = parse_time_range(value, now=NOW)

    assert time_range.as_dict() == {
        "label": "custom",
        "start": "2024-01-01T00:00:00.000Z",
        "end": "2024-01-02T00:00:00.250Z",
    }


def test_custom_range_naive_is_utc(host_time_zone: str):
    time_range = parse_time_range({"start": "2024-01-01T00:00:00", "end": "2024-01-02"}, now=NOW)

    assert time_range.start_ms == NEW_YEAR_2024_MS
    assert time_range.end_ms == NEW_YEAR_2024_MS + 86_400_000


def test_custom_range_one_millisecond():
    value = {"start": "2024-01-01T00:00:00.000Z", "end": "2024-01-01T00:00:00.001Z"}

    time_range = parse_time_range(value, now=NOW)

    assert time_range.end_ms - time_range.start_ms == 1


@pytest.mark.parametrize(
    "value",
    [
        {"start": "2024-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        # The same instant written in two zones.
        {"start": "2024-01-01T02:00:00+02:00", "end": "2024-01-01T00:00:00Z"},
        {"start": "2024-01-02T00:00:00Z", "end": "2024-01-01T00:00:00Z"},
        {"start": "2024-01-01T00:00:00.001Z", "end": "2024-01-01T00:00:00Z"},
    ],
)
def test_start_not_before_end(value: dict[str, str]):
    assert invalid_message(value) == START_BEFORE_END


# Unreadable ranges


@pytest.mark.parametrize(
    "value",
    [
        "7x", "0d", "0h", "", "   ", "d", "7", "-7d", "7.5d", "7 days", "last week", "1234567d",
        5, 7.0, [], ["7d"], True,
    ],
)
def test_unreadable_lists_accepted_forms(value: Any):
    message = invalid_message(value)

    assert '"24h"' in message
    assert '"7d"' in message
    assert '"all"' in message
    assert "start" in message
    assert "end" in message


def test_unreadable_message_shows_value():
    assert "'7x'" in invalid_message("7x")


@pytest.mark.parametrize(
    "value",
    [
        {"start": "nope", "end": "2024-01-02T00:00:00Z"},
        {"start": "2024-01-01T00:00:00Z", "end": "tomorrow"},
        {"start": "2024-01-01T00:00:00Z"},
        {"end": "2024-01-01T00:00:00Z"},
        {},
        {"start": 1704067200, "end": 1704153600},
        {"start": "", "end": "2024-01-01T00:00:00Z"},
    ],
)
def test_unreadable_instant(value: dict[str, Any]):
    assert "ISO 8601" in invalid_message(value)


def test_unreadable_instant_names_field():
    assert "time_range.end" in invalid_message({"start": "2024-01-01T00:00:00Z", "end": "tomorrow"})


def test_unknown_range_field():
    message = invalid_message({"start": "2024-01-01T00:00:00Z", "end": "2024-01-02T00:00:00Z", "tz": "UTC"})

    assert "tz" in message
    assert "accepted" in message


@pytest.mark.parametrize(
    ("value", "instant"),
    [
        ({"start": "1969-12-31T23:59:59Z", "end": "2024-01-01T00:00:00Z"}, "1969-12-31T23:59:59Z"),
        ({"start": "2024-01-01T00:00:00Z", "end": "2300-01-01T00:00:00Z"}, "2300-01-01T00:00:00Z"),
    ],
)
def test_instant_outside_supported_years(value: dict[str, str], instant: str):
    message = invalid_message(value)

    assert "1970" in message
    assert instant in message
