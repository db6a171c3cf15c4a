"""Brevo transactional webhook adapter.

A payload is one webhook POST: an event object, or a JSON array of them when the
webhook is created with batching on. An event has ``event``, ``message-id``,
``email``, the times ``ts_epoch`` (UTC epoch milliseconds, or seconds in some
events), ``ts_event`` and ``ts`` (UTC epoch seconds), and ``tags``. Tags of the
form ``key:value`` carry the campaign and workspace ids, for example
``campaign_id:c1``; tags without a colon are ignored.

Mapping from Brevo ``event`` to the canonical event:

    request                         sent
    delivered                       delivered
    deferred                        deferred
    soft_bounce                     bounced, soft
    hard_bounce                     bounced, hard
    blocked, invalid_email          bounced, hard
    error                           bounced, undetermined
    opened, unique_opened           opened
    proxy_open, unique_proxy_open   opened, with ``is_machine_open``
    click                           clicked, with ``link`` as ``url``
    spam, complaint                 spam_complaint
    unsubscribed                    unsubscribed
    any other name                  rejected as ``unknown_type``

Decisions:

* ``blocked`` (the address is on a block or unsubscribe list) and
  ``invalid_email`` mean Brevo never attempted delivery to an address that will
  not accept it. Like SendGrid ``dropped`` they become hard bounces, which also
  count the message as sent.
* ``error`` is a failure inside Brevo whose permanence is unknown, so the bounce
  is undetermined.
* The time is read from ``ts_epoch``, then ``ts_event``, then ``ts``. The
  ``date`` field is never read because it is in Paris local time (CET/CEST).
  Some ``proxy_open`` examples name the millisecond field ``s_epoch`` with a
  value far from ``ts_event``. That field is not read, so those events take
  ``ts_event``.
* ``id`` is the id of the webhook, the same for every event it sends, so it is
  not used as ``event_id``, which stays empty.
* One invalid event rejects the whole batch, so that the dead-letter topic keeps
  the original bytes whole and a message is never half counted
  (``payload.parse_each`` gives the reasoning).
"""

from __future__ import annotations

from typing import Any

from streams.adapters.metadata import MetadataKeys, read_campaign_ids
from streams.adapters.payload import error_context, parse_each, require_object, require_text, require_time
from streams.events import EmailEvent, InvalidEvent, parse_canonical

PROVIDER = "brevo"

_EVENT_TYPES = {
    "request": "sent",
    "delivered": "delivered",
    "deferred": "deferred",
    "soft_bounce": "bounced",
    "hard_bounce": "bounced",
    "blocked": "bounced",
    "invalid_email": "bounced",
    "error": "bounced",
    "opened": "opened",
    "unique_opened": "opened",
    "proxy_open": "opened",
    "unique_proxy_open": "opened",
    "click": "clicked",
    "spam": "spam_complaint",
    "complaint": "spam_complaint",
    "unsubscribed": "unsubscribed",
}
_BOUNCE_TYPES = {
    "soft_bounce": "soft",
    "hard_bounce": "hard",
    "blocked": "hard",
    "invalid_email": "hard",
    "error": "undetermined",
}
_MACHINE_OPENS = frozenset({"proxy_open", "unique_proxy_open"})
_TIME_FIELDS = ("ts_epoch", "ts_event", "ts")


def parse(payload: Any, keys: MetadataKeys) -> list[EmailEvent]:
    """Map one Brevo webhook event, or a batch of them, to canonical events."""
    if isinstance(payload, list):
        return parse_each(payload, lambda item: _parse_event(item, keys), "brevo event")
    event = require_object(payload, "brevo payload")
    with error_context("brevo event"):
        return [_parse_event(event, keys)]


def _parse_event(item: Any, keys: MetadataKeys) -> EmailEvent:
    event = require_object(item, "event")
    name = require_text(event, "event")
    event_type = _EVENT_TYPES.get(name)
    if event_type is None:
        raise InvalidEvent("unknown_type", f"unknown Brevo event {name!r}")

    time_field = next((field for field in _TIME_FIELDS if event.get(field) not in (None, "")), None)
    if time_field is None:
        raise InvalidEvent(
            "missing_field", "required time is missing: none of 'ts_epoch', 'ts_event', 'ts' is set"
        )
    fields: dict[str, Any] = {
        "type": event_type,
        "occurred_at": require_time(event, time_field),
        "message_id": require_text(event, "message-id"),
        "recipient": event.get("email"),
        "bounce_type": _BOUNCE_TYPES.get(name),
        "is_machine_open": name in _MACHINE_OPENS,
        **read_campaign_ids(_tag_values(event.get("tags")), keys, "tag"),
    }
    if event_type == "clicked":
        fields["url"] = event.get("link")
    return parse_canonical(fields, provider=PROVIDER)


def _tag_values(tags: Any) -> dict[str, str] | None:
    """Read ``key:value`` tags into a mapping; the first tag with a given key wins."""
    if not isinstance(tags, list):
        return None
    values: dict[str, str] = {}
    for tag in tags:
        if isinstance(tag, str) and ":" in tag:
            key, _, value = tag.partition(":")
            values.setdefault(key.strip(), value.strip())
    return values
