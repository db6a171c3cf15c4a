"""Tests of the Mailgun adapter, on the shared webhook fixtures and on built events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.adapters import MetadataKeys
from streams.adapters.mailgun import parse
from streams.events import InvalidEvent

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "providers" / "mailgun"
KEYS = MetadataKeys()
IDS = {"campaign_id": "c1", "workspace_id": "w1"}
CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.31 (KHTML, like Gecko) Chrome/26.0.1410.43 Safari/537.31"
)


def load_fixture(name: str) -> Any:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"shared provider fixture {path} is missing")
    return json.loads(path.read_text())


def with_ids(payload: dict[str, Any]) -> dict[str, Any]:
    payload["event-data"].setdefault("user-variables", {}).update(IDS)
    return payload


def mailgun_event(name: str, **fields: Any) -> dict[str, Any]:
    """Build a webhook body in the documented shape, with our user variables."""
    return {
        "signature": {"token": "t", "timestamp": "1709632865", "signature": "s"},
        "event-data": {
            "id": "event-1",
            "timestamp": 1709632865.25,
            "event": name,
            "recipient": "reader@example.org",
            "message": {"headers": {"message-id": "20240305101105.1.2@mg.example.com"}},
            "user-variables": dict(IDS),
            **fields,
        },
    }


def reject(payload: Any) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        parse(payload, KEYS)
    return caught.value


# Expected times: event-data.timestamp is epoch seconds with a fraction; the
# milliseconds are its first three decimals, the rest truncated.
FIXTURE_CASES = [
    (
        "accepted.json",
        {
            "type": "sent",
            "occurred_at_ms": 1707402341912,  # 1707402341.91242 s
            "message_id": "##REDACTED##",
            "event_id": "4o7-z86dSkSI54c6IudeuA",
        },
    ),
    (
        "delivered_messages.json",
        {
            "type": "delivered",
            "occurred_at_ms": 1521472262000,  # 1521472262.000002 s
            "message_id": "20130503182626.18666.16540@app.symfony.com",
            "event_id": "CPgfbmQMTCKtHW6uIWtuVe",
        },
    ),
    (
        "opens.json",
        {
            "type": "opened",
            "occurred_at_ms": 1521243339873,  # 1521243339.873676 s
            "message_id": "20130503182626.18666.16540@app.symfony.com",
            "user_agent": CHROME_LINUX,
            "is_machine_open": False,
        },
    ),
    (
        "clicks.json",
        {
            "type": "clicked",
            "occurred_at_ms": 1521243339873,  # 1521243339.873676 s
            "message_id": "20130503182626.18666.16540@app.symfony.com",
            "user_agent": CHROME_LINUX,
            "url": None,  # this fixture carries no url field
            "is_bot_click": False,
        },
    ),
    (
        "permanent_failure.json",
        {
            "type": "bounced",
            "bounce_type": "hard",
            "occurred_at_ms": 1521233195375,  # 1521233195.375624 s
            "message_id": "20130503192659.13651.20287@app.symfony.com",
            "event_id": "G9Bn5sl1TC6nu79C8C0bwg",
        },
    ),
    (
        "permanent_failure_no_description.json",
        {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1521233195375},
    ),
    (
        "suppression_failure.json",
        {"type": "bounced", "bounce_type": "hard", "occurred_at_ms": 1521233195375},
    ),
    (
        "temporary_failure.json",
        {
            "type": "deferred",
            "bounce_type": None,
            "occurred_at_ms": 1521472262908,  # 1521472262.908181 s
            "message_id": "20130503182626.18666.16540@app.symfony.com",
        },
    ),
    (
        "spam_complaints.json",
        {
            "type": "spam_complaint",
            "occurred_at_ms": 1521233123501,  # 1521233123.501324 s
            "message_id": "20110215055645.25246.63817@app.symfony.com",
            "event_id": "-Agny091SquKnsrW2NEKUA",
        },
    ),
    (
        "unsubscribes.json",
        {
            "type": "unsubscribed",
            "occurred_at_ms": 1521243339873,  # 1521243339.873676 s
            "message_id": "20130503182626.18666.16540@app.symfony.com",
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
    assert event.recipient == "alice@example.com"
    assert event.campaign_id == "c1"
    assert event.workspace_id == "w1"
    assert event.provider == "mailgun"


@pytest.mark.parametrize("name", [case[0] for case in FIXTURE_CASES])
def test_fixture_without_metadata_rejected(name: str):
    error = reject(load_fixture(name))

    assert error.reason == "missing_field"
    assert error.message == "mailgun event: required user variable 'campaign_id' is missing"


def test_apple_bot_open_is_machine_open():
    events = parse(
        mailgun_event("opened", **{"client-info": {"bot": "apple", "user-agent": "Mozilla/5.0"}}), KEYS
    )

    assert events[0].is_machine_open is True
    assert events[0].user_agent == "Mozilla/5.0"


def test_empty_bot_is_human_open():
    events = parse(mailgun_event("opened", **{"client-info": {"bot": ""}}), KEYS)

    assert events[0].is_machine_open is False


def test_bot_click_flag_and_url():
    payload = mailgun_event(
        "clicked", url="https://shop.example.com/spring", **{"client-info": {"bot": "generic"}}
    )

    event = parse(payload, KEYS)[0]

    assert event.url == "https://shop.example.com/spring"
    assert event.is_bot_click is True
    assert event.is_machine_open is False
    # 1709632865.25 s is 2024-03-05T10:01:05.250Z.
    assert event.occurred_at_ms == 1709632865250


def test_failure_without_severity_undetermined():
    events = parse(mailgun_event("failed"), KEYS)

    assert events[0].type == "bounced"
    assert events[0].bounce_type == "undetermined"


@pytest.mark.parametrize("name", ["stored", "rejected", "list_member_uploaded"])
def test_event_without_meaning_skipped(name: str):
    assert parse(mailgun_event(name), KEYS) == []


def test_unknown_event_rejected():
    error = reject(mailgun_event("teleported"))

    assert error.reason == "unknown_type"
    assert error.message == "mailgun event: unknown Mailgun event 'teleported'"


def test_missing_message_id():
    payload = mailgun_event("delivered")
    del payload["event-data"]["message"]

    error = reject(payload)

    assert error.reason == "missing_field"
    assert error.message == "mailgun event: required field 'message.headers.message-id' is missing"


def test_missing_timestamp():
    payload = mailgun_event("delivered")
    del payload["event-data"]["timestamp"]

    error = reject(payload)

    assert error.reason == "missing_field"
    assert error.message == "mailgun event: required field 'timestamp' is missing"


def test_missing_workspace_id():
    payload = mailgun_event("delivered")
    del payload["event-data"]["user-variables"]["workspace_id"]

    error = reject(payload)

    assert error.reason == "missing_field"
    assert "user variable 'workspace_id'" in error.message


def test_missing_event_data():
    error = reject({"signature": {}})

    assert error.reason == "invalid_payload"
    assert error.message == "mailgun payload field 'event-data' must be a JSON object, got null"


def test_array_payload_rejected():
    assert reject([mailgun_event("delivered")]).reason == "invalid_payload"
