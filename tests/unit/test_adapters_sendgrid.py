"""Tests of the SendGrid adapter, on the shared webhook fixture and on built batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.adapters import MetadataKeys
from streams.adapters.sendgrid import parse
from streams.events import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "providers" / "sendgrid"
KEYS = MetadataKeys()
IDS = {"campaign_id": "c1", "workspace_id": "w1"}


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared provider fixture {path} is missing")
    return json.loads(path.read_text())


def sendgrid_event(name: str, **fields: Any) -> dict[str, Any]:
    """Build one event in the documented Event Webhook shape, with our custom arguments."""
    return {
        "email": "reader@example.org",
        "timestamp": 1709632865,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": name,
        "sg_event_id": f"event-{name}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        **IDS,
        **fields,
    }


def reject(payload: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(payload, KEYS)
    return caught.value


def test_dropped_fixture():
    batch = load_fixture("dropped.json")
    for event in batch:
        event.update(IDS)

    events = parse(batch, KEYS)

    assert len(events) == 1
    event = events[0]
    assert event.type == "bounced"
    assert event.bounce_type == "hard"
    # timestamp 1600112492 is epoch seconds; times 1000 gives milliseconds.
    assert event.occurred_at_ms == 1600112492000
    assert event.message_id == "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0"
    assert event.event_id == "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert event.recipient == "hello@world.com"
    assert event.campaign_id == "c1"
    assert event.workspace_id == "w1"
    assert event.provider == "sendgrid"
    assert event.url is None
    assert event.is_machine_open is False


def test_fixture_without_metadata_rejected():
    error = reject(load_fixture("dropped.json"))

    assert error.reason == "missing_field"
    assert "custom argument 'campaign_id'" in error.message
    assert error.message.startswith("sendgrid event 0: ")


@pytest.mark.parametrize(
    ("name", "expected_type"),
    [
        ("processed", "sent"),
        ("delivered", "delivered"),
        ("deferred", "deferred"),
        ("bounce", "bounced"),
        ("dropped", "bounced"),
        ("open", "opened"),
        ("click", "clicked"),
        ("spamreport", "spam_complaint"),
        ("unsubscribe", "unsubscribed"),
        ("group_unsubscribe", "unsubscribed"),
    ],
)
def test_event_type_mapping(name: str, expected_type: str):
    events = parse([sendgrid_event(name)], KEYS)

    assert [event.type for event in events] == [expected_type]


@pytest.mark.parametrize("name", ["group_resubscribe", "account_status_change"])
def test_event_without_meaning_skipped(name: str):
    assert parse([sendgrid_event(name)], KEYS) == []


def test_batch_keeps_order_and_skips():
    batch = [sendgrid_event("processed"), sendgrid_event("group_resubscribe"), sendgrid_event("delivered")]

    events = parse(batch, KEYS)

    assert [event.type for event in events] == ["sent", "delivered"]
    assert [event.event_id for event in events] == ["event-processed", "event-delivered"]


def test_empty_batch():
    assert parse([], KEYS) == []


def test_bounce_blocked_is_soft():
    events = parse([sendgrid_event("bounce", type="blocked")], KEYS)

    assert events[0].bounce_type == "soft"


def test_bounce_type_bounce_is_hard():
    events = parse([sendgrid_event("bounce", type="bounce")], KEYS)

    assert events[0].bounce_type == "hard"


def test_machine_open_flag():
    events = parse([sendgrid_event("open", sg_machine_open=True, useragent="Mozilla/5.0")], KEYS)

    assert events[0].is_machine_open is True
    assert events[0].user_agent == "Mozilla/5.0"


def test_human_open_flag():
    events = parse([sendgrid_event("open", sg_machine_open=False)], KEYS)

    assert events[0].is_machine_open is False


def test_click_url_and_user_agent():
    agent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    click = sendgrid_event("click", url="https://shop.example.com/spring", useragent=agent)

    event = parse([click], KEYS)[0]

    assert event.url == "https://shop.example.com/spring"
    assert event.user_agent == agent
    # 1709632865 epoch seconds is 2024-03-05T10:01:05Z; times 1000 gives milliseconds.
    assert event.occurred_at_ms == 1709632865000


def test_invalid_element_rejects_batch():
    broken = sendgrid_event("delivered")
    del broken["sg_message_id"]

    error = reject([sendgrid_event("processed"), broken])

    assert error.reason == "missing_field"
    assert error.message == "sendgrid event 1: required field 'sg_message_id' is missing"


def test_missing_timestamp():
    broken = sendgrid_event("open")
    del broken["timestamp"]

    error = reject([broken])

    assert error.reason == "missing_field"
    assert "'timestamp'" in error.message


def test_invalid_timestamp_names_field():
    error = reject([sendgrid_event("open", timestamp="yesterday")])

    assert error.reason == "invalid_time"
    assert error.message.startswith("sendgrid event 0: timestamp ")


def test_missing_workspace_id():
    broken = sendgrid_event("open")
    del broken["workspace_id"]

    error = reject([broken])

    assert error.reason == "missing_field"
    assert "custom argument 'workspace_id'" in error.message


def test_unknown_event_rejected():
    error = reject([sendgrid_event("processed"), sendgrid_event("forwarded")])

    assert error.reason == "unknown_type"
    assert error.message == "sendgrid event 1: unknown SendGrid event 'forwarded'"


def test_non_object_element():
    error = reject([sendgrid_event("processed"), "delivered"])

    assert error.reason == "invalid_payload"
    assert error.message.startswith("sendgrid event 1: ")


def test_object_payload_rejected():
    error = reject(sendgrid_event("processed"))

    assert error.reason == "invalid_payload"
