"""Synthetic canonical events for the ingestion benchmark.

The stream looks like a few mailers' traffic: 20 campaigns over three
workspaces, ids shaped like real ones and ISO 8601 times with milliseconds.
Each message has its own lifecycle: sent, then delivered or bounced, then
opens, clicks and the odd unsubscribe. The content of every event is unique,
so the number of distinct event keys in ClickHouse must equal the number of
events produced.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

WORKSPACES = ("acme", "globex", "initech")
CAMPAIGN_THEMES = (
    "newsletter", "black-friday", "cyber-monday", "product-launch", "webinar-invite", "onboarding-day-3",
    "winback", "price-update", "holiday-gift-guide", "year-in-review",
)
CAMPAIGN_COUNT = 20
FIRST_NAMES = ("ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jon", "kai", "lena")
DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "contoso.example", "fabrikam.example")
BROWSER_USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
)
# Apple Mail Privacy Protection fetches images with this bare user agent.
PREFETCH_USER_AGENT = "Mozilla/5.0"
PROVIDERS = ("sendgrid", "ses", "mailgun", "postmark")
SEND_WINDOW_SECONDS = 3 * 3600
CAMPAIGN_STAGGER_MS = 7 * 60_000


@dataclass(frozen=True, slots=True)
class Campaign:
    workspace_id: str
    campaign_id: str
    provider: str
    start_ms: int
    links: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """One canonical event as a Kafka message: key ``message_id``, value compact JSON."""

    occurred_at_ms: int
    key: bytes
    value: bytes


def _campaigns(send_start: dt.datetime) -> list[Campaign]:
    start_ms = int(send_start.timestamp() * 1000)
    campaigns = []
    for index in range(CAMPAIGN_COUNT):
        workspace_id = WORKSPACES[index % len(WORKSPACES)]
        theme = CAMPAIGN_THEMES[index % len(CAMPAIGN_THEMES)]
        campaign_id = f"{theme}-2026-{11 + index // len(CAMPAIGN_THEMES)}"
        site = f"https://www.{workspace_id}.example"
        links = (f"{site}/{theme}?utm_campaign={campaign_id}", f"{site}/pricing", f"{site}/blog/{theme}",
                 f"{site}/unsubscribe?c={campaign_id}")
        campaigns.append(Campaign(workspace_id, campaign_id, PROVIDERS[index % len(PROVIDERS)],
                                  start_ms + index * CAMPAIGN_STAGGER_MS, links))
    return campaigns


def _iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _message_lifecycle(rng: random.Random, campaign: Campaign) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield ``(occurred_at_ms, extra fields)`` for every event of one message, in time order.

    Rates are typical of marketing mail: 2 % bounce, 40 % of delivered messages are
    opened (a quarter of them by a privacy prefetcher), a quarter of openers click,
    and 0.5 % unsubscribe. Each later event is at least a second after the previous
    one, which keeps every event's content (and so its key) unique.
    """
    sent_ms = campaign.start_ms + rng.randrange(SEND_WINDOW_SECONDS * 1000)
    yield sent_ms, {"type": "sent"}

    if rng.random() < 0.02:
        bounce_type = "hard" if rng.random() < 0.7 else "soft"
        yield sent_ms + rng.randrange(1_000, 30_000), {"type": "bounced", "bounce_type": bounce_type}
        return

    now_ms = sent_ms + rng.randrange(1_000, 20_000)
    if rng.random() < 0.01:
        yield now_ms, {"type": "deferred"}
        now_ms += rng.randrange(60_000, 900_000)
    yield now_ms, {"type": "delivered"}

    if rng.random() >= 0.40:
        return
    if rng.random() < 0.25:
        now_ms += rng.randrange(1_000, 10_000)
        yield now_ms, {"type": "opened", "user_agent": PREFETCH_USER_AGENT}
    agent = rng.choice(BROWSER_USER_AGENTS)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        now_ms += int(rng.expovariate(1 / 3_600_000)) + 1_000
        yield now_ms, {"type": "opened", "user_agent": agent}

    if rng.random() < 0.25:
        for _ in range(rng.choice((1, 1, 2))):
            now_ms += rng.randrange(5_000, 600_000)
            yield now_ms, {"type": "clicked", "url": rng.choice(campaign.links[:3]), "user_agent": agent}
    if rng.random() < 0.02:
        now_ms += rng.randrange(5_000, 60_000)
        yield now_ms, {"type": "clicked", "url": campaign.links[3], "user_agent": agent}
        now_ms += rng.randrange(1_000, 5_000)
        yield now_ms, {"type": "unsubscribed"}


def generate_events(count: int, send_start: dt.datetime, seed: int = 20261102) -> list[EncodedEvent]:
    """Return ``count`` distinct canonical events, sorted by time, encoded as Kafka messages.

    Campaigns start sending at ``send_start`` (timezone-aware), seven minutes apart.
    The same arguments always give the same bytes.
    """
    rng = random.Random(seed)
    campaigns = _campaigns(send_start)
    events: list[EncodedEvent] = []
    while len(events) < count:
        campaign = rng.choice(campaigns)
        message_id = f"{uuid.UUID(int=rng.getrandbits(128), version=4).hex}@{campaign.provider}.mailer.example"
        recipient = f"{rng.choice(FIRST_NAMES)}.{rng.randrange(100_000):05d}@{rng.choice(DOMAINS)}"
        for occurred_at_ms, fields in _message_lifecycle(rng, campaign):
            event = {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "occurred_at": _iso(occurred_at_ms),
                "workspace_id": campaign.workspace_id,
                "campaign_id": campaign.campaign_id,
                "message_id": message_id,
                "recipient": recipient,
                "provider": campaign.provider,
                **fields,
            }
            # Each orjson 3.13 result keeps a 4 KiB allocation behind it. The copy
            # is exact-sized, so 200,000 held events take about 70 MB, not 800 MB.
            value = bytes(memoryview(orjson.dumps(event)))
            events.append(EncodedEvent(occurred_at_ms, message_id.encode(), value))
            if len(events) == count:
                break
    events.sort(key=lambda event: event.occurred_at_ms)
    return events


def batch_values(events: list[EncodedEvent], batch_size: int) -> list[bytes]:
    """Join runs of ``batch_size`` encoded events into JSON arrays, one per message value."""
    return [
        b"[" + b",".join(event.value for event in events[start:start + batch_size]) + b"]"
        for start in range(0, len(events), batch_size)
    ]
