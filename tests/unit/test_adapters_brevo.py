"""Tests of the Brevo adapter, on the shared webhook fixtures and on built events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.adapters import MetadataKeys
from streams.adapters.brevo import parse
from streams.events import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "providers" / "brevo"
KEYS = MetadataKeys()
ID_TAGS = ["campaign_id:c1", "workspace_id:w1"]


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared provider fixture {path} is missing")
    return json.loads(path.read_text())


def with_ids(event: dict[str, Any]) -> dict[str, Any]:
    event["tags"] = [*event.get("tags", []), *ID_TAGS]
    return event


def brevo_event(name: str, **fields: Any) -> dict[str, Any]:
    """Build an event in the documented transactional webhook shape, with our tags."""
    return {
        "event": name,
        "email": "reader@example.org",
        "id": 814119,
        "date": "2024-03-05 11:01:05",
        "message-id": "<202403051001.12345678901@smtp-relay.mailin.fr>",
        "ts": 1709632865,
        "ts_event": 1709632865,
        "ts_epoch": 1709632865250,
        "tags": list(ID_TAGS),
        **fields,
    }


def reject(payload: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(payload, KEYS)
    return caught.value


# Expected times come from ts_epoch when present, else from ts_event. ts_epoch is
# epoch milliseconds, except in defered.json, invalid_email.json and error.json,
# where it is epoch seconds. Seconds are multiplied by 1000.
FIXTURE_CASES = [
    ("request.json", {"type": "sent", "occurred_at_ms": 1685538788179}),
    ("delivered.json", {"type": "delivered", "occurred_at_ms": 1685539713018}),
    ("defered.json", {"type": "deferred", "occurred_at_ms": 1604933654000}),
    ("soft_bounce.json", {"type": "bounced", "bounce_type": "soft", "occurred_at_ms": 1604933654000}),
    ("hard_bounce.json", {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1685543827372}),
    ("blocked.json", {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1685541608993}),
    ("invalid_email.json", {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1604933623000}),
    # error.json contains an invalid_email event, despite its name.
    ("error.json", {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1604933623000}),
    (
        "opened.json",
        {"type": "opened", "is_machine_open": False, "url": None, "occurred_at_ms": 1685544309368},
    ),
    ("unique_opened.json", {"type": "opened", "is_machine_open": False, "occurred_at_ms": 1685544532962}),
    ("proxy_open.json", {"type": "opened", "is_machine_open": True, "occurred_at_ms": 1604933654000}),
    ("click.json", {"type": "clicked", "url": "https://www.google.com", "occurred_at_ms": 1685542108462}),
    ("complaint.json", {"type": "spam_complaint", "occurred_at_ms": 1604933654000}),
    ("unsubscribed.json", {"type": "unsubscribed", "occurred_at_ms": 1685541121606}),
]


@pytest.mark.parametrize(("name", "expected"), FIXTURE_CASES, ids=[case[0] for case in FIXTURE_CASES])
def test_fixture_maps(name: str, expected: dict[str, Any]):
    fixture = load_fixture(name)

    events = parse(with_ids(fixture), KEYS)

    assert len(events) == 1
    event = events[0]
    for field, value in expected.items():
        assert getattr(event, field) == value, field
    assert event.message_id == fixture["message-id"]
    assert event.recipient == fixture["email"]
    assert event.event_id == ""
    assert event.campaign_id == "c1"
    assert event.workspace_id == "w1"
    assert event.provider == "brevo"


def test_bounce_class_absent_on_delivery():
    events = parse(with_ids(load_fixture("delivered.json")), KEYS)

    assert events[0].bounce_type is None


@pytest.mark.parametrize("name", [case[0] for case in FIXTURE_CASES] + ["request_without_tags.json"])
def test_fixture_without_metadata_rejected(name: str):
    error = reject(load_fixture(name))

    assert error.reason == "missing_field"
    assert error.message == "brevo event: required tag 'campaign_id' is missing"


@pytest.mark.parametrize(
    ("name", "expected_type", "expected_class", "machine_open"),
    [
        ("error", "bounced", "undetermined", False),
        ("spam", "spam_complaint", None, False),
        ("unique_proxy_open", "opened", None, True),
    ],
)
def test_event_mapping(name: str, expected_type: str, expected_class: str | None, machine_open: bool):
    events = parse(brevo_event(name), KEYS)

    assert events[0].type == expected_type
    assert events[0].bounce_type == expected_class
    assert events[0].is_machine_open is machine_open


def test_time_falls_back_to_ts_event():
    event = brevo_event("delivered", ts_event=1709632866)
    del event["ts_epoch"]

    # 1709632866 epoch seconds, times 1000.
    assert parse(event, KEYS)[0].occurred_at_ms == 1709632866000


def test_time_falls_back_to_ts():
    event = brevo_event("delivered", ts=1709632867)
    del event["ts_epoch"]
    del event["ts_event"]

    assert parse(event, KEYS)[0].occurred_at_ms == 1709632867000


def test_missing_time():
    event = brevo_event("delivered")
    for field in ("ts", "ts_event", "ts_epoch"):
        del event[field]

    error = reject(event)

    assert error.reason == "missing_field"
    assert "'ts_epoch', 'ts_event', 'ts'" in error.message


def test_tag_value_with_colon_and_spaces():
    event = brevo_event("delivered", tags=["campaign_id: spring:2024 ", "workspace_id:w1"])

    assert parse(event, KEYS)[0].campaign_id == "spring:2024"


def test_first_tag_with_key_wins():
    event = brevo_event("delivered", tags=["campaign_id:c1", "campaign_id:c2", "workspace_id:w1"])

    assert parse(event, KEYS)[0].campaign_id == "c1"


def test_missing_message_id():
    event = brevo_event("delivered")
    del event["message-id"]

    error = reject(event)

    assert error.reason == "missing_field"
    assert error.message == "brevo event: required field 'message-id' is missing"


def test_batch_maps_each_event():
    batch = [
        brevo_event("request"),
        brevo_event("delivered"),
        brevo_event("click", link="https://example.com/a"),
    ]

    events = parse(batch, KEYS)

    assert [event.type for event in events] == ["sent", "delivered", "clicked"]
    assert events[2].url == "https://example.com/a"


def test_batch_invalid_event_rejects_all():
    broken = brevo_event("delivered", tags=["workspace_id:w1"])

    error = reject([brevo_event("request"), broken])

    assert error.reason == "missing_field"
    assert error.message == "brevo event 1: required tag 'campaign_id' is missing"


def test_unknown_event_rejected():
    error = reject(brevo_event("list_addition"))

    assert error.reason == "unknown_type"
    assert error.message == "brevo event: unknown Brevo event 'list_addition'"


def test_scalar_payload_rejected():
    assert reject("delivered").reason == "invalid_payload"
