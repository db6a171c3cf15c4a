"""A fast path for canonical events, decoded by msgspec straight from the message bytes.

Most messages are plain canonical events or arrays of them. msgspec decodes and
type-checks those in C, several times faster than loading a dict and checking
it field by field. Anything unusual (an envelope, a wrong type, a missing or
empty field, an id that is a number) makes :func:`decode_canonical` return
None, and the caller takes the general path, which also produces the precise
dead-letter reason. Both paths must give equal events for the same input;
``tests/unit/test_canonical_decoder.py`` checks that.
"""

from __future__ import annotations

from typing import Any

import msgspec

from streams.events import BOUNCE_TYPES, EVENT_TYPES, MAX_ID_LENGTH, EmailEvent, InvalidEvent, parse_timestamp

_UNSET: Any = msgspec.UNSET


class _Fields(msgspec.Struct):
    type: str
    occurred_at: str | int | float
    workspace_id: str
    campaign_id: str
    message_id: str
    event_id: str | None = None
    recipient: str | None = None
    bounce_type: str | None = None
    url: str | None = None
    user_agent: str | None = None
    is_machine_open: bool | None = None
    is_bot_click: bool | None = None
    provider: Any = _UNSET
    payload: Any = _UNSET


_ONE = msgspec.json.Decoder(_Fields)
_MANY = msgspec.json.Decoder(list[_Fields])


def _to_event(fields: _Fields) -> EmailEvent | None:
    if fields.provider is not _UNSET and fields.payload is not _UNSET:
        return None  # an envelope
    provider = "" if fields.provider is _UNSET or fields.provider is None else fields.provider
    if not isinstance(provider, str):
        return None
    if fields.type not in EVENT_TYPES or isinstance(fields.occurred_at, bool):
        return None
    for text in (fields.workspace_id, fields.campaign_id, fields.message_id):
        if not text or len(text) > MAX_ID_LENGTH:
            return None
    if fields.bounce_type and fields.bounce_type not in BOUNCE_TYPES:
        return None
    if fields.occurred_at == "":
        return None
    try:
        occurred_at_ms = parse_timestamp(fields.occurred_at)
    except InvalidEvent:
        return None
    return EmailEvent(
        fields.type,  # type: ignore[arg-type]
        occurred_at_ms,
        fields.workspace_id,
        fields.campaign_id,
        fields.message_id,
        fields.event_id or "",
        fields.recipient or None,
        fields.bounce_type or None,  # type: ignore[arg-type]
        fields.url or None,
        fields.user_agent or None,
        bool(fields.is_machine_open),
        bool(fields.is_bot_click),
        provider,
    )


def decode_canonical(value: bytes) -> list[EmailEvent] | None:
    """Return the events of a canonical object or array, or None to use the general path."""
    try:
        if value[:1] == b"[":
            items = _MANY.decode(value)
        else:
            items = [_ONE.decode(value)]
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    events = []
    for fields in items:
        event = _to_event(fields)
        if event is None:
            return None
        events.append(event)
    return events
