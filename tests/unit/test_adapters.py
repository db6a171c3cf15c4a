"""Tests of decode_message, parse_envelope and the adapter registry."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.adapters import ADAPTERS, MetadataKeys, decode_message, parse_envelope
from streams.events import InvalidEvent

KEYS = MetadataKeys()

CANONICAL = {
    "type": "delivered",
    "occurred_at": "2024-03-05T09:15:43Z",
    "workspace_id": "w1",
    "campaign_id": "c1",
    "message_id": "m1",
}

SENDGRID_OPEN = {
    "email": "reader@example.org",
    "timestamp": 1709632865,
    "event": "open",
    "sg_event_id": "ev-1",
    "sg_message_id": "sg-1",
    "campaign_id": "c1",
    "workspace_id": "w1",
}


def reject(value: bytes | None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as caught:
        decode_message(value, KEYS)
    return caught.value


def test_decode_none_is_null_value():
    assert reject(None).reason == "null_value"


def test_decode_empty_is_null_value():
    assert reject(b"").reason == "null_value"


def test_decode_not_json():
    error = reject(b"{not json")

    assert error.reason == "invalid_json"
    assert "not valid JSON" in error.message


def test_decode_truncated_json():
    assert reject(b'{"type": "sent"').reason == "invalid_json"


@pytest.mark.parametrize("value", [b"42", b'"sent"', b"true", b"null"])
def test_decode_scalar_is_not_an_object(value: bytes):
    assert reject(value).reason == "not_an_object"


def test_decode_canonical_object():
    events = decode_message(orjson.dumps(CANONICAL), KEYS)

    assert len(events) == 1
    assert events[0].type == "delivered"
    assert events[0].message_id == "m1"
    # 2024-03-05T00:00:00Z is 1709596800 s; 09:15:43 adds 33343 s.
    assert events[0].occurred_at_ms == 1709630143000
    assert events[0].provider == ""


def test_decode_canonical_with_provider_field():
    # A "provider" key without "payload" is a canonical field, not an envelope.
    events = decode_message(orjson.dumps({**CANONICAL, "provider": "sendgrid"}), KEYS)

    assert len(events) == 1
    assert events[0].provider == "sendgrid"


def test_decode_canonical_invalid_keeps_reason():
    error = reject(orjson.dumps({**CANONICAL, "type": "bounce"}))

    assert error.reason == "unknown_type"


def test_decode_array_of_canonical():
    second = {**CANONICAL, "type": "opened", "message_id": "m2"}

    events = decode_message(orjson.dumps([CANONICAL, second]), KEYS)

    assert [event.message_id for event in events] == ["m1", "m2"]
    assert [event.type for event in events] == ["delivered", "opened"]


def test_decode_empty_array():
    assert decode_message(b"[]", KEYS) == []


def test_decode_array_invalid_element_rejects_all():
    missing_campaign = {key: value for key, value in CANONICAL.items() if key != "campaign_id"}

    error = reject(orjson.dumps([CANONICAL, missing_campaign, CANONICAL]))

    assert error.reason == "missing_field"
    assert error.message.startswith("element 1: ")
    assert "campaign_id" in error.message


def test_decode_array_non_object_element():
    error = reject(orjson.dumps([CANONICAL, "sent"]))

    assert error.reason == "not_an_object"
    assert error.message.startswith("element 1: ")


def test_decode_envelope():
    envelope = {"provider": "sendgrid", "payload": [SENDGRID_OPEN]}

    events = decode_message(orjson.dumps(envelope), KEYS)

    assert len(events) == 1
    assert events[0].type == "opened"
    assert events[0].provider == "sendgrid"
    assert events[0].campaign_id == "c1"


def test_decode_envelope_unknown_provider():
    error = reject(orjson.dumps({"provider": "sparkpost", "payload": []}))

    assert error.reason == "unknown_provider"
    assert "'sparkpost'" in error.message
    assert "brevo, mailgun, postmark, sendgrid, ses" in error.message


def test_decode_envelope_provider_not_text():
    assert reject(orjson.dumps({"provider": ["sendgrid"], "payload": []})).reason == "unknown_provider"


def test_decode_envelope_sendgrid_object_payload():
    error = reject(orjson.dumps({"provider": "sendgrid", "payload": SENDGRID_OPEN}))

    assert error.reason == "invalid_payload"
    assert "sendgrid payload must be a JSON array, got object" in error.message


@pytest.mark.parametrize("provider", ["mailgun", "postmark", "ses", "brevo"])
def test_envelope_scalar_payload_invalid(provider: str):
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope({"provider": provider, "payload": "text"}, KEYS)

    assert caught.value.reason == "invalid_payload"
    assert caught.value.message.startswith(f"{provider} payload")


def test_envelope_missing_payload_invalid():
    with pytest.raises(InvalidEvent) as caught:
        parse_envelope({"provider": "sendgrid"}, KEYS)

    assert caught.value.reason == "invalid_payload"


def test_registry_names():
    assert sorted(ADAPTERS) == ["brevo", "mailgun", "postmark", "sendgrid", "ses"]


def test_metadata_keys_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        KEYS.campaign_id = "cid"  # type: ignore[misc]


def test_metadata_keys_configured_names():
    keys = MetadataKeys(campaign_id="cid", workspace_id="tenant")
    event = {key: value for key, value in SENDGRID_OPEN.items() if key not in ("campaign_id", "workspace_id")}
    event.update(cid="c9", tenant="w9")

    events = parse_envelope({"provider": "sendgrid", "payload": [event]}, keys)

    assert events[0].campaign_id == "c9"
    assert events[0].workspace_id == "w9"


def test_metadata_keys_configured_name_in_error():
    keys = MetadataKeys(campaign_id="cid")

    with pytest.raises(InvalidEvent) as caught:
        parse_envelope({"provider": "sendgrid", "payload": [SENDGRID_OPEN]}, keys)

    assert caught.value.reason == "missing_field"
    assert "'cid' (campaign_id)" in caught.value.message


# Values of every JSON type, put in place of each field of a valid payload below.
ODD_VALUES = [None, "", "x", 0, -1, 1.5, True, [], [1], {}, {"a": 1}]
SES_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ses"


def valid_payloads() -> list[tuple[str, Any]]:
    ses_click = orjson.loads((SES_FIXTURES / "click.json").read_bytes())
    ses_bounce = orjson.loads((SES_FIXTURES / "sns_bounce_permanent.json").read_bytes())
    return [
        ("sendgrid", [SENDGRID_OPEN, {**SENDGRID_OPEN, "event": "bounce", "type": "blocked"}]),
        (
            "mailgun",
            {
                "event-data": {
                    "event": "clicked",
                    "timestamp": 1709632865.25,
                    "id": "e1",
                    "url": "https://example.com",
                    "message": {"headers": {"message-id": "m1"}},
                    "client-info": {"bot": "", "user-agent": "Mozilla/5.0"},
                    "user-variables": {"campaign_id": "c1", "workspace_id": "w1"},
                }
            },
        ),
        (
            "postmark",
            {
                "RecordType": "Bounce",
                "Type": "HardBounce",
                "ID": 42,
                "MessageID": "m1",
                "Email": "reader@example.org",
                "BouncedAt": "2024-03-05T09:15:44Z",
                "Metadata": {"campaign_id": "c1", "workspace_id": "w1"},
            },
        ),
        ("ses", ses_click),
        ("ses", ses_bounce),
        (
            "brevo",
            {
                "event": "click",
                "message-id": "<m1@relay>",
                "ts_epoch": 1709632865250,
                "link": "https://example.com",
                "tags": ["campaign_id:c1", "workspace_id:w1"],
            },
        ),
    ]


def mutations(value: Any) -> Iterator[Any]:
    """Yield copies of ``value`` with one nested field or element replaced by each odd value."""
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    else:
        return
    for key, child in items:
        for replacement in [*ODD_VALUES, *mutations(child)]:
            mutated = copy.copy(value)
            mutated[key] = replacement
            yield mutated


def test_mutated_payloads_never_crash():
    checked = 0
    for provider, payload in valid_payloads():
        assert parse_envelope({"provider": provider, "payload": payload}, KEYS), provider
        for mutated in mutations(payload):
            try:
                events = parse_envelope({"provider": provider, "payload": mutated}, KEYS)
            except InvalidEvent:
                continue
            assert isinstance(events, list), provider
            checked += 1
    # Harmless changes, such as a different URL, still parse, so the loop did run.
    assert checked > 0
