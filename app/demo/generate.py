"""Generate the bundled demo data: ``events.ndjson.gz`` and ``campaigns.ndjson``.

Run ``python -m app.demo.generate [--output-dir DIR] [--seed N]``. One seeded
``random.Random`` drives every choice and all times are fixed, so the same seed
gives the same files byte for byte.

All sends fall in the ten days before 2026-11-20T00:00Z, which is also the end
of the data: no event happens after it.

=========================  ========  =====  ==========================================
campaign (workspace demo)  messages  sent   published as
=========================  ========  =====  ==========================================
bf-early-access-a             4,500  11-12  canonical JSON
bf-early-access-b             4,500  11-12  canonical JSON
newsletter-2026-11            3,500  11-10  SendGrid Event Webhook batches
product-update-2026-11        2,500  11-14  SES 1,000 (about half SNS-wrapped),
                                            Mailgun 625, Brevo 500, Postmark 375
=========================  ========  =====  ==========================================

Workspace ``acme`` has one campaign, ``newsletter-2026-11`` (the same id as a
``demo`` campaign, to show that workspaces are isolated), with 300 messages in
canonical JSON whose ``occurred_at`` is epoch milliseconds.

Intended rates in percent. Bounces are of sent messages, the rest of delivered
messages:

=======================  ====  =====  =====  ====  =====  ====  ====
campaign                 open  click  reply  spam  unsub  hard  soft
=======================  ====  =====  =====  ====  =====  ====  ====
bf-early-access-a        42    8.5    0.8    0.08  0.4    1.2   0.6
bf-early-access-b        31    5.0    0.5    0.15  0.6    1.3   0.5
newsletter-2026-11       36    4.8    0      0.1   0.5    1.5   0.8
product-update-2026-11   35    4.6    0      0.1   0.4    1.0   0.5
acme newsletter-2026-11  55    12     2      0     1      1.0   0
=======================  ====  =====  =====  ====  =====  ====  ====

The two ``bf-early-access`` campaigns are an A/B test whose open and click rates
differ clearly. ``newsletter-2026-11`` and ``product-update-2026-11`` differ by
too little for a significance test to tell them apart. Each outcome is given to
exactly ``round(rate * base)`` messages, so counting by the design's rules
(machine opens, scanner clicks and unsubscribe-link clicks left out) gives the
table's rates up to that rounding. The generator never counts its own output:
tests that use this data derive the expected numbers themselves.

Beyond the plain funnel the events contain:

- Hard and soft bounces, soft ones after one or two deferrals, and deferrals
  before a later delivery. Mailgun reports every final failure as permanent, so
  its mailbox-full bounces read as hard.
- Missing send events: about 1 % of canonical messages lack their ``sent``
  event, and Postmark never sends one, so delivery must imply sending.
- Machine opens by Apple Mail Privacy Protection (user agent ``Mozilla/5.0``),
  within half an hour of delivery, on 25-30 % of the messages whose format can
  flag them: canonical ``is_machine_open``, SendGrid ``sg_machine_open``,
  Mailgun ``client-info.bot`` and Brevo ``proxy_open``. Postmark and SES have no
  such flag, so their messages carry no machine opens.
- Link scanners on corporate mailboxes (2-2.5 % of delivered ``demo``
  messages) that click 1-2 seconds after delivery. In canonical JSON about half
  of them are flagged ``is_bot_click`` instead and click up to 90 seconds later.
- Human clicks, a tenth of them from readers whose client blocks images, whose
  messages have clicks but no open event. Human opens and clicks come at least
  90 seconds after delivery.
- Unsubscribes: readers who opened the message click the unsubscribe page (a
  URL containing ``/unsubscribe``) and then unsubscribe; the others use the
  List-Unsubscribe header without a click. SES unsubscribes are all of the
  second kind.
- Replies (canonical JSON only, because no provider reports them) and spam
  complaints.
- Stream effects: about 5 % of events reach the topic 1 minute to 8 hours late,
  so a message's events arrive mostly but not always in time order. About 1 %
  of Kafka messages are exact duplicates (a mailer retrying a publish, a
  provider re-posting a webhook), and about 0.6 % of events are re-sent with
  the same content under a new event id (``event_id``, ``sg_event_id``, Mailgun
  ``id`` or SNS ``MessageId``; Postmark, Brevo and raw SES events carry none,
  so theirs are plain duplicates).

Mailgun payloads are signed with ``payloads.MAILGUN_DEMO_SIGNING_KEY``. SNS
signatures are placeholders that verify against nothing.

Campaign records come twice per campaign, in ``updated_at`` order: ``scheduled``
when the campaign was created and ``sent`` five minutes after its send window
closed.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import gzip
import json
import random
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from app.demo import CAMPAIGNS_FILENAME, EVENTS_FILENAME, payloads
from app.demo.timeline import (
    BOT_FLAG_FORMATS,
    DEFERRAL_FORMATS,
    HOUR_MS,
    LINK_UNSUBSCRIBE_FORMATS,
    MACHINE_OPEN_FORMATS,
    MINUTE_MS,
    REPLY_FORMATS,
    Content,
    DemoEvent,
    DemoMessage,
    Format,
    Outcome,
    TimeStyle,
    build_events,
    from_datetime,
    new_event_id,
    to_datetime,
)

DEFAULT_SEED = 20261120
END_MS = from_datetime(dt.datetime(2026, 11, 20, tzinfo=dt.UTC))

# Stream behaviour, as shares of events or Kafka messages.
RESEND_SHARE = 0.006
DUPLICATE_SHARE = 0.01
# A SendGrid batch closes after 30 seconds of events or at 100 events. These limits are
# an estimate that gives batches of realistic size, not SendGrid's documented limits.
SENDGRID_BATCH_WINDOW_MS = 30_000
SENDGRID_BATCH_MAX_EVENTS = 100

# Of the clickers, the share whose mail client blocks images and so never reports an open.
IMAGE_BLOCKER_SHARE = 0.10
# Of the canonical messages, the share whose sent event the mailer never published.
LOST_SEND_EVENT_SHARE = 0.01
# Of the audience, the share on corporate domains, whose mail gateways run link scanners.
CORPORATE_SHARE = 0.15

# How many events of a kind one message gets, as (count, weight) pairs.
OPENS_PER_OPENER = ((1, 0.65), (2, 0.25), (3, 0.10))
CLICKS_PER_CLICKER = ((1, 0.75), (2, 0.20), (3, 0.05))
MACHINE_OPENS_PER_MESSAGE = ((1, 0.8), (2, 0.2))
DEFERRALS_PER_DEFERRED = ((1, 0.70), (2, 0.25), (3, 0.05))

_CONSUMER_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")
_CORPORATE_DOMAINS = ("northwind.example", "contoso.example", "fabrikam.example")
_FIRST_NAMES = ("ana", "ben", "chloe", "dev", "emma", "farid", "grace", "hugo", "ines", "jon", "kai", "lena")


@dataclass(frozen=True, slots=True)
class Rates:
    """Intended shares of messages.

    Bounces are shares of sent messages, machine opens and deferrals of the
    delivered messages whose format can report them, everything else of delivered
    messages.
    """

    hard_bounce: float
    soft_bounce: float
    deferral: float
    open: float
    click: float
    reply: float
    spam: float
    unsubscribe: float
    machine_open: float
    scanner: float


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    """One campaign of the demo data: its record, its send window, audience and rates."""

    workspace_id: str
    campaign_id: str
    name: str
    created_at: dt.datetime
    send_start: dt.datetime
    send_hours: float
    messages: int
    audience_offset: int
    formats: tuple[tuple[Format, int], ...]
    rates: Rates
    content: Content
    time_style: TimeStyle = "iso"
    sns_share: float = 0.0


def _utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def _shop_content(subject: str, campaign_id: str, paths: tuple[str, ...]) -> Content:
    return Content(
        subject=subject,
        sender="Northbay Outfitters <news@shop.example>",
        links=tuple(f"https://shop.example/{path}?utm_campaign={campaign_id}" for path in paths),
        unsubscribe_url="https://shop.example/unsubscribe",
    )


CAMPAIGNS: tuple[CampaignPlan, ...] = (
    CampaignPlan(
        workspace_id="demo",
        campaign_id="bf-early-access-a",
        name="Black Friday early access (subject A)",
        created_at=_utc("2026-11-09T10:12:00"),
        send_start=_utc("2026-11-12T14:00:00"),
        send_hours=3,
        messages=4500,
        audience_offset=0,
        formats=(("canonical", 4500),),
        rates=Rates(
            hard_bounce=0.012,
            soft_bounce=0.006,
            deferral=0.04,
            open=0.42,
            click=0.085,
            reply=0.008,
            spam=0.0008,
            unsubscribe=0.004,
            machine_open=0.28,
            scanner=0.025,
        ),
        content=_shop_content(
            "Your Black Friday early access starts now",
            "bf-early-access-a",
            ("black-friday", "black-friday/jackets", "black-friday/boots"),
        ),
    ),
    CampaignPlan(
        workspace_id="demo",
        campaign_id="bf-early-access-b",
        name="Black Friday early access (subject B)",
        created_at=_utc("2026-11-09T10:14:00"),
        send_start=_utc("2026-11-12T14:00:00"),
        send_hours=3,
        messages=4500,
        audience_offset=4500,
        formats=(("canonical", 4500),),
        rates=Rates(
            hard_bounce=0.013,
            soft_bounce=0.005,
            deferral=0.045,
            open=0.31,
            click=0.05,
            reply=0.005,
            spam=0.0015,
            unsubscribe=0.006,
            machine_open=0.27,
            scanner=0.022,
        ),
        content=_shop_content(
            "Black Friday deals: members shop first",
            "bf-early-access-b",
            ("black-friday", "black-friday/jackets", "black-friday/boots"),
        ),
    ),
    CampaignPlan(
        workspace_id="demo",
        campaign_id="newsletter-2026-11",
        name="November newsletter",
        created_at=_utc("2026-11-06T09:30:00"),
        send_start=_utc("2026-11-10T08:00:00"),
        send_hours=4,
        messages=3500,
        audience_offset=2000,
        formats=(("sendgrid", 3500),),
        rates=Rates(
            hard_bounce=0.015,
            soft_bounce=0.008,
            deferral=0.03,
            open=0.36,
            click=0.048,
            reply=0.0,
            spam=0.001,
            unsubscribe=0.005,
            machine_open=0.25,
            scanner=0.02,
        ),
        content=_shop_content(
            "November at Northbay: trail notes and new arrivals",
            "newsletter-2026-11",
            ("journal/trail-notes", "new-arrivals", "stores/events"),
        ),
    ),
    CampaignPlan(
        workspace_id="demo",
        campaign_id="product-update-2026-11",
        name="Product update: faster checkout",
        created_at=_utc("2026-11-12T15:40:00"),
        send_start=_utc("2026-11-14T16:00:00"),
        send_hours=2,
        messages=2500,
        audience_offset=6500,
        formats=(("ses", 1000), ("mailgun", 625), ("brevo", 500), ("postmark", 375)),
        rates=Rates(
            hard_bounce=0.01,
            soft_bounce=0.005,
            deferral=0.03,
            open=0.35,
            click=0.046,
            reply=0.0,
            spam=0.001,
            unsubscribe=0.004,
            machine_open=0.25,
            scanner=0.02,
        ),
        content=_shop_content(
            "Checkout is now twice as fast", "product-update-2026-11", ("account/checkout", "help/payments")
        ),
        sns_share=0.5,
    ),
    CampaignPlan(
        workspace_id="acme",
        campaign_id="newsletter-2026-11",
        name="Acme November newsletter",
        created_at=_utc("2026-11-08T16:00:00"),
        send_start=_utc("2026-11-11T07:30:00"),
        send_hours=1,
        messages=300,
        audience_offset=0,
        formats=(("canonical", 300),),
        rates=Rates(
            hard_bounce=0.01,
            soft_bounce=0.0,
            deferral=0.02,
            open=0.55,
            click=0.12,
            reply=0.02,
            spam=0.0,
            unsubscribe=0.01,
            machine_open=0.3,
            scanner=0.0,
        ),
        content=Content(
            subject="Acme anvils: November news",
            sender="Acme <hello@acme.example>",
            links=("https://acme.example/anvils", "https://acme.example/rockets"),
            unsubscribe_url="https://acme.example/unsubscribe",
        ),
        time_style="epoch_ms",
    ),
)

_AUDIENCE_SIZE = {"demo": 12_000, "acme": 1_000}


def _audience(workspace_id: str, rng: random.Random) -> list[str]:
    """Return the workspace's subscriber addresses in a fixed shuffled order."""
    addresses = []
    for index in range(_AUDIENCE_SIZE[workspace_id]):
        corporate = rng.random() < CORPORATE_SHARE
        domain = rng.choice(_CORPORATE_DOMAINS if corporate else _CONSUMER_DOMAINS)
        addresses.append(f"{rng.choice(_FIRST_NAMES)}.{workspace_id}{index:05d}@{domain}")
    rng.shuffle(addresses)
    return addresses


def _is_corporate(address: str) -> bool:
    return address.rsplit("@", 1)[1] in _CORPORATE_DOMAINS


def _pick(rng: random.Random, pool: Sequence[int], share_of: int, rate: float) -> set[int]:
    """Draw exactly ``round(rate * share_of)`` members of ``pool``, or all of it if that is fewer."""
    count = min(round(rate * share_of), len(pool))
    return set(rng.sample(list(pool), count))


def _weighted_count(rng: random.Random, weights: Sequence[tuple[int, float]]) -> int:
    values = [value for value, _ in weights]
    return rng.choices(values, weights=[weight for _, weight in weights])[0]


def _plan_outcomes(
    plan: CampaignPlan, formats: Sequence[Format], recipients: Sequence[str], rng: random.Random
) -> list[Outcome]:
    """Assign each message of ``plan`` its outcome so that the intended rates hold exactly."""
    rates = plan.rates
    everyone = range(plan.messages)

    # 1. Failures of sent messages.
    hard = _pick(rng, everyone, plan.messages, rates.hard_bounce)
    soft = _pick(rng, [i for i in everyone if i not in hard], plan.messages, rates.soft_bounce)
    delivered = [i for i in everyone if i not in hard and i not in soft]
    base = len(delivered)

    # 2. People: openers, clickers among them, and the rest of the engagement.
    openers = _pick(rng, delivered, base, rates.open)
    clickers = _pick(rng, sorted(openers), base, rates.click)
    image_blockers = _pick(rng, sorted(clickers), len(clickers), IMAGE_BLOCKER_SHARE)
    openers_with_open_event = sorted(openers - image_blockers)
    repliers = _pick(
        rng, [i for i in openers_with_open_event if formats[i] in REPLY_FORMATS], base, rates.reply
    )
    unsubscribers = _pick(rng, delivered, base, rates.unsubscribe)
    complainers = _pick(rng, delivered, base, rates.spam)

    # 3. Machines: proxy opens where the format can flag them, scanners on corporate mailboxes.
    machine_pool = [i for i in delivered if formats[i] in MACHINE_OPEN_FORMATS]
    machine = _pick(rng, machine_pool, len(machine_pool), rates.machine_open)
    scanned = _pick(rng, [i for i in delivered if _is_corporate(recipients[i])], base, rates.scanner)

    # 4. Delivery trouble and lost send events.
    deferral_pool = [i for i in delivered if formats[i] in DEFERRAL_FORMATS]
    deferred = _pick(rng, deferral_pool, len(deferral_pool), rates.deferral)
    canonical = [i for i in everyone if formats[i] == "canonical"]
    lost_send = _pick(rng, canonical, len(canonical), LOST_SEND_EVENT_SHARE)

    # 5. How often each person or machine acts on its message.
    human_opens = {i: _weighted_count(rng, OPENS_PER_OPENER) for i in openers_with_open_event}
    clicks = {i: _weighted_count(rng, CLICKS_PER_CLICKER) for i in sorted(clickers)}
    machine_opens = {i: _weighted_count(rng, MACHINE_OPENS_PER_MESSAGE) for i in sorted(machine)}
    scanner_clicks = {i: rng.randint(1, len(plan.content.links)) for i in sorted(scanned)}
    flagged = {i for i in sorted(scanned) if formats[i] in BOT_FLAG_FORMATS and rng.random() < 0.5}
    deferrals = {i: _weighted_count(rng, DEFERRALS_PER_DEFERRED) for i in sorted(deferred)}
    deferrals.update({i: rng.randint(1, 2) for i in sorted(soft) if formats[i] in DEFERRAL_FORMATS})

    outcomes = []
    for i in everyone:
        bounce: Literal["hard", "soft"] | None = None
        if i in hard:
            bounce = "hard"
        elif i in soft:
            bounce = "soft"
        unsubscribe: Literal["link", "header"] | None = None
        if i in unsubscribers:
            by_link = i in human_opens and formats[i] in LINK_UNSUBSCRIBE_FORMATS
            unsubscribe = "link" if by_link else "header"
        outcomes.append(
            Outcome(
                lost_send_event=i in lost_send,
                deferrals=deferrals.get(i, 0),
                bounce=bounce,
                human_opens=human_opens.get(i, 0),
                clicks=clicks.get(i, 0),
                machine_opens=machine_opens.get(i, 0),
                scanner_clicks=scanner_clicks.get(i, 0),
                scanner_flagged=i in flagged,
                unsubscribe=unsubscribe,
                spam_complaint=i in complainers,
                reply=i in repliers,
            )
        )
    return outcomes


def _message_id(fmt: Format, workspace_id: str, sent_at_ms: int, rng: random.Random) -> str:
    """Return a message id shaped like the ones the format's sender assigns."""
    stamp = to_datetime(sent_at_ms).strftime("%Y%m%d%H%M%S")
    if fmt == "canonical":
        domain = "mail.acme.example" if workspace_id == "acme" else "mail.shop.example"
        return f"{stamp}.{rng.getrandbits(48):012x}@{domain}"
    if fmt == "sendgrid":
        local = base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode().rstrip("=")
        return f"{local}.filterdrecv-6d8c7b9f4-{rng.getrandbits(20):05x}-1-{rng.getrandbits(32):08X}-8.0"
    if fmt == "mailgun":
        return f"{stamp}.{rng.getrandbits(64):016x}@mg.shop.example"
    if fmt == "postmark":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if fmt == "ses":
        return f"0102019a{rng.getrandbits(32):08x}-{uuid.UUID(int=rng.getrandbits(128), version=4)}-000000"
    return f"<{stamp[:12]}.{rng.randrange(10**10, 10**11)}@smtp-relay.mailin.fr>"


def _messages(plan: CampaignPlan, seed: int, rng: random.Random) -> list[tuple[DemoMessage, Outcome]]:
    # The audience has its own generator so that every campaign of a workspace draws from the same list.
    audience = _audience(plan.workspace_id, random.Random(f"{seed}-{plan.workspace_id}-audience"))
    recipients = audience[plan.audience_offset : plan.audience_offset + plan.messages]
    formats: list[Format] = [fmt for fmt, count in plan.formats for _ in range(count)]
    if len(formats) != plan.messages:
        raise ValueError(f"{plan.campaign_id}: format counts add up to {len(formats)}, not {plan.messages}")
    rng.shuffle(formats)
    outcomes = _plan_outcomes(plan, formats, recipients, rng)

    start_ms = from_datetime(plan.send_start)
    window_ms = int(plan.send_hours * HOUR_MS)
    result = []
    for fmt, recipient, outcome in zip(formats, recipients, outcomes):
        sent_at = start_ms + rng.randrange(window_ms)
        message = DemoMessage(
            workspace_id=plan.workspace_id,
            campaign_id=plan.campaign_id,
            message_id=_message_id(fmt, plan.workspace_id, sent_at, rng),
            recipient=recipient,
            format=fmt,
            sent_at_ms=sent_at,
            content=plan.content,
            time_style=plan.time_style,
            via_sns=fmt == "ses" and rng.random() < plan.sns_share,
        )
        result.append((message, outcome))
    return result


@dataclass(frozen=True, order=True, slots=True)
class _Line:
    """One Kafka message value, placed by when it reaches the topic."""

    arrival_ms: int
    sequence: int
    text: str = dataclasses.field(compare=False)


def _arrival_lag_ms(rng: random.Random) -> int:
    draw = rng.random()
    if draw < 0.95:
        return rng.randint(200, 5000)
    if draw < 0.99:
        return rng.randint(MINUTE_MS, 30 * MINUTE_MS)
    return rng.randint(HOUR_MS, 8 * HOUR_MS)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _render(event: DemoEvent, arrival_ms: int) -> str:
    """Render an event of any format except SendGrid, which is batched separately."""
    fmt = event.message.format
    if fmt == "canonical":
        return _dumps(payloads.canonical(event))
    if fmt == "mailgun":
        return _dumps(payloads.envelope("mailgun", payloads.mailgun(event, arrival_ms)))
    if fmt == "postmark":
        return _dumps(payloads.envelope("postmark", payloads.postmark(event)))
    if fmt == "brevo":
        return _dumps(payloads.envelope("brevo", payloads.brevo(event)))
    if fmt == "ses":
        record = payloads.ses(event)
        if event.message.via_sns:
            return _dumps(payloads.envelope("ses", payloads.sns_notification(record, event, arrival_ms)))
        return _dumps(payloads.envelope("ses", record))
    raise ValueError(f"no single-event rendering for format {fmt!r}")


def _sendgrid_batches(events: list[tuple[int, DemoEvent]]) -> list[tuple[int, str]]:
    """Group SendGrid events by arrival into webhook batches, each arriving with its last event."""
    batches: list[tuple[int, str]] = []
    current: list[dict[str, Any]] = []
    window_start = 0
    last_arrival = 0
    for arrival, event in sorted(events, key=lambda item: item[0]):
        if current and (
            arrival - window_start > SENDGRID_BATCH_WINDOW_MS or len(current) >= SENDGRID_BATCH_MAX_EVENTS
        ):
            batches.append((last_arrival, _dumps(payloads.envelope("sendgrid", current))))
            current = []
        if not current:
            window_start = arrival
        current.append(payloads.sendgrid(event))
        last_arrival = arrival
    if current:
        batches.append((last_arrival, _dumps(payloads.envelope("sendgrid", current))))
    return batches


def event_lines(seed: int = DEFAULT_SEED) -> list[str]:
    """Build every ``email-events`` message value, in the order they reach the topic."""
    rng = random.Random(seed)
    timed: list[tuple[int, DemoEvent]] = []

    # 1. Events of every message, each with the time it reaches Kafka.
    for plan in CAMPAIGNS:
        for message, outcome in _messages(plan, seed, rng):
            for event in build_events(message, outcome, rng, END_MS):
                arrival = event.at_ms + _arrival_lag_ms(rng)
                timed.append((arrival, event))
                if rng.random() < RESEND_SHARE:
                    resent = dataclasses.replace(event, event_id=new_event_id(rng))
                    timed.append((arrival + rng.randint(5 * MINUTE_MS, 3 * HOUR_MS), resent))

    # 2. Render: SendGrid events go out in batches, everything else one per message.
    rendered: list[tuple[int, str]] = [
        (arrival, _render(event, arrival)) for arrival, event in timed if event.message.format != "sendgrid"
    ]
    rendered.extend(_sendgrid_batches([item for item in timed if item[1].message.format == "sendgrid"]))

    # 3. Duplicates: the same bytes published again a little later.
    lines = [_Line(arrival, sequence, text) for sequence, (arrival, text) in enumerate(rendered)]
    for line in list(lines):
        if rng.random() < DUPLICATE_SHARE:
            delay = rng.randint(10_000, 2 * HOUR_MS)
            lines.append(_Line(line.arrival_ms + delay, len(lines), line.text))

    lines.sort()
    return [line.text for line in lines]


def campaign_lines() -> list[str]:
    """Build every ``campaign-updates`` record: ``scheduled`` at creation, ``sent`` after the send."""
    records = []
    for plan in CAMPAIGNS:
        created = plan.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        finished = (plan.send_start + dt.timedelta(hours=plan.send_hours, minutes=5)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        base = {"workspace_id": plan.workspace_id, "campaign_id": plan.campaign_id, "name": plan.name}
        records.append({**base, "status": "scheduled", "created_at": created, "updated_at": created})
        records.append({**base, "status": "sent", "created_at": created, "updated_at": finished})
    records.sort(key=lambda record: (record["updated_at"], record["workspace_id"], record["campaign_id"]))
    return [_dumps(record) for record in records]


def generate(output_dir: Path, seed: int = DEFAULT_SEED) -> tuple[Path, Path]:
    """Write both demo files into ``output_dir`` and return their paths (events, campaigns).

    The gzip header carries no file name and a zero modification time, so the
    bytes depend only on the seed and the zlib build.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    events_path = output_dir / EVENTS_FILENAME
    campaigns_path = output_dir / CAMPAIGNS_FILENAME

    body = "".join(f"{line}\n" for line in event_lines(seed)).encode()
    with events_path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(body)
    campaigns_path.write_text("".join(f"{line}\n" for line in campaign_lines()), encoding="utf-8")
    return events_path, campaigns_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.demo.generate", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write events.ndjson.gz and campaigns.ndjson into (default: the app/demo package)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    args = parser.parse_args(argv)

    events_path, campaigns_path = generate(args.output_dir, args.seed)
    for path in (events_path, campaigns_path):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
