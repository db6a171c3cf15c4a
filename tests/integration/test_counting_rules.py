"""One test per counting rule, through Kafka, the worker, chDB and the API."""

from __future__ import annotations

import random

import pytest

from tests.integration.helpers import at, event, metrics_of, summary_of

pytestmark = pytest.mark.integration


async def test_range_selects_messages_by_send_time(pipeline, workspace):
    ws = workspace
    events = [
        # m1 is sent on day 0 and opened on day 21; the open arrives first.
        event(ws, "c1", "m1", "opened", at(days=21)),
        event(ws, "c1", "m1", "sent", at(days=0)),
        event(ws, "c1", "m1", "delivered", at(minutes=1)),
        # m2 is sent on day 18.
        event(ws, "c1", "m2", "sent", at(days=18)),
        event(ws, "c1", "m2", "delivered", at(days=18, minutes=1)),
        event(ws, "c2", "m3", "sent", at(days=0)),
    ]
    await pipeline.produce(events)
    await pipeline.wait_consumed()

    early = {"start": at(days=-1), "end": at(days=10)}
    data = pipeline.compare(ws, ["c1", "c2"], time_range=early)
    # Only m1 was sent in [day -1, day 10); its day-21 open still counts.
    assert summary_of(data, "c1")["emails_sent"] == 1
    assert summary_of(data, "c1")["emails_opened"] == 1
    assert metrics_of(data, "c1")["open_rate"] == 100.0

    late = {"start": at(days=15), "end": at(days=30)}
    data = pipeline.compare(ws, ["c1", "c2"], time_range=late)
    # Only m2 was sent in [day 15, day 30); the day-21 open belongs to m1.
    assert summary_of(data, "c1")["emails_sent"] == 1
    assert summary_of(data, "c1")["emails_opened"] == 0
    assert summary_of(data, "c2")["emails_sent"] == 0


async def test_duplicates_and_resent_ids_count_once(pipeline, workspace):
    ws = workspace
    delivered = event(ws, "c1", "m1", "delivered", at(minutes=1))
    opened = event(ws, "c1", "m1", "opened", at(minutes=30))
    resent_open = {**opened, "event_id": "provider-resent-id"}
    second_open = event(ws, "c1", "m1", "opened", at(minutes=90))
    other = event(ws, "c2", "m2", "delivered", at(minutes=1))
    stream = [delivered, delivered, opened, resent_open, second_open, other]

    await pipeline.produce(stream)
    await pipeline.wait_consumed()
    first = pipeline.compare(ws, ["c1", "c2"])

    # m1 opened twice (30 and 90 minutes): one opened message, two distinct
    # open events; the exact duplicate and the re-sent id add nothing.
    assert summary_of(first, "c1")["emails_delivered"] == 1
    assert summary_of(first, "c1")["emails_opened"] == 1
    assert summary_of(first, "c1")["total_opens"] == 2

    shuffled = stream * 2
    random.Random(7).shuffle(shuffled)
    await pipeline.produce(shuffled)
    await pipeline.wait_consumed()
    assert pipeline.compare(ws, ["c1", "c2"])["comparison"] == first["comparison"]


async def test_later_steps_imply_earlier_ones(pipeline, workspace):
    ws = workspace
    events = [
        event(ws, "c1", "m1", "opened", at(minutes=20)),
        event(ws, "c1", "m2", "clicked", at(minutes=30), url="https://shop.example/sale"),
        event(ws, "c1", "m3", "bounced", at(minutes=1), bounce_type="hard"),
        event(ws, "c1", "m4", "replied", at(minutes=50)),
        event(ws, "c1", "m5", "spam_complaint", at(minutes=70)),
        event(ws, "c2", "m6", "sent", at()),
    ]
    await pipeline.produce(events)
    await pipeline.wait_consumed()
    summary = summary_of(pipeline.compare(ws, ["c1", "c2"]), "c1")

    # Five messages with one event each, so all five count as sent. The open,
    # click, reply and complaint (m1, m2, m4, m5) imply delivered. The click
    # of m2 implies an open, so opened is m1 and m2.
    assert summary["emails_sent"] == 5
    assert summary["emails_delivered"] == 4
    assert summary["emails_bounced"] == 1
    assert summary["emails_opened"] == 2
    assert summary["emails_clicked"] == 1
    assert summary["emails_replied"] == 1
    assert summary["spam_complaints"] == 1


async def test_soft_bounce_then_delivery_is_delivered(pipeline, workspace):
    ws = workspace
    events = [
        event(ws, "c1", "m1", "bounced", at(minutes=1), bounce_type="soft"),
        event(ws, "c1", "m1", "delivered", at(minutes=20)),
        event(ws, "c2", "m2", "bounced", at(minutes=1), bounce_type="hard"),
    ]
    await pipeline.produce(events)
    await pipeline.wait_consumed()
    data = pipeline.compare(ws, ["c1", "c2"])

    # m1 was retried and delivered, so it is delivered and not bounced.
    assert summary_of(data, "c1")["emails_delivered"] == 1
    assert summary_of(data, "c1")["emails_bounced"] == 0
    assert summary_of(data, "c2")["emails_bounced"] == 1


async def test_machine_opens_and_bot_clicks_apart(pipeline, workspace):
    ws = workspace
    events = [
        # m1: Apple Mail Privacy Protection open, flagged by the provider.
        event(ws, "c1", "m1", "delivered", at()),
        event(ws, "c1", "m1", "opened", at(minutes=1), is_machine_open=True),
        # m2: a link scanner clicks one second after delivery.
        event(ws, "c1", "m2", "delivered", at()),
        event(ws, "c1", "m2", "clicked", at(minutes=1 / 60), url="https://shop.example/a"),
        # m3: a click the provider flags as a bot.
        event(ws, "c1", "m3", "delivered", at()),
        event(ws, "c1", "m3", "clicked", at(minutes=40), url="https://shop.example/a", is_bot_click=True),
        # m4: an unsubscribe-link click and the unsubscribe it led to; no delivery event.
        event(ws, "c1", "m4", "clicked", at(minutes=60), url="https://mail.example/unsubscribe?u=4"),
        event(ws, "c1", "m4", "unsubscribed", at(minutes=61)),
        # m5: a person clicks ten minutes after delivery.
        event(ws, "c1", "m5", "delivered", at()),
        event(ws, "c1", "m5", "clicked", at(minutes=10), url="https://shop.example/b", user_agent="Mozilla/5.0 (Macintosh) Safari/605"),
        # m6: an open by a bare "Mozilla/5.0" agent, Apple's prefetcher.
        event(ws, "c1", "m6", "opened", at(minutes=5), user_agent="Mozilla/5.0"),
        event(ws, "c2", "m7", "sent", at()),
    ]
    await pipeline.produce(events)
    await pipeline.wait_consumed()
    data = pipeline.compare(ws, ["c1", "c2"])
    summary = summary_of(data, "c1")

    # Machine opens: m1 (flag) and m6 (user agent). Bot clicks: m2 (timing)
    # and m3 (flag). Only m5 clicked as a person, which implies its open.
    # Delivered: all six, m4 by its unsubscribe-link click and m6 by its open.
    assert summary["machine_opens"] == 2
    assert summary["bot_clicks"] == 2
    assert summary["emails_clicked"] == 1
    assert summary["emails_opened"] == 1
    assert summary["emails_delivered"] == 6
    assert summary["unsubscribes"] == 1
    # Distinct raw click events leave out the unsubscribe-link click: m2, m3, m5.
    assert summary["total_clicks"] == 3


async def test_rates_are_percentages_or_null(pipeline, workspace):
    ws = workspace
    events = [event(ws, "c1", f"m{i}", "bounced", at(minutes=i), bounce_type="hard") for i in range(3)]
    events += [event(ws, "c2", "n1", "delivered", at()), event(ws, "c2", "n1", "opened", at(minutes=9))]
    events += [event(ws, "c2", f"n{i}", "delivered", at()) for i in range(2, 4)]
    await pipeline.produce(events)
    await pipeline.wait_consumed()
    data = pipeline.compare(ws, ["c1", "c2"])

    # c1 delivered nothing: rates over delivered are null, delivery_rate is 0.
    assert metrics_of(data, "c1")["open_rate"] is None
    assert metrics_of(data, "c1")["delivery_rate"] == 0.0
    assert metrics_of(data, "c1")["bounce_rate"] == 100.0
    # c2 opened 1 of 3 delivered: 33.333... rounds to 33.33.
    assert metrics_of(data, "c2")["open_rate"] == 33.33
    open_test = next(t for t in data["statistical_significance"] if t["metric"] == "open_rate")
    assert open_test["p_value"] is None
    assert open_test["is_significant"] is False
    assert open_test["reason"]
