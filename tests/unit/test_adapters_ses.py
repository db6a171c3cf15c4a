"""Tests of the Amazon SES adapter on event-publishing records, raw and SNS-wrapped.

The records in tests/fixtures/ses follow the documented SES event-publishing
format, with made-up ids and times, and tag every message with
campaign_id "spring-sale" and workspace_id "acme".
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from streams.adapters import MetadataKeys
from streams.adapters.ses import parse
from streams.events import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"
KEYS = MetadataKeys()
MESSAGE_ID = "0102018e0f1a2b3c-7d4e5f60-1a2b-4c3d-9e8f-0a1b2c3d4e5f-000000"
BOUNCE_MESSAGE_ID = "0102018e0f1a2b3d-1b2c3d4e-5f60-4a7b-8c9d-e0f1a2b3c4d5-000000"
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/122.0.0.0 Safari/537.36"
)


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def wrap_in_sns(record: dict[str, Any], message_id: str = "sns-1") -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": message_id, "Message": json.dumps(record)}


def reject(payload: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(payload, KEYS)
    return caught.value


# Expected times: 2024-03-05T00:00:00Z is 1709596800 s (1704067200 s for 2024-01-01
# plus 64 days); the time of day is added in seconds, then times 1000 plus the
# milliseconds.
RECORD_CASES = [
    (
        "send.json",
        {
            "type": "sent",
            "occurred_at_ms": 1709630142318,  # mail.timestamp 09:15:42.318 adds 33342 s
            "message_id": MESSAGE_ID,
            "recipient": "reader@example.org",
            "event_id": "",
        },
    ),
    (
        "delivery.json",
        {
            "type": "delivered",
            "occurred_at_ms": 1709630143902,  # 09:15:43.902 adds 33343 s
            "message_id": MESSAGE_ID,
            "recipient": "reader@example.org",
        },
    ),
    (
        "delivery_delay.json",
        {
            "type": "deferred",
            "bounce_type": None,
            "occurred_at_ms": 1709630710004,  # 09:25:10.004 adds 33910 s
            "message_id": MESSAGE_ID,
        },
    ),
    (
        "bounce_permanent.json",
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at_ms": 1709630144120,  # 09:15:44.120 adds 33344 s
            "message_id": BOUNCE_MESSAGE_ID,
            "recipient": "gone@example.org",
            "event_id": "0102018e0f1a3f00-permanent-bounce-feedback-000000",
        },
    ),
    (
        "bounce_transient.json",
        {
            "type": "bounced",
            "bounce_type": "soft",
            "occurred_at_ms": 1709637344500,  # 11:15:44.500 adds 40544 s
            "message_id": BOUNCE_MESSAGE_ID,
            "event_id": "0102018e0f1a4f00-transient-bounce-feedback-000000",
        },
    ),
    (
        "complaint.json",
        {
            "type": "spam_complaint",
            # 2024-03-06 is one day later, 1709683200 s; 07:02:13.250 adds 25333 s.
            "occurred_at_ms": 1709708533250,
            "message_id": MESSAGE_ID,
            "recipient": "reader@example.org",
            "event_id": "0102018e0f1a5f00-complaint-feedback-000000",
        },
    ),
    (
        "open.json",
        {
            "type": "opened",
            "occurred_at_ms": 1709632865777,  # 10:01:05.777 adds 36065 s
            "user_agent": CHROME_WINDOWS,
            "is_machine_open": False,
        },
    ),
    (
        "click.json",
        {
            "type": "clicked",
            "occurred_at_ms": 1709632951045,  # 10:02:31.045 adds 36151 s
            "url": "https://shop.example.com/spring?utm_source=newsletter",
            "user_agent": CHROME_WINDOWS,
        },
    ),
    (
        "subscription.json",
        {
            "type": "unsubscribed",
            # 2024-03-07 is two days later, 1709769600 s; 18:30:00 adds 66600 s.
            "occurred_at_ms": 1709836200000,
            "message_id": MESSAGE_ID,
        },
    ),
    (
        "reject.json",
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at_ms": 1709630142318,  # mail.timestamp, as for send.json
        },
    ),
]
RECORD_NAMES = [case[0] for case in RECORD_CASES]


def check_event(events: list[Any], expected: dict[str, Any]) -> None:
    assert len(events) == 1
    event = events[0]
    for field, value in expected.items():
        assert getattr(event, field) == value, field
    assert event.campaign_id == "spring-sale"
    assert event.workspace_id == "acme"
    assert event.provider == "ses"


@pytest.mark.parametrize(("name", "expected"), RECORD_CASES, ids=RECORD_NAMES)
def test_raw_record_maps(name: str, expected: dict[str, Any]):
    check_event(parse(load_fixture(name), KEYS), expected)


@pytest.mark.parametrize(("name", "expected"), RECORD_CASES, ids=RECORD_NAMES)
def test_sns_wrapped_record_maps(name: str, expected: dict[str, Any]):
    events = parse(wrap_in_sns(load_fixture(name)), KEYS)

    # A bounce or complaint keeps its feedbackId; other events take the SNS MessageId.
    expected = {**expected, "event_id": expected.get("event_id") or "sns-1"}
    check_event(events, expected)


def test_sns_bounce_fixture():
    events = parse(load_fixture("sns_bounce_permanent.json"), KEYS)

    check_event(
        events,
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at_ms": 1709630144120,
            "message_id": BOUNCE_MESSAGE_ID,
            "event_id": "0102018e0f1a3f00-permanent-bounce-feedback-000000",
        },
    )


def test_sns_open_fixture():
    events = parse(load_fixture("sns_open.json"), KEYS)

    check_event(
        events,
        {
            "type": "opened",
            "occurred_at_ms": 1709632865777,
            "message_id": MESSAGE_ID,
            "event_id": "7b2e1d3f-4c5e-6f70-9a8b-1d2e3f4a5b6c",
            "user_agent": CHROME_WINDOWS,
        },
    )


def test_sns_subscription_confirmation_skipped():
    assert parse(load_fixture("sns_subscription_confirmation.json"), KEYS) == []


def test_rendering_failure_skipped():
    assert parse(load_fixture("rendering_failure.json"), KEYS) == []


def test_undetermined_bounce():
    record = load_fixture("bounce_permanent.json")
    record["bounce"]["bounceType"] = "Undetermined"

    assert parse(record, KEYS)[0].bounce_type == "undetermined"


def test_not_spam_feedback_skipped():
    record = load_fixture("complaint.json")
    record["complaint"]["complaintFeedbackType"] = "not-spam"

    assert parse(record, KEYS) == []


def test_resubscribe_skipped():
    record = load_fixture("subscription.json")
    subscription = record["subscription"]
    subscription["oldTopicPreferences"], subscription["newTopicPreferences"] = (
        subscription["newTopicPreferences"],
        subscription["oldTopicPreferences"],
    )

    assert parse(record, KEYS) == []


def test_topic_opt_out_unsubscribes():
    record = load_fixture("subscription.json")
    record["subscription"]["newTopicPreferences"]["unsubscribeAll"] = False

    assert parse(record, KEYS)[0].type == "unsubscribed"


def test_notification_type_accepted():
    record = load_fixture("delivery.json")
    record["notificationType"] = record.pop("eventType")

    assert parse(record, KEYS)[0].type == "delivered"


def test_missing_tags_rejected():
    record = load_fixture("delivery.json")
    del record["mail"]["tags"]

    error = reject(record)

    assert error.reason == "missing_field"
    assert error.message == "ses event: required message tag 'campaign_id' is missing"


def test_missing_workspace_tag_rejected():
    record = load_fixture("open.json")
    del record["mail"]["tags"]["workspace_id"]

    error = reject(wrap_in_sns(record))

    assert error.reason == "missing_field"
    assert error.message == "ses event: required message tag 'workspace_id' is missing"


def test_missing_message_id():
    record = load_fixture("delivery.json")
    del record["mail"]["messageId"]

    error = reject(record)

    assert error.reason == "missing_field"
    assert error.message == "ses event: mail: required field 'messageId' is missing"


def test_missing_event_time():
    record = load_fixture("open.json")
    del record["open"]["timestamp"]

    error = reject(record)

    assert error.reason == "missing_field"
    assert error.message == "ses event: open: required field 'timestamp' is missing"


def test_missing_mail_object():
    record = load_fixture("open.json")
    del record["mail"]

    assert reject(record).reason == "invalid_payload"


def test_unknown_event_type_rejected():
    record = copy.deepcopy(load_fixture("send.json"))
    record["eventType"] = "Forward"

    error = reject(record)

    assert error.reason == "unknown_type"
    assert error.message == "ses event: unknown SES eventType 'Forward'"


def test_sns_message_not_json():
    error = reject({"Type": "Notification", "MessageId": "sns-1", "Message": "{broken"})

    assert error.reason == "invalid_payload"
    assert "'Message' is not valid JSON" in error.message


def test_sns_message_not_text():
    error = reject({"Type": "Notification", "MessageId": "sns-1", "Message": {"eventType": "Send"}})

    assert error.reason == "invalid_payload"


def test_array_payload_rejected():
    assert reject([load_fixture("send.json")]).reason == "invalid_payload"
