"""The whole path on a mixed stream: canonical and provider payloads, duplicates,
shuffled order, machine opens, bot clicks and malformed messages."""

from __future__ import annotations

import asyncio
import base64
import random
import uuid

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.helpers import BASE, at, event, summary_of

pytestmark = pytest.mark.integration

EPOCH = int(BASE.timestamp())


def sendgrid_batch(ws: str, campaign: str, message: str) -> dict:
    meta = {"campaign_id": campaign, "workspace_id": ws, "email": f"{message}@example.com", "sg_message_id": message}
    return {
        "provider": "sendgrid",
        "payload": [
            {**meta, "event": "processed", "timestamp": EPOCH, "sg_event_id": f"{message}-p"},
            {**meta, "event": "delivered", "timestamp": EPOCH + 5, "sg_event_id": f"{message}-d"},
            {**meta, "event": "open", "timestamp": EPOCH + 600, "sg_event_id": f"{message}-o", "sg_machine_open": True},
            {**meta, "event": "open", "timestamp": EPOCH + 900, "sg_event_id": f"{message}-o2"},
        ],
    }


def mailgun_click(ws: str, campaign: str, message: str, seconds: int) -> dict:
    return {
        "provider": "mailgun",
        "payload": {
            "signature": {"token": "t", "timestamp": str(EPOCH), "signature": "s"},
            "event-data": {
                "id": f"mg-{message}-{seconds}",
                "timestamp": EPOCH + seconds,
                "event": "clicked",
                "url": "https://shop.example/offer",
                "recipient": f"{message}@example.com",
                "message": {"headers": {"message-id": message}},
                "client-info": {"user-agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0"},
                "user-variables": {"campaign_id": campaign, "workspace_id": ws},
            },
        },
    }


def postmark_delivery(ws: str, campaign: str, message: str) -> dict:
    return {
        "provider": "postmark",
        "payload": {
            "RecordType": "Delivery",
            "MessageID": message,
            "Recipient": f"{message}@example.com",
            "DeliveredAt": at(minutes=1),
            "Metadata": {"campaign_id": campaign, "workspace_id": ws},
        },
    }


MALFORMED = [
    (b"this is not json", "invalid_json"),
    (b"null", "not_an_object"),
    (orjson.dumps({"provider": "carrier-pigeon", "payload": {}}), "unknown_provider"),
    (orjson.dumps({"type": "teleported", "occurred_at": "2026-11-02T09:00:00Z", "workspace_id": "x",
                   "campaign_id": "c", "message_id": "m"}), "unknown_type"),
    (orjson.dumps({"type": "opened", "occurred_at": "yesterday-ish", "workspace_id": "x",
                   "campaign_id": "c", "message_id": "m"}), "invalid_time"),
    (orjson.dumps({"type": "opened", "occurred_at": "2026-11-02T09:00:00Z", "campaign_id": "c",
                   "message_id": "m"}), "missing_field"),
    (orjson.dumps({"type": "opened", "occurred_at": "2026-11-02T09:00:00Z", "workspace_id": ["x"],
                   "campaign_id": "c", "message_id": "m"}), "invalid_field"),
]


async def read_dead_letters(bootstrap_servers: str, wanted: set[bytes], timeout: float = 30.0) -> list[dict]:
    """Read the dead-letter topic until every value in ``wanted`` appeared in it."""
    consumer = AIOKafkaConsumer(
        "email-events-dlq",
        bootstrap_servers=bootstrap_servers,
        group_id=f"dlq-reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    await consumer.start()
    found: list[dict] = []
    try:
        async with asyncio.timeout(timeout):
            while not wanted <= {base64.b64decode(r["value_base64"]) for r in found if r["value_base64"]}:
                batches = await consumer.getmany(timeout_ms=500)
                found += [orjson.loads(m.value) for records in batches.values() for m in records]
    finally:
        await consumer.stop()
    return found


async def test_mixed_stream_counts_exactly(pipeline, workspace):
    ws = workspace
    stream: list = []
    # c1: 20 canonical messages, all delivered except m15, which bounced hard.
    # A person opened m0-m9, and m0-m4 twice (30 and 60 minutes after delivery).
    # A person clicked m0-m2 after 20 minutes, and a scanner clicked m3 after 1 second.
    # Only a machine opened m10-m14.
    for i in range(20):
        message = f"{ws}-c1-m{i}"
        stream.append(event(ws, "c1", message, "sent", at()))
        if i == 15:
            stream.append(event(ws, "c1", message, "bounced", at(minutes=1), bounce_type="hard"))
            continue
        stream.append(event(ws, "c1", message, "delivered", at(minutes=1)))
        if i < 10:
            stream.append(event(ws, "c1", message, "opened", at(minutes=31)))
        if i < 5:
            stream.append(event(ws, "c1", message, "opened", at(minutes=61)))
        if i < 3:
            stream.append(event(ws, "c1", message, "clicked", at(minutes=21), url="https://shop.example/x"))
        if i == 3:
            stream.append(event(ws, "c1", message, "clicked", at(minutes=1 + 1 / 60), url="https://shop.example/x"))
        if 10 <= i < 15:
            stream.append(event(ws, "c1", message, "opened", at(minutes=2), is_machine_open=True))
    # c2: three messages through providers. SendGrid reports s0 and s1 as sent,
    # delivered, machine-opened at 10 minutes and opened by a person at 15.
    # Postmark reports p0 delivered, and Mailgun a human click at 30 minutes,
    # which implies an open.
    stream += [sendgrid_batch(ws, "c2", f"{ws}-s0"), sendgrid_batch(ws, "c2", f"{ws}-s1")]
    stream += [postmark_delivery(ws, "c2", f"{ws}-p0"), mailgun_click(ws, "c2", f"{ws}-p0", 1800)]
    # Exact duplicates and re-sent provider ids of a few events.
    stream += stream[:5]
    stream += [{**stream[2], "event_id": "resent-by-provider"}]
    random.Random(1).shuffle(stream)
    stream += [value for value, _ in MALFORMED]

    await pipeline.produce(stream)
    await pipeline.wait_consumed()
    data = pipeline.compare(ws, ["c1", "c2"])
    c1, c2 = summary_of(data, "c1"), summary_of(data, "c2")

    assert c1["emails_sent"] == 20
    assert c1["emails_delivered"] == 19
    assert c1["emails_bounced"] == 1
    assert c1["emails_opened"] == 10
    assert c1["emails_clicked"] == 3
    assert c1["machine_opens"] == 5
    assert c1["bot_clicks"] == 1
    # Opens: m0-m4 twice and m5-m9 once (15 human) plus 5 machine opens.
    assert c1["total_opens"] == 20

    # s0, s1 and p0: three sent and delivered; opened by s0, s1 (human open)
    # and p0 (human click); two machine opens; one click.
    assert c2["emails_sent"] == 3
    assert c2["emails_delivered"] == 3
    assert c2["emails_opened"] == 3
    assert c2["emails_clicked"] == 1
    assert c2["machine_opens"] == 2

    # The malformed messages are in the dead-letter topic with their reasons.
    records = await read_dead_letters(pipeline.bootstrap_servers, {value for value, _ in MALFORMED})
    ours = {base64.b64decode(r["value_base64"]): r for r in records if r["value_base64"]}
    for value, reason in MALFORMED:
        assert ours[value]["reason"] == reason, value
        assert ours[value]["source"]["topic"] == "email-events", value

    # Publishing the whole stream again changes nothing.
    await pipeline.produce(stream)
    await pipeline.wait_consumed()
    assert pipeline.compare(ws, ["c1", "c2"])["comparison"] == data["comparison"]
