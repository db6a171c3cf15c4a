"""Decoding of ``email-events`` messages, and the provider adapters.

A message value is a canonical event object, a JSON array of canonical events,
or an envelope ``{"provider": NAME, "payload": ...}`` holding a provider's own
webhook payload. :func:`decode_message` is the single entry point for one
message value. It returns the message's canonical events, which may be none when
a provider event has no canonical meaning, or raises InvalidEvent with the reason
code for the dead-letter topic.

Each adapter module maps one provider's payload and documents its mapping:
``sendgrid``, ``mailgun``, ``postmark``, ``ses`` and ``brevo``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streams.adapters import brevo, mailgun, postmark, sendgrid, ses
from streams.adapters.metadata import MetadataKeys
from streams.adapters.payload import json_type, parse_each
from streams.canonical_decoder import decode_canonical
from streams.events import EmailEvent, InvalidEvent, parse_canonical

__all__ = ["ADAPTERS", "Adapter", "MetadataKeys", "decode_message", "parse_envelope"]

Adapter = Callable[[Any, MetadataKeys], list[EmailEvent]]

ADAPTERS: dict[str, Adapter] = {
    sendgrid.PROVIDER: sendgrid.parse,
    mailgun.PROVIDER: mailgun.parse,
    postmark.PROVIDER: postmark.parse,
    ses.PROVIDER: ses.parse,
    brevo.PROVIDER: brevo.parse,
}


def parse_envelope(envelope: dict[str, Any], keys: MetadataKeys) -> list[EmailEvent]:
    """Map the provider payload of an envelope to canonical events with the provider's adapter.

    Raises InvalidEvent("unknown_provider") for a provider without an adapter, and
    passes on the adapter's InvalidEvent, ``invalid_payload`` for a payload of the wrong shape.
    """
    provider = envelope.get("provider")
    adapter = ADAPTERS.get(provider) if isinstance(provider, str) else None
    if adapter is None:
        raise InvalidEvent(
            "unknown_provider",
            f"unknown provider {provider!r}; expected one of {', '.join(sorted(ADAPTERS))}",
        )
    return adapter(envelope.get("payload"), keys)


def decode_message(value: bytes | None, keys: MetadataKeys) -> list[EmailEvent]:
    """Decode one Kafka message value into canonical events.

    The value is read as follows:

    * None or empty (a tombstone): ``null_value``.
    * Not JSON: ``invalid_json``.
    * An object with both ``provider`` and ``payload`` keys: an envelope.
    * Any other object: one canonical event.
    * An array: a batch of canonical events. An invalid element rejects the whole
      message, with the element's index in the message, so that the dead-letter
      topic keeps the original bytes whole.
    * Any other JSON value: ``not_an_object``.
    """
    if not value:
        raise InvalidEvent("null_value", "the message has no value; expected a JSON event, array or envelope")
    events = decode_canonical(value)
    if events is not None:
        return events
    return decode_general(value, keys)


def decode_general(value: bytes, keys: MetadataKeys) -> list[EmailEvent]:
    """Decode a message the slow, general way; see :func:`decode_message` for the rules."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_json", f"the message value is not valid JSON: {exc}") from None

    if isinstance(data, dict):
        if "provider" in data and "payload" in data:
            return parse_envelope(data, keys)
        return [parse_canonical(data)]
    if isinstance(data, list):
        return parse_each(data, parse_canonical, "element")
    raise InvalidEvent(
        "not_an_object", f"the message value must be a JSON object or array, got {json_type(data)}"
    )
