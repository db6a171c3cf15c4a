"""Mailgun webhook adapter.

A payload is one webhook POST: an object with ``signature`` and ``event-data``.
The event fields used are ``event-data.event``, ``timestamp`` (epoch seconds with
a fraction), ``id``, ``recipient``, ``message.headers.message-id``, ``url``,
``severity`` and ``client-info``. Variables attached at send time (``v:`` or
``X-Mailgun-Variables``) arrive in ``user-variables``, where the campaign and
workspace ids are read. The adapter does not verify ``signature``: that is the
job of the service that receives the webhook, before it publishes to Kafka.

Mapping from Mailgun ``event`` to the canonical event:

    accepted            sent
    delivered           delivered
    failed              ``severity`` permanent: bounced, hard;
                        temporary: deferred; missing or other: bounced, undetermined
    opened              opened; a non-empty ``client-info.bot`` sets ``is_machine_open``
    clicked             clicked, with ``url``; a non-empty ``client-info.bot`` sets
                        ``is_bot_click``
    complained          spam_complaint
    unsubscribed        unsubscribed
    stored, rejected,   skipped: an inbound message stored, a send request Mailgun
    list_* events       refused before accepting it, or mailing-list bookkeeping
    any other name      rejected as ``unknown_type``

Decisions:

* A permanent failure is a hard bounce whatever its ``reason``, including the
  ``suppress-*`` reasons, where Mailgun did not attempt delivery to an address
  it had suppressed. This matches SendGrid ``dropped``.
* ``client-info.bot`` names the prefetcher ("apple", "gmail", "generic"); any
  non-empty value marks the open or click as automatic.
"""

from __future__ import annotations

from typing import Any

from streams.adapters.metadata import MetadataKeys, read_campaign_ids
from streams.adapters.payload import (
    error_context,
    nested,
    require_object,
    require_text,
    require_time,
    require_value,
)
from streams.events import EmailEvent, InvalidEvent, parse_canonical

PROVIDER = "mailgun"

_EVENT_TYPES = {
    "accepted": "sent",
    "delivered": "delivered",
    "failed": "bounced",
    "opened": "opened",
    "clicked": "clicked",
    "complained": "spam_complaint",
    "unsubscribed": "unsubscribed",
}
_SKIPPED_EVENTS = frozenset(
    {"stored", "rejected", "list_member_uploaded", "list_member_upload_error", "list_uploaded"}
)


def parse(payload: Any, keys: MetadataKeys) -> list[EmailEvent]:
    """Map one Mailgun webhook body to at most one canonical event."""
    body = require_object(payload, "mailgun payload")
    data = require_object(body.get("event-data"), "mailgun payload field 'event-data'")
    with error_context("mailgun event"):
        event = _parse_event(data, keys)
    return [] if event is None else [event]


def _parse_event(data: dict[str, Any], keys: MetadataKeys) -> EmailEvent | None:
    name = require_text(data, "event")
    if name in _SKIPPED_EVENTS:
        return None
    event_type = _EVENT_TYPES.get(name)
    if event_type is None:
        raise InvalidEvent("unknown_type", f"unknown Mailgun event {name!r}")

    variables = data.get("user-variables")
    fields: dict[str, Any] = {
        "type": event_type,
        "occurred_at": require_time(data, "timestamp"),
        "message_id": require_value(
            nested(data, "message", "headers", "message-id"), "message.headers.message-id"
        ),
        "event_id": data.get("id"),
        "recipient": data.get("recipient"),
        "user_agent": nested(data, "client-info", "user-agent"),
        **read_campaign_ids(variables if isinstance(variables, dict) else None, keys, "user variable"),
    }
    is_bot = bool(nested(data, "client-info", "bot"))
    if name == "failed":
        _classify_failure(data.get("severity"), fields)
    elif name == "opened":
        fields["is_machine_open"] = is_bot
    elif name == "clicked":
        fields["url"] = data.get("url")
        fields["is_bot_click"] = is_bot
    return parse_canonical(fields, provider=PROVIDER)


def _classify_failure(severity: Any, fields: dict[str, Any]) -> None:
    if severity == "temporary":
        fields["type"] = "deferred"
    elif severity == "permanent":
        fields["bounce_type"] = "hard"
    else:
        fields["bounce_type"] = "undetermined"
