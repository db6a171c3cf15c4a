"""Tests of the Postmark adapter, on the shared webhook fixtures and on built records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.adapters import MetadataKeys
from streams.adapters.postmark import parse
from streams.events import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "providers" / "postmark"
KEYS = MetadataKeys()
IDS = {"campaign_id": "c1", "workspace_id": "w1"}
CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/35.0.1916.153 Safari/537.36"
)
MESSAGE_ID = "00000000-0000-0000-0000-000000000000"


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared provider fixture {path} is missing")
    return json.loads(path.read_text())


def with_ids(record: dict[str, Any]) -> dict[str, Any]:
    record.setdefault("Metadata", {}).update(IDS)
    return record


def bounce_record(bounce_type: str, **fields: Any) -> dict[str, Any]:
    """Build a Bounce record in the documented shape, with our Metadata."""
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Email": "reader@example.org",
        "BouncedAt": "2024-03-05T09:15:44Z",
        "Metadata": dict(IDS),
        **fields,
    }


def subscription_change(**fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ChangedAt": "2024-03-07T18:30:00Z",
        "Recipient": "reader@example.org",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Metadata": dict(IDS),
        **fields,
    }


def reject(payload: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(payload, KEYS)
    return caught.value


# Expected times: 2022-09-02T00:00:00Z is 1662076800 s (19237 days after 1970-01-01);
# the time of day is added in seconds, then times 1000 plus the truncated milliseconds.
FIXTURE_CASES = [
    (
        "delivery.json",
        {
            "type": "delivered",
            "occurred_at_ms": 1662119367000,  # 11:49:27 adds 42567 s
            "recipient": "john@example.com",
            "event_id": "",
        },
    ),
    (
        "bounce.json",
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at_ms": 1662128959123,  # 14:29:19.1234567 adds 52159 s and 123 ms
            "recipient": "john@example.com",
            "event_id": "42",
        },
    ),
    (
        "spam_complaint.json",
        {
            "type": "spam_complaint",
            "occurred_at_ms": 1662128997123,  # 14:29:57.123456 adds 52197 s and 123 ms
            "recipient": "john@example.com",
            "event_id": "42",
        },
    ),
    (
        "open.json",
        {
            "type": "opened",
            "occurred_at_ms": 1662129047000,  # 14:30:47 adds 52247 s
            "recipient": "john@example.com",
            "user_agent": CHROME_MAC,
            "is_machine_open": False,
        },
    ),
    (
        "link_click.json",
        {
            "type": "clicked",
            "occurred_at_ms": 1662129069000,  # 14:31:09 adds 52269 s
            "url": "https://example.com",
            "user_agent": CHROME_MAC,
        },
    ),
]


@pytest.mark.parametrize(("name", "expected"), FIXTURE_CASES, ids=[case[0] for case in FIXTURE_CASES])
def test_fixture_maps(name: str, expected: dict[str, Any]):
    events = parse(with_ids(load_fixture(name)), KEYS)

    assert len(events) == 1
    event = events[0]
    for field, value in expected.items():
        assert getattr(event, field) == value, field
    assert event.message_id == MESSAGE_ID
    assert event.campaign_id == "c1"
    assert event.workspace_id == "w1"
    assert event.provider == "postmark"


@pytest.mark.parametrize("name", [case[0] for case in FIXTURE_CASES])
def test_fixture_without_metadata_rejected(name: str):
    error = reject(load_fixture(name))

    assert error.reason == "missing_field"
    assert error.message == "postmark event: required Metadata key 'campaign_id' is missing"


def test_hard_bounce_suppression_skipped():
    # The fixture suppresses the address after a hard bounce, which the Bounce record reports.
    assert parse(with_ids(load_fixture("subscription_change.json")), KEYS) == []


def test_recipient_manual_suppression_unsubscribes():
    events = parse(subscription_change(), KEYS)

    assert len(events) == 1
    assert events[0].type == "unsubscribed"
    # 2024-03-07T00:00:00Z is 1709769600 s; 18:30:00 adds 66600 s.
    assert events[0].occurred_at_ms == 1709836200000


def test_reactivation_skipped():
    assert parse(subscription_change(SuppressSending=False), KEYS) == []


def test_customer_suppression_skipped():
    assert parse(subscription_change(Origin="Customer", MessageID=None), KEYS) == []


@pytest.mark.parametrize(
    ("bounce_type", "expected_type", "expected_class"),
    [
        ("HardBounce", "bounced", "hard"),
        ("BadEmailAddress", "bounced", "hard"),
        ("SoftBounce", "bounced", "soft"),
        ("DnsError", "bounced", "soft"),
        ("Blocked", "bounced", "soft"),
        ("Unknown", "bounced", "undetermined"),
        ("SMTPApiError", "bounced", "undetermined"),
        ("Transient", "deferred", None),
        ("Unsubscribe", "unsubscribed", None),
        ("SpamComplaint", "spam_complaint", None),
    ],
)
def test_bounce_type_mapping(bounce_type: str, expected_type: str, expected_class: str | None):
    events = parse(bounce_record(bounce_type), KEYS)

    assert len(events) == 1
    assert events[0].type == expected_type
    assert events[0].bounce_type == expected_class


@pytest.mark.parametrize(
    "bounce_type", ["AutoResponder", "AddressChange", "Subscribe", "TemplateRenderingFailed"]
)
def test_bounce_without_meaning_skipped(bounce_type: str):
    assert parse(bounce_record(bounce_type), KEYS) == []


def test_bounce_type_not_text():
    error = reject(bounce_record(1))  # type: ignore[arg-type]

    assert error.reason == "invalid_field"
    assert error.message == "postmark event: Type must be a string, got number"


def test_bounce_id_is_event_id():
    events = parse(bounce_record("HardBounce"), KEYS)

    assert events[0].event_id == "4323372036854775807"


def test_missing_message_id():
    error = reject(bounce_record("HardBounce", MessageID=None))

    assert error.reason == "missing_field"
    assert error.message == "postmark event: required field 'MessageID' is missing"


def test_missing_time_names_field():
    error = reject(bounce_record("HardBounce", BouncedAt=""))

    assert error.reason == "missing_field"
    assert error.message == "postmark event: required field 'BouncedAt' is missing"


def test_missing_workspace_id():
    error = reject(bounce_record("HardBounce", Metadata={"campaign_id": "c1"}))

    assert error.reason == "missing_field"
    assert error.message == "postmark event: required Metadata key 'workspace_id' is missing"


def test_unknown_record_type_rejected():
    error = reject({"RecordType": "Inbound", "MessageID": MESSAGE_ID})

    assert error.reason == "unknown_type"
    assert error.message == "postmark event: unknown Postmark RecordType 'Inbound'"


def test_missing_record_type():
    error = reject({"MessageID": MESSAGE_ID})

    assert error.reason == "missing_field"
    assert "'RecordType'" in error.message


def test_array_payload_rejected():
    assert reject([bounce_record("HardBounce")]).reason == "invalid_payload"
