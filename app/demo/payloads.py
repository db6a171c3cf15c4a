"""Render demo events as canonical JSON objects or as each provider's own webhook payload.

Field names and event names follow each provider's public webhook documentation
(SendGrid Event Webhook, Mailgun webhooks, Postmark webhooks, Amazon SES event
publishing, Brevo transactional webhooks). Our ``campaign_id`` and
``workspace_id`` travel in each provider's custom metadata: SendGrid custom
arguments, Mailgun ``user-variables``, Postmark ``Metadata``, SES message tags
and Brevo ``key:value`` tags.

Every function here is pure: the same event renders to the same payload, so a
provider's re-send of an event differs only in the ids the provider assigns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from zoneinfo import ZoneInfo

from app.demo.timeline import DemoEvent, to_datetime

# Mailgun signs every webhook with HMAC-SHA256 over timestamp + token. The demo
# payloads are signed with this key, which protects nothing and exists only so
# that signature checks can be tried on the demo data.
MAILGUN_DEMO_SIGNING_KEY = "demo-mailgun-signing-key"

_SES_ACCOUNT = "123456789012"
_SES_REGION = "eu-west-1"
_SNS_TOPIC_ARN = f"arn:aws:sns:{_SES_REGION}:{_SES_ACCOUNT}:demo-ses-events"
# Brevo writes its "date" field in the account's local time, and the demo account is in Paris.
_BREVO_ZONE = ZoneInfo("Europe/Paris")
_BREVO_WEBHOOK_ID = 700412
_POSTMARK_SERVER_ID = 48213


def _iso_ms(epoch_ms: int) -> str:
    return to_datetime(epoch_ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _iso_seconds(epoch_ms: int) -> str:
    return to_datetime(epoch_ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso_postmark_bounce(epoch_ms: int) -> str:
    # Postmark writes bounce times with seven fractional digits.
    return to_datetime(epoch_ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}0000Z"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def _short_id(text: str) -> str:
    """Derive a 22-character URL-safe id from ``text``, the shape SendGrid and Mailgun use."""
    return base64.urlsafe_b64encode(_digest(text)[:16]).decode().rstrip("=")


def canonical(event: DemoEvent) -> dict[str, Any]:
    """Render ``event`` as a canonical event object, leaving out fields that do not apply."""
    message = event.message
    occurred_at: str | int = event.at_ms if message.time_style == "epoch_ms" else _iso_ms(event.at_ms)
    data: dict[str, Any] = {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": occurred_at,
        "workspace_id": message.workspace_id,
        "campaign_id": message.campaign_id,
        "message_id": message.message_id,
        "recipient": message.recipient,
    }
    if event.bounce_type is not None:
        data["bounce_type"] = event.bounce_type
    if event.url is not None:
        data["url"] = event.url
    if event.user_agent is not None:
        data["user_agent"] = event.user_agent
    if event.type == "opened":
        data["is_machine_open"] = event.is_machine_open
    if event.type == "clicked":
        data["is_bot_click"] = event.is_bot_click
    return data


_SENDGRID_EVENTS = {
    "sent": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounced": "bounce",
    "opened": "open",
    "clicked": "click",
    "spam_complaint": "spamreport",
    "unsubscribed": "unsubscribe",
}


def sendgrid(event: DemoEvent) -> dict[str, Any]:
    """Render ``event`` as one entry of a SendGrid Event Webhook batch."""
    message = event.message
    local_id = message.message_id.split(".", 1)[0]
    data: dict[str, Any] = {
        "email": message.recipient,
        "timestamp": event.at_ms // 1000,
        "smtp-id": f"<{local_id}@ismtpd0014p1iad2.sendgrid.net>",
        "event": _SENDGRID_EVENTS[event.type],
        "category": ["newsletter"],
        "sg_event_id": _short_id(event.event_id),
        "sg_message_id": message.message_id,
    }
    if event.type == "delivered":
        data.update(response="250 2.0.0 OK", ip="198.51.100.21", tls=1)
    elif event.type == "deferred":
        data.update(response="451 4.7.1 Try again later, closing connection.", attempt=str(event.attempt))
    elif event.type == "bounced" and event.bounce_type == "hard":
        data.update(
            type="bounce",
            status="5.1.1",
            reason="550 5.1.1 The email account that you tried to reach does not exist.",
            bounce_classification="Invalid Address",
        )
    elif event.type == "bounced":
        data.update(
            type="blocked",
            status="4.2.2",
            reason="452 4.2.2 The email account that you tried to reach is over quota.",
            bounce_classification="Mailbox Unavailable",
        )
    elif event.type == "opened":
        data.update(useragent=event.user_agent, ip=event.ip, sg_machine_open=event.is_machine_open)
    elif event.type == "clicked":
        data.update(
            url=event.url, url_offset={"index": 0, "type": "html"}, useragent=event.user_agent, ip=event.ip
        )
    # Custom arguments are top-level keys of every event.
    data.update(campaign_id=message.campaign_id, workspace_id=message.workspace_id)
    return data


_MAILGUN_EVENTS = {
    "sent": "accepted",
    "delivered": "delivered",
    "deferred": "failed",
    "bounced": "failed",
    "opened": "opened",
    "clicked": "clicked",
    "spam_complaint": "complained",
    "unsubscribed": "unsubscribed",
}


def _mailgun_client_info(event: DemoEvent) -> dict[str, Any]:
    info: dict[str, Any] = {
        "client-type": "browser",
        "client-os": "unknown",
        "device-type": "unknown",
        "client-name": "unknown",
        "user-agent": event.user_agent,
    }
    if event.is_machine_open:
        info["bot"] = "apple"
    return info


def mailgun(event: DemoEvent, posted_at_ms: int) -> dict[str, Any]:
    """Render ``event`` as a signed Mailgun webhook (``signature`` plus ``event-data``)."""
    message = event.message
    data: dict[str, Any] = {
        "id": _short_id(event.event_id),
        "timestamp": event.at_ms / 1000,
        "log-level": "info",
        "event": _MAILGUN_EVENTS[event.type],
    }
    if event.type == "sent":
        data["method"] = "HTTP"
    elif event.type == "delivered":
        data["delivery-status"] = {"code": 250, "message": "OK", "attempt-no": 1, "tls": True}
    elif event.type == "deferred":
        data.update({"log-level": "warn", "severity": "temporary", "reason": "generic"})
        data["delivery-status"] = {
            "code": 421,
            "message": "4.7.0 Temporary System Problem. Try again later.",
            "attempt-no": event.attempt,
            "retry-seconds": 600,
        }
    elif event.type == "bounced" and event.bounce_type == "hard":
        data.update({"log-level": "error", "severity": "permanent", "reason": "bounce"})
        data["delivery-status"] = {"code": 550, "message": "5.1.1 No Such User Here", "attempt-no": 1}
    elif event.type == "bounced":
        # Mailgun gives up on a mailbox that stays full and reports the message as too old.
        data.update({"log-level": "error", "severity": "permanent", "reason": "old"})
        data["delivery-status"] = {"code": 452, "message": "4.2.2 Mailbox full", "attempt-no": 3}
    elif event.type in ("opened", "clicked"):
        data["ip"] = event.ip
        data["client-info"] = _mailgun_client_info(event)
        if event.type == "clicked":
            data["url"] = event.url
    data["message"] = {"headers": {"message-id": message.message_id}}
    data["recipient"] = message.recipient
    data["recipient-domain"] = message.recipient.rsplit("@", 1)[1]
    data["tags"] = ["product-update"]
    data["user-variables"] = {"campaign_id": message.campaign_id, "workspace_id": message.workspace_id}

    timestamp = str(posted_at_ms // 1000)
    token = _digest(f"token:{event.event_id}:{posted_at_ms}").hex()[:50]
    signature = hmac.new(
        MAILGUN_DEMO_SIGNING_KEY.encode(), (timestamp + token).encode(), hashlib.sha256
    ).hexdigest()
    return {"signature": {"token": token, "timestamp": timestamp, "signature": signature}, "event-data": data}


def _postmark_client(event: DemoEvent) -> dict[str, Any]:
    return {
        "Client": {"Name": "Unknown", "Company": "Unknown", "Family": "Unknown"},
        "OS": {"Name": "Unknown", "Company": "Unknown", "Family": "Unknown"},
        "Platform": "Unknown",
        "UserAgent": event.user_agent,
    }


def postmark(event: DemoEvent) -> dict[str, Any]:
    """Render ``event`` as a Postmark webhook, whose ``RecordType`` names the event."""
    message = event.message
    common = {"MessageID": message.message_id, "MessageStream": "broadcast", "Tag": "product-update"}
    metadata = {"campaign_id": message.campaign_id, "workspace_id": message.workspace_id}
    bounce_id = int.from_bytes(_digest(event.event_id)[:4], "big")
    if event.type == "delivered":
        data: dict[str, Any] = {
            "RecordType": "Delivery",
            "ServerID": _POSTMARK_SERVER_ID,
            **common,
            "Recipient": message.recipient,
            "DeliveredAt": _iso_seconds(event.at_ms),
            "Details": "smtp;250 2.0.0 OK",
        }
    elif event.type == "deferred":
        # Postmark reports a delayed delivery that it still retries as a "Transient" bounce.
        data = {
            "RecordType": "Bounce",
            "ID": bounce_id,
            "Type": "Transient",
            "TypeCode": 2,
            "Name": "Message delayed/Undeliverable",
            "ServerID": _POSTMARK_SERVER_ID,
            **common,
            "Description": "The server could not temporarily deliver your message (ex: Message is delayed due to "
            "network troubles).",
            "Details": "smtp;421 4.4.1 Unable to connect to remote host",
            "Email": message.recipient,
            "From": message.content.sender,
            "BouncedAt": _iso_postmark_bounce(event.at_ms),
            "DumpAvailable": False,
            "Inactive": False,
            "CanActivate": True,
            "Subject": message.content.subject,
        }
    elif event.type == "bounced":
        hard = event.bounce_type == "hard"
        data = {
            "RecordType": "Bounce",
            "ID": bounce_id,
            "Type": "HardBounce" if hard else "SoftBounce",
            "TypeCode": 1 if hard else 4096,
            "Name": "Hard bounce" if hard else "Soft bounce/Undeliverable",
            "ServerID": _POSTMARK_SERVER_ID,
            **common,
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
            if hard
            else "Unable to temporarily deliver this email.",
            "Details": "smtp;550 5.1.1 user unknown" if hard else "smtp;452 4.2.2 mailbox full",
            "Email": message.recipient,
            "From": message.content.sender,
            "BouncedAt": _iso_postmark_bounce(event.at_ms),
            "DumpAvailable": False,
            "Inactive": hard,
            "CanActivate": True,
            "Subject": message.content.subject,
        }
    elif event.type == "opened":
        data = {
            "RecordType": "Open",
            "FirstOpen": event.first_open,
            **_postmark_client(event),
            "ReadSeconds": 6,
            **common,
            "ReceivedAt": _iso_seconds(event.at_ms),
            "Recipient": message.recipient,
        }
    elif event.type == "clicked":
        data = {
            "RecordType": "Click",
            "ClickLocation": "HTML",
            **_postmark_client(event),
            "OriginalLink": event.url,
            **common,
            "ReceivedAt": _iso_seconds(event.at_ms),
            "Recipient": message.recipient,
        }
    elif event.type == "spam_complaint":
        data = {
            "RecordType": "SpamComplaint",
            "ID": bounce_id,
            "Type": "SpamComplaint",
            "TypeCode": 100001,
            "Name": "Spam complaint",
            "ServerID": _POSTMARK_SERVER_ID,
            **common,
            "Description": "The subscriber explicitly marked this message as spam.",
            "Email": message.recipient,
            "From": message.content.sender,
            "BouncedAt": _iso_postmark_bounce(event.at_ms),
            "DumpAvailable": False,
            "Inactive": True,
            "CanActivate": False,
            "Subject": message.content.subject,
        }
    elif event.type == "unsubscribed":
        data = {
            "RecordType": "SubscriptionChange",
            "ServerID": _POSTMARK_SERVER_ID,
            **common,
            "ChangedAt": _iso_seconds(event.at_ms),
            "Recipient": message.recipient,
            "Origin": "Recipient",
            "SuppressSending": True,
            "SuppressionReason": "ManualSuppression",
        }
    else:
        raise ValueError(f"Postmark has no webhook for {event.type} events")
    data["Metadata"] = metadata
    return data


def _ses_mail(event: DemoEvent) -> dict[str, Any]:
    message = event.message
    return {
        "timestamp": _iso_ms(message.sent_at_ms),
        "source": message.content.sender,
        "sourceArn": f"arn:aws:ses:{_SES_REGION}:{_SES_ACCOUNT}:identity/shop.example",
        "sendingAccountId": _SES_ACCOUNT,
        "messageId": message.message_id,
        "destination": [message.recipient],
        "headersTruncated": False,
        "tags": {
            "ses:configuration-set": ["demo-events"],
            "ses:from-domain": ["shop.example"],
            "campaign_id": [message.campaign_id],
            "workspace_id": [message.workspace_id],
        },
    }


def ses(event: DemoEvent) -> dict[str, Any]:
    """Render ``event`` as an Amazon SES event-publishing record."""
    message = event.message
    at = _iso_ms(event.at_ms)
    recipient = message.recipient
    feedback_id = f"0102019a{_digest(event.event_id).hex()[:40]}-000000"
    record: dict[str, Any]
    if event.type == "sent":
        record = {"eventType": "Send", "mail": _ses_mail(event), "send": {}}
    elif event.type == "delivered":
        record = {
            "eventType": "Delivery",
            "mail": _ses_mail(event),
            "delivery": {
                "timestamp": at,
                "processingTimeMillis": event.at_ms - message.sent_at_ms,
                "recipients": [recipient],
                "smtpResponse": "250 2.0.0 OK",
                "reportingMTA": "b224-12.smtp-out.eu-west-1.amazonses.com",
            },
        }
    elif event.type == "deferred":
        record = {
            "eventType": "DeliveryDelay",
            "mail": _ses_mail(event),
            "deliveryDelay": {
                "timestamp": at,
                "delayType": "TransientCommunicationFailure",
                "expirationTime": _iso_ms(message.sent_at_ms + 14 * 3600 * 1000),
                "delayedRecipients": [
                    {
                        "emailAddress": recipient,
                        "status": "4.4.1",
                        "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                    }
                ],
            },
        }
    elif event.type == "bounced":
        hard = event.bounce_type == "hard"
        record = {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent" if hard else "Transient",
                "bounceSubType": "General" if hard else "MailboxFull",
                "bouncedRecipients": [
                    {
                        "emailAddress": recipient,
                        "action": "failed",
                        "status": "5.1.1" if hard else "4.2.2",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown"
                        if hard
                        else "smtp; 452 4.2.2 mailbox full",
                    }
                ],
                "timestamp": at,
                "feedbackId": feedback_id,
                "reportingMTA": "dsn; b224-12.smtp-out.eu-west-1.amazonses.com",
            },
            "mail": _ses_mail(event),
        }
    elif event.type == "opened":
        record = {
            "eventType": "Open",
            "mail": _ses_mail(event),
            "open": {"ipAddress": event.ip, "timestamp": at, "userAgent": event.user_agent},
        }
    elif event.type == "clicked":
        record = {
            "eventType": "Click",
            "click": {
                "ipAddress": event.ip,
                "link": event.url,
                "timestamp": at,
                "userAgent": event.user_agent,
            },
            "mail": _ses_mail(event),
        }
    elif event.type == "spam_complaint":
        record = {
            "eventType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": at,
                "feedbackId": feedback_id,
                "complaintFeedbackType": "abuse",
                "arrivalDate": at,
            },
            "mail": _ses_mail(event),
        }
    elif event.type == "unsubscribed":
        record = {
            "eventType": "Subscription",
            "mail": _ses_mail(event),
            "subscription": {
                "contactList": "shop-customers",
                "timestamp": at,
                "source": "UnsubscribeHeader",
                "newTopicPreferences": {"unsubscribeAll": True},
                "oldTopicPreferences": {"unsubscribeAll": False},
            },
        }
    else:
        raise ValueError(f"SES has no event record for {event.type} events")
    return record


def sns_notification(record: dict[str, Any], event: DemoEvent, posted_at_ms: int) -> dict[str, Any]:
    """Wrap an SES record in the Amazon SNS notification that carries it to an HTTPS endpoint.

    The SNS message id comes from the event id, so a re-sent event gets a new one.
    The signature is a placeholder and does not verify against any certificate.
    """
    subscription = f"{_SNS_TOPIC_ARN}:{event.event_id}"
    return {
        "Type": "Notification",
        "MessageId": event.event_id,
        "TopicArn": _SNS_TOPIC_ARN,
        "Message": json.dumps(record, separators=(",", ":")),
        "Timestamp": _iso_ms(posted_at_ms),
        "SignatureVersion": "1",
        "Signature": base64.b64encode(_digest(f"sns:{event.event_id}") * 8).decode(),
        "SigningCertURL": f"https://sns.{_SES_REGION}.amazonaws.com/SimpleNotificationService-demo.pem",
        "UnsubscribeURL": f"https://sns.{_SES_REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription}",
    }


def _brevo_event_name(event: DemoEvent) -> str:
    if event.type == "opened":
        if event.is_machine_open:
            return "proxy_open"
        return "unique_opened" if event.first_open else "opened"
    if event.type == "bounced":
        return "hard_bounce" if event.bounce_type == "hard" else "soft_bounce"
    names = {
        "sent": "request",
        "delivered": "delivered",
        "deferred": "deferred",
        "clicked": "click",
        "spam_complaint": "complaint",
        "unsubscribed": "unsubscribed",
    }
    return names[event.type]


def brevo(event: DemoEvent) -> dict[str, Any]:
    """Render ``event`` as a Brevo transactional webhook with ``key:value`` tags."""
    message = event.message
    tags = [f"campaign_id:{message.campaign_id}", f"workspace_id:{message.workspace_id}"]
    seconds = event.at_ms // 1000
    data: dict[str, Any] = {
        "id": _BREVO_WEBHOOK_ID,
        "email": message.recipient,
        "message-id": message.message_id,
        "date": to_datetime(event.at_ms).astimezone(_BREVO_ZONE).strftime("%Y-%m-%d %H:%M:%S"),
        "tags": tags,
        "tag": json.dumps(tags, separators=(",", ":")),
        "event": _brevo_event_name(event),
        "subject": message.content.subject,
        "sending_ip": "198.51.100.40",
        "ts_event": seconds,
        "ts": seconds,
        "ts_epoch": event.at_ms,
    }
    if event.type == "clicked":
        data["link"] = event.url
    elif event.type == "opened":
        data["link"] = ""
    elif event.type == "deferred":
        data["reason"] = "421 4.7.0 Try again later"
    elif event.type == "bounced":
        data["reason"] = "550 5.1.1 user unknown" if event.bounce_type == "hard" else "452 4.2.2 mailbox full"
    return data


def envelope(provider: str, payload: Any) -> dict[str, Any]:
    """Wrap a provider's payload the way mailers publish it on ``email-events``."""
    return {"provider": provider, "payload": payload}
