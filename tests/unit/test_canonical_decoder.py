"""The msgspec fast path must decode exactly as the general path, or step aside."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.adapters import MetadataKeys, decode_general
from streams.canonical_decoder import decode_canonical
from streams.events import InvalidEvent

DEMO_EVENTS = Path(__file__).resolve().parents[2] / "app" / "demo" / "events.ndjson.gz"

VALID = {
    "event_id": "e-1",
    "type": "clicked",
    "occurred_at": "2026-11-02T10:00:00.123+02:00",
    "workspace_id": "w",
    "campaign_id": "c",
    "message_id": "m",
    "recipient": "Ana@Example.com",
    "url": "https://shop.example/x",
    "user_agent": "Mozilla/5.0",
    "is_bot_click": True,
    "extra": {"ignored": [1, 2]},
}

# Each variant changes one field of VALID; None as a value means "remove the field".
VARIANTS: list[dict[str, Any]] = [
    {},
    {"occurred_at": 1_762_077_600},
    {"occurred_at": 1_762_077_600_123},
    {"occurred_at": 1_762_077_600.5},
    {"occurred_at": "1762077600"},
    {"occurred_at": ""},
    {"occurred_at": True},
    {"occurred_at": "not a time"},
    {"occurred_at": None},
    {"type": "teleported"},
    {"type": 5},
    {"type": None},
    {"workspace_id": ""},
    {"workspace_id": 42},
    {"message_id": "x" * 513},
    {"event_id": 7},
    {"event_id": None},
    {"bounce_type": "hard"},
    {"bounce_type": "medium"},
    {"bounce_type": ""},
    {"url": ""},
    {"url": 3},
    {"is_bot_click": "yes"},
    {"is_machine_open": None},
    {"provider": "sendgrid"},
    {"provider": None},
    {"provider": 1},
    {"provider": "sendgrid", "payload": []},
    {"payload": {"a": 1}},
]


def variant(changes: dict[str, Any]) -> dict[str, Any]:
    event = dict(VALID)
    for field, value in changes.items():
        if value is None:
            event.pop(field, None)
        else:
            event[field] = value
    return event


def general_outcome(value: bytes) -> Any:
    try:
        return decode_general(value, MetadataKeys())
    except InvalidEvent as error:
        return ("rejected", error.reason)


def assert_same_or_declined(value: bytes) -> None:
    fast = decode_canonical(value)
    if fast is not None:
        assert fast == general_outcome(value), value


@pytest.mark.parametrize("changes", VARIANTS, ids=[str(sorted(v.items())) for v in VARIANTS])
def test_object_variant_matches_general(changes):
    assert_same_or_declined(orjson.dumps(variant(changes)))


@pytest.mark.parametrize("changes", VARIANTS, ids=[str(sorted(v.items())) for v in VARIANTS])
def test_array_variant_matches_general(changes):
    assert_same_or_declined(orjson.dumps([VALID, variant(changes)]))


def test_plain_event_takes_fast_path():
    events = decode_canonical(orjson.dumps(VALID))
    assert events is not None
    assert events == general_outcome(orjson.dumps(VALID))


def test_envelope_declined():
    assert decode_canonical(orjson.dumps({"provider": "sendgrid", "payload": []})) is None


def test_demo_stream_matches_general():
    if not DEMO_EVENTS.exists():
        pytest.skip(f"{DEMO_EVENTS} is missing")
    fast_lines = 0
    with gzip.open(DEMO_EVENTS, "rb") as lines:
        for line in lines:
            value = line.strip()
            fast = decode_canonical(value)
            if fast is None:
                continue
            fast_lines += 1
            assert fast == general_outcome(value), value
    # Most demo lines are canonical JSON, so the fast path must have taken them.
    assert fast_lines > 20_000
