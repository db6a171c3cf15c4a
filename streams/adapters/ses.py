"""Amazon SES event-publishing adapter.

A payload is one SES event record, either raw (as Firehose or an SNS raw-message
subscription delivers it) or inside an SNS notification, whose ``Message`` field
contains the record as a JSON string. A record has ``eventType`` (``notificationType``
in identity feedback notifications), a ``mail`` object with ``messageId``,
``timestamp`` (the send time), ``destination`` and ``tags``, and one detail object
named after the event. Message tags map a name to a list of strings, and the
campaign and workspace ids are the first value of their tags. SES publishes tags
only through a configuration set, so identity feedback notifications lack them
and are rejected as ``missing_field``.

Mapping from SES ``eventType`` to the canonical event, with the detail object:

    Send                sent, at ``mail.timestamp``
    Delivery            delivered, ``delivery``
    DeliveryDelay       deferred, ``deliveryDelay``
    Bounce              bounced, ``bounce``: ``bounceType`` Permanent is hard,
                        Transient soft, Undetermined or missing undetermined
    Reject              bounced, hard, at ``mail.timestamp``
    Complaint           spam_complaint, ``complaint``; skipped when
                        ``complaintFeedbackType`` is "not-spam"
    Open                opened, ``open``, with ``userAgent``
    Click               clicked, ``click``, with ``link`` and ``userAgent``
    Subscription        unsubscribed, ``subscription``, when the new topic
                        preferences opt out of everything or of a topic that the
                        old ones did not; skipped otherwise
    Rendering Failure   skipped
    any other type      rejected as ``unknown_type``

Decisions:

* Reject means SES found a virus and never attempted delivery. Like SendGrid
  ``dropped`` it becomes a hard bounce, which also counts the message as sent.
* Rendering Failure means the template failed and nothing reached a mail server;
  the message has no deliverability outcome, so the event is skipped.
* A message to several recipients still yields one event, because counting is
  per message. ``recipient`` is the first address in the event's recipient list
  (``bouncedRecipients``, ``complainedRecipients``, ``delayedRecipients``,
  ``delivery.recipients``), else the first of ``mail.destination``.
* ``event_id`` is the ``feedbackId`` of a bounce or complaint, else the SNS
  ``MessageId`` of the notification, else empty.
* SNS SubscriptionConfirmation and UnsubscribeConfirmation messages carry no
  email event and are skipped.
"""

from __future__ import annotations

from typing import Any

import orjson

from streams.adapters.metadata import MetadataKeys, read_campaign_ids
from streams.adapters.payload import error_context, nested, require_object, require_text, require_time
from streams.events import EmailEvent, InvalidEvent, parse_canonical

PROVIDER = "ses"

_DETAIL_OBJECTS = {
    "Send": "send",
    "Delivery": "delivery",
    "DeliveryDelay": "deliveryDelay",
    "Bounce": "bounce",
    "Reject": "reject",
    "Complaint": "complaint",
    "Open": "open",
    "Click": "click",
    "Subscription": "subscription",
    "Rendering Failure": "failure",
}
# The detail objects of these events carry no time because they happen when SES accepts the message.
_AT_SEND_TIME = frozenset({"Send", "Reject"})
_BOUNCE_TYPES = {"Permanent": "hard", "Transient": "soft", "Undetermined": "undetermined"}
_RECIPIENT_LISTS = ("bouncedRecipients", "complainedRecipients", "delayedRecipients")
_SNS_CONFIRMATIONS = frozenset({"SubscriptionConfirmation", "UnsubscribeConfirmation"})


def parse(payload: Any, keys: MetadataKeys) -> list[EmailEvent]:
    """Map one SES event record, raw or SNS-wrapped, to at most one canonical event."""
    record = require_object(payload, "ses payload")
    notification_id = None
    if "Message" in record and "Type" in record:
        if isinstance(record["Type"], str) and record["Type"] in _SNS_CONFIRMATIONS:
            return []
        notification_id = record.get("MessageId")
        record = _unwrap_sns(record)

    with error_context("ses event"):
        event = _parse_record(record, keys, notification_id)
    return [] if event is None else [event]


def _unwrap_sns(notification: dict[str, Any]) -> dict[str, Any]:
    message = notification["Message"]
    if not isinstance(message, str):
        raise InvalidEvent("invalid_payload", "ses SNS notification field 'Message' must be a JSON string")
    try:
        record = orjson.loads(message)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(
            "invalid_payload", f"ses SNS notification field 'Message' is not valid JSON: {exc}"
        ) from None
    return require_object(record, "ses SNS notification field 'Message'")


def _parse_record(record: dict[str, Any], keys: MetadataKeys, notification_id: Any) -> EmailEvent | None:
    name_field = "eventType" if "eventType" in record else "notificationType"
    name = require_text(record, name_field)
    if name not in _DETAIL_OBJECTS:
        raise InvalidEvent("unknown_type", f"unknown SES {name_field} {name!r}")
    if name == "Rendering Failure":
        return None
    mail = require_object(record.get("mail"), "field 'mail'")
    detail = record.get(_DETAIL_OBJECTS[name]) or {}
    detail = require_object(detail, f"field {_DETAIL_OBJECTS[name]!r}")

    fields = _classify(name, detail)
    if fields is None:
        return None
    time_source, time_object = ("mail", mail) if name in _AT_SEND_TIME else (_DETAIL_OBJECTS[name], detail)
    with error_context(time_source):
        fields["occurred_at"] = require_time(time_object, "timestamp")
    with error_context("mail"):
        fields["message_id"] = require_text(mail, "messageId")
    fields.update(
        event_id=detail.get("feedbackId") or notification_id,
        recipient=_recipient(detail, mail),
        **read_campaign_ids(_first_tag_values(mail.get("tags")), keys, "message tag"),
    )
    return parse_canonical(fields, provider=PROVIDER)


def _classify(name: str, detail: dict[str, Any]) -> dict[str, Any] | None:
    """Return the canonical type and type-specific fields, or None to skip the event."""
    if name == "Send":
        return {"type": "sent"}
    if name == "Delivery":
        return {"type": "delivered"}
    if name == "DeliveryDelay":
        return {"type": "deferred"}
    if name == "Reject":
        return {"type": "bounced", "bounce_type": "hard"}
    if name == "Bounce":
        bounce_type = detail.get("bounceType")
        bounce_class = _BOUNCE_TYPES.get(bounce_type) if isinstance(bounce_type, str) else None
        return {"type": "bounced", "bounce_type": bounce_class or "undetermined"}
    if name == "Complaint":
        if detail.get("complaintFeedbackType") == "not-spam":
            return None
        return {"type": "spam_complaint", "user_agent": detail.get("userAgent")}
    if name == "Open":
        return {"type": "opened", "user_agent": detail.get("userAgent")}
    if name == "Click":
        return {"type": "clicked", "url": detail.get("link"), "user_agent": detail.get("userAgent")}
    return {"type": "unsubscribed"} if _is_unsubscribe(detail) else None


def _is_unsubscribe(subscription: dict[str, Any]) -> bool:
    """Tell whether new topic preferences opt out of anything the old ones did not."""
    if nested(subscription, "newTopicPreferences", "unsubscribeAll") is True:
        return nested(subscription, "oldTopicPreferences", "unsubscribeAll") is not True
    old_opt_outs = _opted_out_topics(nested(subscription, "oldTopicPreferences", "topicSubscriptionStatus"))
    new_opt_outs = _opted_out_topics(nested(subscription, "newTopicPreferences", "topicSubscriptionStatus"))
    return bool(new_opt_outs - old_opt_outs)


def _opted_out_topics(statuses: Any) -> set[str]:
    if not isinstance(statuses, list):
        return set()
    return {
        str(status.get("topicName"))
        for status in statuses
        if isinstance(status, dict) and status.get("subscriptionStatus") == "OptOut"
    }


def _recipient(detail: dict[str, Any], mail: dict[str, Any]) -> Any:
    for list_name in _RECIPIENT_LISTS:
        entries = detail.get(list_name)
        if isinstance(entries, list) and entries and isinstance(entries[0], dict):
            return entries[0].get("emailAddress")
    for addresses in (detail.get("recipients"), mail.get("destination")):
        if isinstance(addresses, list) and addresses:
            return addresses[0]
    return None


def _first_tag_values(tags: Any) -> dict[str, Any] | None:
    """Map each message tag to its first value; SES sends every tag value as a list."""
    if not isinstance(tags, dict):
        return None
    return {
        name: values[0] if isinstance(values, list) and values else values for name, values in tags.items()
    }
