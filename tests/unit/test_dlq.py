import base64
import datetime as dt

import orjson
import pytest

from streams.dlq import dead_letter_value
from streams.events import InvalidEvent


def decode(value: bytes) -> dict:
    return orjson.loads(value)


@pytest.mark.parametrize(
    "original",
    [
        b'{"type": "opened"',
        # Not UTF-8, so the record could not carry it as JSON text.
        b"\xff\xfe\x00binary\x80",
        b"",
        '{"name": "Café ☕"}'.encode(),
    ],
)
def test_dead_letter_round_trips_bytes(original: bytes):
    error = InvalidEvent("invalid_json", "the message value is not valid JSON")

    record = decode(dead_letter_value(original, error, "email-events", 3, 1042))

    assert base64.b64decode(record["value_base64"], validate=True) == original


def test_dead_letter_null_value():
    error = InvalidEvent("null_value", "the message has no value")

    record = decode(dead_letter_value(None, error, "email-events", 0, 7))

    assert record["value_base64"] is None


def test_dead_letter_reason_and_message():
    error = InvalidEvent("missing_field", "required field 'campaign_id' is missing")

    record = decode(dead_letter_value(b"{}", error, "email-events", 2, 99))

    assert record["reason"] == "missing_field"
    assert record["message"] == "required field 'campaign_id' is missing"


def test_dead_letter_source():
    error = InvalidEvent("unknown_type", "unknown event type 'read'")

    record = decode(dead_letter_value(b"{}", error, "email-events", 2, 99))

    assert record["source"] == {"topic": "email-events", "partition": 2, "offset": 99}


def test_dead_letter_rejected_at_is_utc_now():
    error = InvalidEvent("invalid_time", "occurred_at is not an ISO 8601 time")
    before = dt.datetime.now(dt.timezone.utc)

    record = decode(dead_letter_value(b"{}", error, "email-events", 0, 0))

    after = dt.datetime.now(dt.timezone.utc)
    rejected_at = record["rejected_at"]
    assert rejected_at.endswith("Z")
    moment = dt.datetime.fromisoformat(rejected_at.replace("Z", "+00:00"))
    # The record keeps milliseconds, so it may fall up to 1 ms before ``before``.
    assert before - dt.timedelta(milliseconds=1) <= moment <= after
