"""Postmark webhook adapter.

A payload is one webhook POST: an object whose ``RecordType`` names the event.
Every record has ``MessageID`` and ``Metadata``, where the campaign and workspace
ids are read. The time and recipient fields differ by record type, as listed.

Mapping from Postmark ``RecordType`` to the canonical event:

    Delivery            delivered, at ``DeliveredAt``, to ``Recipient``
    Bounce              by ``Type``, see below, at ``BouncedAt``, to ``Email``
    SpamComplaint       spam_complaint, at ``BouncedAt``, to ``Email``
    Open                opened, at ``ReceivedAt``, with ``UserAgent``
    Click               clicked, at ``ReceivedAt``, with ``OriginalLink`` and ``UserAgent``
    SubscriptionChange  unsubscribed when ``SuppressSending`` is true,
                        ``SuppressionReason`` is "ManualSuppression" and ``Origin``
                        is "Recipient"; skipped otherwise
    any other type      rejected as ``unknown_type``

Bounce ``Type``:

    HardBounce, BadEmailAddress, ManuallyDeactivated            bounced, hard
    SoftBounce, DnsError, Blocked, DMARCPolicy,
    SpamNotification, VirusNotification                         bounced, soft
    Transient                                                   deferred
    Unsubscribe                                                 unsubscribed
    SpamComplaint                                               spam_complaint
    Subscribe, AutoResponder, AddressChange, OpenRelayTest,
    ChallengeVerification, InboundError, TemplateRenderingFailed skipped
    any other (Unknown, SMTPApiError, new types)                bounced, undetermined

Decisions:

* Transient is Postmark's "message delayed" bounce type, a temporary failure, so
  it is a deferral rather than a bounce.
* The skipped bounce types are not failures of this message to this recipient:
  automatic replies, address-change notices, inbound processing errors, and
  template errors raised before anything was sent.
* A SubscriptionChange caused by a hard bounce or a spam complaint repeats an
  event that Postmark reports as its own Bounce or SpamComplaint record, and a
  suppression added or lifted by the account owner is not the recipient
  unsubscribing. Only a manual suppression by the recipient, such as a click on
  an unsubscribe link, counts as unsubscribed.
* ``event_id`` is the bounce ``ID`` on Bounce and SpamComplaint records. Other
  records carry no event id, so theirs is empty: counting identifies events by
  content and needs none.
"""

from __future__ import annotations

from typing import Any

from streams.adapters.metadata import MetadataKeys, read_campaign_ids
from streams.adapters.payload import error_context, json_type, require_object, require_text, require_time
from streams.events import EmailEvent, InvalidEvent, parse_canonical

PROVIDER = "postmark"

# RecordType -> (canonical type, time field, recipient field)
_RECORD_TYPES: dict[str, tuple[str, str, str]] = {
    "Delivery": ("delivered", "DeliveredAt", "Recipient"),
    "Bounce": ("bounced", "BouncedAt", "Email"),
    "SpamComplaint": ("spam_complaint", "BouncedAt", "Email"),
    "Open": ("opened", "ReceivedAt", "Recipient"),
    "Click": ("clicked", "ReceivedAt", "Recipient"),
    "SubscriptionChange": ("unsubscribed", "ChangedAt", "Recipient"),
}
_HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
_SOFT_BOUNCES = frozenset(
    {"SoftBounce", "DnsError", "Blocked", "DMARCPolicy", "SpamNotification", "VirusNotification"}
)
_OTHER_BOUNCE_EVENTS = {
    "Transient": "deferred",
    "Unsubscribe": "unsubscribed",
    "SpamComplaint": "spam_complaint",
}
_SKIPPED_BOUNCES = frozenset(
    {
        "Subscribe",
        "AutoResponder",
        "AddressChange",
        "OpenRelayTest",
        "ChallengeVerification",
        "InboundError",
        "TemplateRenderingFailed",
    }
)


def parse(payload: Any, keys: MetadataKeys) -> list[EmailEvent]:
    """Map one Postmark webhook record to at most one canonical event."""
    record = require_object(payload, "postmark payload")
    with error_context("postmark event"):
        event = _parse_record(record, keys)
    return [] if event is None else [event]


def _parse_record(record: dict[str, Any], keys: MetadataKeys) -> EmailEvent | None:
    record_type = require_text(record, "RecordType")
    if record_type not in _RECORD_TYPES:
        raise InvalidEvent("unknown_type", f"unknown Postmark RecordType {record_type!r}")
    event_type, time_field, recipient_field = _RECORD_TYPES[record_type]

    fields: dict[str, Any] = {"type": event_type}
    if record_type == "Bounce" and not _classify_bounce(record.get("Type"), fields):
        return None
    if record_type == "SubscriptionChange" and not _is_unsubscribe(record):
        return None
    if record_type in ("Bounce", "SpamComplaint"):
        fields["event_id"] = record.get("ID")
    if record_type == "Click":
        fields["url"] = record.get("OriginalLink")

    metadata = record.get("Metadata")
    fields.update(
        occurred_at=require_time(record, time_field),
        message_id=require_text(record, "MessageID"),
        recipient=record.get(recipient_field),
        user_agent=record.get("UserAgent"),
        **read_campaign_ids(metadata if isinstance(metadata, dict) else None, keys, "Metadata key"),
    )
    return parse_canonical(fields, provider=PROVIDER)


def _classify_bounce(bounce_type: Any, fields: dict[str, Any]) -> bool:
    """Set the canonical type and bounce class of a Bounce record; return False to skip it."""
    if bounce_type is not None and not isinstance(bounce_type, str):
        raise InvalidEvent("invalid_field", f"Type must be a string, got {json_type(bounce_type)}")
    if bounce_type in _SKIPPED_BOUNCES:
        return False
    if bounce_type in _OTHER_BOUNCE_EVENTS:
        fields["type"] = _OTHER_BOUNCE_EVENTS[bounce_type]
    elif bounce_type in _HARD_BOUNCES:
        fields["bounce_type"] = "hard"
    elif bounce_type in _SOFT_BOUNCES:
        fields["bounce_type"] = "soft"
    else:
        fields["bounce_type"] = "undetermined"
    return True


def _is_unsubscribe(record: dict[str, Any]) -> bool:
    return (
        record.get("SuppressSending") is True
        and record.get("SuppressionReason") == "ManualSuppression"
        and record.get("Origin") == "Recipient"
    )
