"""SendGrid Event Webhook adapter.

A payload is one webhook POST: a JSON array of event objects. Each event has
``event``, ``timestamp`` (epoch seconds), ``sg_message_id``, ``sg_event_id`` and
``email``. Custom arguments given at send time arrive as top-level keys of every
event, so the campaign and workspace ids are read from there.

Mapping from SendGrid ``event`` to the canonical event:

    processed               sent
    delivered               delivered
    deferred                deferred
    bounce                  bounced: ``type`` "blocked" is soft, any other is hard
    dropped                 bounced, hard
    open                    opened; ``sg_machine_open`` true sets ``is_machine_open``
    click                   clicked, with ``url``
    spamreport              spam_complaint
    unsubscribe             unsubscribed
    group_unsubscribe       unsubscribed
    group_resubscribe       skipped: a resubscribe has no canonical type
    account_status_change   skipped: an account event, not about a message
    any other name          rejected as ``unknown_type``

Decisions:

* ``dropped`` means SendGrid never attempted delivery, usually because the
  address is suppressed after an earlier bounce, unsubscribe or spam report, or
  is invalid. It becomes a hard bounce: the message can never be delivered, and
  a bounce also counts the message as sent, which a skipped event would not.
* A ``bounce`` with ``type`` "blocked" is SendGrid's block, a rejection for
  reasons other than the address (reputation, content, rate), so it is soft.
* An unknown event name rejects the message rather than skipping it, so a new
  SendGrid event type waits in the dead-letter topic instead of being lost.
* One invalid event rejects the whole batch, so that the dead-letter topic keeps
  the original bytes whole and a message is never half counted
  (``payload.parse_each`` gives the reasoning).

NOTE: an event without our campaign metadata counts as invalid, so a batch that
mixes campaign mail with other mail (password resets) goes wholly to the
dead-letter topic. Mailers should forward only campaign events.
"""

from __future__ import annotations

from typing import Any

from streams.adapters.metadata import MetadataKeys, read_campaign_ids
from streams.adapters.payload import parse_each, require_array, require_object, require_text, require_time
from streams.events import EmailEvent, InvalidEvent, parse_canonical

PROVIDER = "sendgrid"

_EVENT_TYPES = {
    "processed": "sent",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "bounced",
    "open": "opened",
    "click": "clicked",
    "spamreport": "spam_complaint",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}
_SKIPPED_EVENTS = frozenset({"group_resubscribe", "account_status_change"})


def parse(payload: Any, keys: MetadataKeys) -> list[EmailEvent]:
    """Map one SendGrid webhook batch to canonical events, skipping events without a canonical type."""
    events = require_array(payload, "sendgrid payload")
    return parse_each(events, lambda item: _parse_event(item, keys), "sendgrid event")


def _parse_event(item: Any, keys: MetadataKeys) -> EmailEvent | None:
    event = require_object(item, "event")
    name = require_text(event, "event")
    if name in _SKIPPED_EVENTS:
        return None
    event_type = _EVENT_TYPES.get(name)
    if event_type is None:
        raise InvalidEvent("unknown_type", f"unknown SendGrid event {name!r}")

    fields: dict[str, Any] = {
        "type": event_type,
        "occurred_at": require_time(event, "timestamp"),
        "message_id": require_text(event, "sg_message_id"),
        "event_id": event.get("sg_event_id"),
        "recipient": event.get("email"),
        "user_agent": event.get("useragent"),
        **read_campaign_ids(event, keys, "custom argument"),
    }
    if name == "bounce":
        fields["bounce_type"] = "soft" if event.get("type") == "blocked" else "hard"
    elif name == "dropped":
        fields["bounce_type"] = "hard"
    elif name == "open":
        fields["is_machine_open"] = event.get("sg_machine_open") is True
    elif name == "click":
        fields["url"] = event.get("url")
    return parse_canonical(fields, provider=PROVIDER)
