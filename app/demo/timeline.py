"""Demo messages, their planned outcomes, and the timed events each outcome produces.

A message's :class:`Outcome` describes what happens to it (bounce, opens, clicks
and so on), and :func:`build_events` turns that plan into :class:`DemoEvent`
values with times. Events are format-neutral here: ``app.demo.payloads`` renders
them as canonical JSON or as a provider's webhook payload.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from streams.events import BounceType, EventType

Format = Literal["canonical", "sendgrid", "mailgun", "postmark", "ses", "brevo"]
TimeStyle = Literal["iso", "epoch_ms"]

# The event kinds each format can report. Postmark has no webhook for a send.
# Postmark and SES do not flag proxy (machine) opens. Only our own mailer receives
# replies and flags the clicks that its link-scanner detection caught.
SEND_EVENT_FORMATS: frozenset[str] = frozenset({"canonical", "sendgrid", "mailgun", "ses", "brevo"})
DEFERRAL_FORMATS: frozenset[str] = frozenset({"canonical", "sendgrid", "mailgun", "postmark", "ses", "brevo"})
MACHINE_OPEN_FORMATS: frozenset[str] = frozenset({"canonical", "sendgrid", "mailgun", "brevo"})
REPLY_FORMATS: frozenset[str] = frozenset({"canonical"})
BOT_FLAG_FORMATS: frozenset[str] = frozenset({"canonical"})
# The demo's SES unsubscribes all come from the List-Unsubscribe header, none from a tracked link.
LINK_UNSUBSCRIBE_FORMATS: frozenset[str] = frozenset(
    {"canonical", "sendgrid", "mailgun", "postmark", "brevo"}
)

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

# Every follow-up (a click after an open, a reply, an unsubscribe after its link click)
# happens within this time of the engagement that starts it, so engagement starts are
# drawn at least this long before the end of the data.
_FOLLOW_UP_MARGIN_MS = 12 * HOUR_MS
# Apple Mail Privacy Protection fetches the open pixel when the device next syncs.
_MACHINE_OPEN_DELAY_MS = (15 * SECOND_MS, 30 * MINUTE_MS)
# Link scanners follow the links as soon as the receiving server accepts the message.
_SCANNER_DELAY_MS = (1000, 2000)
# Flagged scanner clicks need no timing signal, so they may come a little later.
_FLAGGED_SCANNER_DELAY_MS = (2 * SECOND_MS, 90 * SECOND_MS)
# A person opens a message at least this long after delivery.
_MIN_HUMAN_DELAY_MS = 90 * SECOND_MS
# How long after that a person first acts, as (low, high) ranges and their weights.
_ENGAGEMENT_DELAYS_MS = ((0, HOUR_MS), (HOUR_MS, 6 * HOUR_MS), (6 * HOUR_MS, DAY_MS), (DAY_MS, 5 * DAY_MS))
_ENGAGEMENT_WEIGHTS = (40, 25, 20, 15)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

HUMAN_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Safari/537.36"
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.6 Safari/605.1.15"
    ),
    (
        "Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/142.0.0.0 Mobile Safari/537.36"
    ),
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.18129; Pro)",
    "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Thunderbird/140.2.0",
)
# Apple's privacy proxy fetches the pixel with exactly this user agent.
MACHINE_OPEN_USER_AGENT = "Mozilla/5.0"
SCANNER_USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36"
    ),
    "Mozilla/5.0 (compatible; LinkScanner/2.4; +https://scanner.example/about)",
)


@dataclass(frozen=True, slots=True)
class Content:
    """Campaign content: subject, sender, tracked links and the unsubscribe page."""

    subject: str
    sender: str
    links: tuple[str, ...]
    unsubscribe_url: str


@dataclass(frozen=True, slots=True)
class DemoMessage:
    """One email sent to one recipient, with the format its events are published in."""

    workspace_id: str
    campaign_id: str
    message_id: str
    recipient: str
    format: Format
    sent_at_ms: int
    content: Content
    time_style: TimeStyle = "iso"
    via_sns: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The planned fate of one message. Counts are numbers of events, not flags."""

    lost_send_event: bool = False
    deferrals: int = 0
    bounce: Literal["hard", "soft"] | None = None
    human_opens: int = 0
    clicks: int = 0
    machine_opens: int = 0
    scanner_clicks: int = 0
    scanner_flagged: bool = False
    unsubscribe: Literal["link", "header"] | None = None
    spam_complaint: bool = False
    reply: bool = False


@dataclass(frozen=True, slots=True)
class DemoEvent:
    """One event of a message, before it is rendered in its message's format."""

    message: DemoMessage
    type: EventType
    at_ms: int
    event_id: str
    bounce_type: BounceType | None = None
    url: str | None = None
    user_agent: str | None = None
    ip: str | None = None
    is_machine_open: bool = False
    is_bot_click: bool = False
    first_open: bool = False
    attempt: int = 0


def new_event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def to_datetime(epoch_ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=epoch_ms)


def from_datetime(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def _uniform_ms(rng: random.Random, bounds: tuple[int, int]) -> int:
    return rng.randint(bounds[0], bounds[1])


def _engagement_delay_ms(rng: random.Random, available_ms: int) -> int:
    """Draw how long after delivery a person acts: most within hours, a tail over days.

    A draw that would end after the data ends is drawn again, so late openers are
    fewer but every planned engagement still happens. Only integer draws are used,
    because floating-point logarithms may differ in the last bit between C libraries,
    which would change the generated files.
    """
    if available_ms < _MIN_HUMAN_DELAY_MS:
        raise ValueError(
            f"only {available_ms} ms left before the end of the data; move the send window earlier"
        )
    while True:
        low, high = rng.choices(_ENGAGEMENT_DELAYS_MS, weights=_ENGAGEMENT_WEIGHTS)[0]
        delay = _MIN_HUMAN_DELAY_MS + rng.randint(low, high)
        if delay <= available_ms:
            return delay


def _ip(rng: random.Random) -> str:
    # Documentation address blocks (RFC 5737), so no real host is named.
    block = rng.choice(("192.0.2", "198.51.100", "203.0.113"))
    return f"{block}.{rng.randint(1, 254)}"


def build_events(message: DemoMessage, outcome: Outcome, rng: random.Random, end_ms: int) -> list[DemoEvent]:
    """Return the events of one message in time order, all before ``end_ms``."""
    events: list[DemoEvent] = []

    def add(event_type: EventType, at_ms: int, **fields: Any) -> None:
        events.append(DemoEvent(message, event_type, at_ms, new_event_id(rng), **fields))

    # 1. Hand-over to the receiving server, with retries after temporary failures.
    if not outcome.lost_send_event and message.format in SEND_EVENT_FORMATS:
        add("sent", message.sent_at_ms)
    at = message.sent_at_ms + rng.randint(400, 6 * SECOND_MS)
    for attempt in range(1, outcome.deferrals + 1):
        add("deferred", at, attempt=attempt)
        at += (5 * MINUTE_MS) * 2 ** (attempt - 1) + rng.randint(0, 2 * MINUTE_MS)
    if outcome.bounce is not None:
        add("bounced", at, bounce_type=outcome.bounce)
        return events
    delivered_at = at
    add("delivered", delivered_at)
    latest_start = end_ms - _FOLLOW_UP_MARGIN_MS - delivered_at

    # 2. Machine opens and link scanners act on their own, right after delivery.
    machine_at = delivered_at
    for _ in range(outcome.machine_opens):
        machine_at += _uniform_ms(rng, _MACHINE_OPEN_DELAY_MS)
        add("opened", machine_at, user_agent=MACHINE_OPEN_USER_AGENT, ip=_ip(rng), is_machine_open=True)
    scanner_delay = _FLAGGED_SCANNER_DELAY_MS if outcome.scanner_flagged else _SCANNER_DELAY_MS
    scanner_agent = rng.choice(SCANNER_USER_AGENTS)
    for index in range(outcome.scanner_clicks):
        add(
            "clicked",
            delivered_at + _uniform_ms(rng, scanner_delay),
            url=message.content.links[index % len(message.content.links)],
            user_agent=scanner_agent,
            ip=_ip(rng),
            is_bot_click=outcome.scanner_flagged,
        )

    # 3. The recipient: opens, clicks, then unsubscribes, complains or replies.
    agent = rng.choice(HUMAN_USER_AGENTS)
    ip = _ip(rng)
    first_open_at: int | None = None
    open_at = delivered_at
    for index in range(outcome.human_opens):
        if index == 0:
            open_at = delivered_at + _engagement_delay_ms(rng, latest_start)
            first_open_at = open_at
        else:
            open_at += rng.randint(2 * MINUTE_MS, 3 * HOUR_MS)
        add("opened", open_at, user_agent=agent, ip=ip, first_open=index == 0)

    # A click without any open event is a reader whose client blocks images.
    click_at = (
        first_open_at if first_open_at is not None else delivered_at + _engagement_delay_ms(rng, latest_start)
    )
    for _ in range(outcome.clicks):
        click_at += rng.randint(5 * SECOND_MS, 5 * MINUTE_MS)
        add("clicked", click_at, url=rng.choice(message.content.links), user_agent=agent, ip=ip)

    if outcome.unsubscribe == "link" and first_open_at is not None:
        link_at = first_open_at + rng.randint(10 * SECOND_MS, 2 * MINUTE_MS)
        token = f"{rng.getrandbits(48):012x}"
        add("clicked", link_at, url=f"{message.content.unsubscribe_url}?t={token}", user_agent=agent, ip=ip)
        add("unsubscribed", link_at + rng.randint(2 * SECOND_MS, 15 * SECOND_MS))
    elif outcome.unsubscribe is not None:
        add("unsubscribed", delivered_at + _engagement_delay_ms(rng, latest_start))

    if outcome.spam_complaint:
        if first_open_at is not None:
            add("spam_complaint", first_open_at + rng.randint(30 * SECOND_MS, HOUR_MS))
        else:
            add("spam_complaint", delivered_at + _engagement_delay_ms(rng, latest_start))

    if outcome.reply and first_open_at is not None:
        add("replied", first_open_at + rng.randint(2 * MINUTE_MS, 10 * HOUR_MS))

    events.sort(key=lambda event: event.at_ms)
    return events
