import time
from collections.abc import Iterator
from typing import Any

import pytest

from streams.events import EmailEvent, InvalidEvent, parse_canonical, parse_timestamp

# 2024-01-01T00:00:00Z is 19723 days after the epoch: 19723 * 86400 = 1_704_067_200 seconds.
NEW_YEAR_2024_MS = 1_704_067_200_000


def canonical(**fields: Any) -> dict[str, Any]:
    """Build a valid canonical event object. Keyword arguments replace or add fields."""
    event: dict[str, Any] = {
        "event_id": "evt-1",
        "type": "opened",
        "occurred_at": "2024-01-01T00:00:00Z",
        "workspace_id": "ws-1",
        "campaign_id": "cmp-1",
        "message_id": "msg-1",
    }
    event.update(fields)
    return event


def reject_reason(data: Any) -> str:
    with pytest.raises(InvalidEvent) as caught:
        parse_canonical(data)
    return caught.value.reason


@pytest.fixture(params=["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Kiritimati"])
def host_time_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local time zone set through TZ."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", request.param)
        time.tzset()
        yield request.param
    # The context has restored TZ, and tzset makes the C library read it again.
    time.tzset()


# parse_canonical


def test_canonical_minimal_event():
    event = parse_canonical(canonical())

    assert isinstance(event, EmailEvent)
    assert event.type == "opened"
    assert event.occurred_at_ms == NEW_YEAR_2024_MS
    assert event.workspace_id == "ws-1"
    assert event.campaign_id == "cmp-1"
    assert event.message_id == "msg-1"
    assert event.event_id == "evt-1"
    assert event.recipient is None
    assert event.bounce_type is None
    assert event.url is None
    assert event.user_agent is None
    assert event.is_machine_open is False
    assert event.is_bot_click is False
    assert event.provider == ""


def test_canonical_optional_fields():
    event = parse_canonical(
        canonical(
            type="clicked",
            recipient="Ana@Example.com",
            url="https://shop.example/p/1",
            user_agent="curl/8.5.0",
            is_machine_open=False,
            is_bot_click=True,
            provider="sendgrid",
        )
    )

    assert event.type == "clicked"
    assert event.recipient == "Ana@Example.com"
    assert event.url == "https://shop.example/p/1"
    assert event.user_agent == "curl/8.5.0"
    assert event.is_bot_click is True
    assert event.is_machine_open is False
    assert event.provider == "sendgrid"


def test_canonical_bounce_type():
    event = parse_canonical(canonical(type="bounced", bounce_type="hard"))

    assert event.bounce_type == "hard"


def test_canonical_every_event_type():
    types = [
        "sent", "delivered", "deferred", "bounced", "opened",
        "clicked", "replied", "spam_complaint", "unsubscribed",
    ]
    for event_type in types:
        assert parse_canonical(canonical(type=event_type)).type == event_type


def test_canonical_ignores_unknown_fields():
    event = parse_canonical(canonical(campaign_name="Spring sale", tags=["a", "b"], nested={"x": 1}))

    assert event == parse_canonical(canonical())


def test_canonical_provider_argument_wins():
    event = parse_canonical(canonical(provider="mailgun"), provider="postmark")

    assert event.provider == "postmark"


def test_canonical_numeric_ids_become_text():
    # JSON producers often send numeric ids, so they are kept as their decimal text.
    event = parse_canonical(canonical(message_id=12345, event_id=678))

    assert event.message_id == "12345"
    assert event.event_id == "678"


@pytest.mark.parametrize("data", [[], "an event", 42, None, True])
def test_canonical_not_an_object(data: Any):
    assert reject_reason(data) == "not_an_object"


@pytest.mark.parametrize("field", ["type", "occurred_at", "workspace_id", "campaign_id", "message_id"])
def test_canonical_missing_required_field(field: str):
    data = canonical()
    del data[field]

    assert reject_reason(data) == "missing_field"


@pytest.mark.parametrize("field", ["type", "occurred_at", "workspace_id", "campaign_id", "message_id"])
@pytest.mark.parametrize("empty", [None, ""])
def test_canonical_empty_required_field(field: str, empty: Any):
    assert reject_reason(canonical(**{field: empty})) == "missing_field"


def test_canonical_missing_field_message_names_field():
    data = canonical()
    del data["campaign_id"]

    with pytest.raises(InvalidEvent, match="campaign_id"):
        parse_canonical(data)


@pytest.mark.parametrize("field", ["workspace_id", "campaign_id", "message_id"])
@pytest.mark.parametrize("value", [["a"], {"a": 1}, 1.5, True])
def test_canonical_id_wrong_type(field: str, value: Any):
    assert reject_reason(canonical(**{field: value})) == "invalid_field"


def test_canonical_id_length_limit():
    # Ids of up to 512 characters are accepted, longer ones rejected.
    assert parse_canonical(canonical(message_id="m" * 512)).message_id == "m" * 512
    assert reject_reason(canonical(message_id="m" * 513)) == "invalid_field"


@pytest.mark.parametrize("field", ["recipient", "url", "user_agent", "bounce_type", "provider"])
@pytest.mark.parametrize("value", [5, ["x"], {"x": 1}, True])
def test_canonical_optional_text_wrong_type(field: str, value: Any):
    assert reject_reason(canonical(**{field: value})) == "invalid_field"


@pytest.mark.parametrize("field", ["is_machine_open", "is_bot_click"])
@pytest.mark.parametrize("value", ["true", 1, 0, "yes", []])
def test_canonical_flag_wrong_type(field: str, value: Any):
    assert reject_reason(canonical(**{field: value})) == "invalid_field"


def test_canonical_unknown_bounce_type():
    assert reject_reason(canonical(type="bounced", bounce_type="permanent")) == "invalid_field"


@pytest.mark.parametrize("event_type", ["read", "OPENED", "open"])
def test_canonical_unknown_type(event_type: Any):
    assert reject_reason(canonical(type=event_type)) == "unknown_type"


def test_canonical_unknown_type_message_lists_types():
    with pytest.raises(InvalidEvent) as caught:
        parse_canonical(canonical(type="read"))

    assert "'read'" in caught.value.message
    assert "opened" in caught.value.message
    assert "spam_complaint" in caught.value.message


@pytest.mark.parametrize("event_type", [["opened"], {"name": "opened"}, 5])
def test_canonical_type_not_string(event_type: Any):
    assert reject_reason(canonical(type=event_type)) == "invalid_field"


@pytest.mark.parametrize("occurred_at", ["yesterday", [], {"t": 1}, True, -5])
def test_canonical_invalid_time(occurred_at: Any):
    assert reject_reason(canonical(occurred_at=occurred_at)) == "invalid_time"


def test_canonical_reject_carries_message():
    with pytest.raises(InvalidEvent) as caught:
        parse_canonical(canonical(occurred_at="yesterday"))

    assert caught.value.message == str(caught.value)
    assert "yesterday" in caught.value.message


# parse_timestamp


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00z", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00+00:00", NEW_YEAR_2024_MS),
        # 02:00 at +02:00 and 19:00 the day before at -05:00 are both midnight UTC.
        ("2024-01-01T02:00:00+02:00", NEW_YEAR_2024_MS),
        ("2023-12-31T19:00:00-05:00", NEW_YEAR_2024_MS),
        ("2024-01-01T05:30:00+05:30", NEW_YEAR_2024_MS),
        ("2024-01-01T00:00:00.123Z", NEW_YEAR_2024_MS + 123),
        ("  2024-01-01T00:00:00Z  ", NEW_YEAR_2024_MS),
    ],
)
def test_timestamp_iso(value: str, expected: int):
    assert parse_timestamp(value) == expected


def test_timestamp_iso_truncates_microseconds():
    # .123999 s is 123.999 ms, truncated rather than rounded to 124.
    assert parse_timestamp("2024-01-01T00:00:00.123999Z") == NEW_YEAR_2024_MS + 123


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00", "2024-01-01 00:00:00", "2024-01-01"])
def test_timestamp_naive_is_utc(value: str, host_time_zone: str):
    assert parse_timestamp(value) == NEW_YEAR_2024_MS


def test_timestamp_offset_ignores_host_zone(host_time_zone: str):
    assert parse_timestamp("2024-01-01T02:00:00+02:00") == NEW_YEAR_2024_MS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_704_067_200, NEW_YEAR_2024_MS),
        (1_704_067_200_000, NEW_YEAR_2024_MS),
        (1_704_067_200.5, NEW_YEAR_2024_MS + 500),
        (1_704_067_200.25, NEW_YEAR_2024_MS + 250),
        (1_704_067_200_123.0, NEW_YEAR_2024_MS + 123),
        (0, 0),
        ("1704067200", NEW_YEAR_2024_MS),
        ("1704067200000", NEW_YEAR_2024_MS),
        ("1704067200.25", NEW_YEAR_2024_MS + 250),
        (" 1704067200 ", NEW_YEAR_2024_MS),
    ],
)
def test_timestamp_epoch(value: Any, expected: int):
    assert parse_timestamp(value) == expected


def test_timestamp_epoch_unit_boundary():
    # Values from 1e11 on are milliseconds (1e11 ms is March 1973), smaller ones seconds.
    assert parse_timestamp(100_000_000_000) == 100_000_000_000
    assert parse_timestamp(99_999_999) == 99_999_999_000


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -1.5,
        "-1704067200",
        float("nan"),
        float("inf"),
        float("-inf"),
        "NaN",
        "inf",
        "-Infinity",
        True,
        False,
        None,
        [],
        {},
        b"1704067200",
        "",
        "   ",
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024-01-01T25:00:00Z",
        "01/02/2024",
        "0x10",
    ],
)
def test_timestamp_invalid(value: Any):
    with pytest.raises(InvalidEvent) as caught:
        parse_timestamp(value)

    assert caught.value.reason == "invalid_time"


def test_timestamp_message_names_field():
    with pytest.raises(InvalidEvent, match="updated_at"):
        parse_timestamp("soon", "updated_at")


def test_timestamp_epoch_beyond_int64():
    with pytest.raises(InvalidEvent) as caught:
        parse_timestamp(1e19)

    assert caught.value.reason == "invalid_time"


def test_timestamp_iso_before_epoch():
    with pytest.raises(InvalidEvent) as caught:
        parse_timestamp("1969-12-31T23:59:59Z")

    assert caught.value.reason == "invalid_time"
