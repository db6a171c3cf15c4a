"""Tests of the bundled demo data (app/demo) and of the generator that writes it."""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from scipy.stats import chi2_contingency

from app.demo import CAMPAIGNS_FILENAME, CAMPAIGNS_PATH, EVENTS_FILENAME, EVENTS_PATH
from app.demo.generate import DEFAULT_SEED, generate
from streams.adapters import MetadataKeys, decode_message
from streams.events import EmailEvent, InvalidEvent

# A click this soon after delivery is a link scanner's. In the demo data human
# clicks come at least 90 s after delivery and unflagged scanner clicks within
# 2 s, so any window between those two gives the same counts.
SCANNER_WINDOW_MS = 10_000
DATA_START = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
DATA_END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
CAMPAIGN_FIELDS = {"workspace_id", "campaign_id", "name", "status", "created_at", "updated_at"}

# The intended rates in percent, from the table in the app.demo.generate docstring,
# which promises them exactly up to rounding each count to whole messages.
INTENDED_RATES = {
    ("demo", "bf-early-access-a"): {"opened": 42.0, "clicked": 8.5},
    ("demo", "bf-early-access-b"): {"opened": 31.0, "clicked": 5.0},
    ("demo", "newsletter-2026-11"): {"opened": 36.0, "clicked": 4.8},
    ("demo", "product-update-2026-11"): {"opened": 35.0, "clicked": 4.6},
    ("acme", "newsletter-2026-11"): {"opened": 55.0, "clicked": 12.0},
}

MessageKey = tuple[str, str, str]


def _read_event_lines(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def _line_format(line: bytes) -> str:
    data = json.loads(line)
    if not (isinstance(data, dict) and "provider" in data and "payload" in data):
        return "canonical"
    if data["provider"] == "ses" and isinstance(data["payload"], dict) and "Message" in data["payload"]:
        return "ses-sns"
    return str(data["provider"])


def _message_key(event: EmailEvent) -> MessageKey:
    return (event.workspace_id, event.campaign_id, event.message_id)


@pytest.fixture(scope="module")
def event_lines() -> list[bytes]:
    return _read_event_lines(EVENTS_PATH)


@pytest.fixture(scope="module")
def campaign_records() -> list[dict[str, Any]]:
    return [json.loads(line) for line in CAMPAIGNS_PATH.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def events(event_lines: list[bytes]) -> list[EmailEvent]:
    """The events of all shipped lines, in line order."""
    keys = MetadataKeys()
    return [event for line in event_lines for event in decode_message(line, keys)]


@pytest.fixture(scope="module")
def delivered_at(events: list[EmailEvent]) -> dict[MessageKey, int]:
    """The earliest delivery time of each delivered message."""
    times: dict[MessageKey, int] = {}
    for event in events:
        if event.type == "delivered":
            key = _message_key(event)
            times[key] = min(times.get(key, event.occurred_at_ms), event.occurred_at_ms)
    return times


@pytest.fixture(scope="module")
def generated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output_dir = tmp_path_factory.mktemp("demo")
    generate(output_dir, DEFAULT_SEED)
    return output_dir


def _is_scanner_click(event: EmailEvent, delivered_at: dict[MessageKey, int]) -> bool:
    if event.is_bot_click:
        return True
    delivered = delivered_at.get(_message_key(event))
    return delivered is not None and event.occurred_at_ms - delivered <= SCANNER_WINDOW_MS


def _is_human_click(event: EmailEvent, delivered_at: dict[MessageKey, int]) -> bool:
    return (
        event.type == "clicked"
        and "/unsubscribe" not in (event.url or "")
        and not _is_scanner_click(event, delivered_at)
    )


def _funnel(
    events: Iterable[EmailEvent], delivered_at: dict[MessageKey, int]
) -> dict[tuple[str, str], dict[str, int]]:
    """Count delivered, opened and clicked messages per campaign by the design's counting rules.

    Any engagement implies delivery, a human click implies a human open, and machine
    opens, scanner clicks and unsubscribe-link clicks count as neither.
    """
    steps: dict[MessageKey, set[str]] = collections.defaultdict(set)
    for event in events:
        reached = steps[_message_key(event)]
        if event.type in ("delivered", "opened", "clicked", "replied", "spam_complaint", "unsubscribed"):
            reached.add("delivered")
        if event.type == "opened" and not event.is_machine_open:
            reached.add("opened")
        if _is_human_click(event, delivered_at):
            reached.update(("opened", "clicked"))

    counts: dict[tuple[str, str], dict[str, int]] = collections.defaultdict(
        lambda: {"delivered": 0, "opened": 0, "clicked": 0}
    )
    for (workspace_id, campaign_id, _), reached in steps.items():
        for step in reached:
            counts[(workspace_id, campaign_id)][step] += 1
    return counts


def _p_value(first: dict[str, int], second: dict[str, int], step: str) -> float:
    table = [
        [first[step], first["delivered"] - first[step]],
        [second[step], second["delivered"] - second[step]],
    ]
    return float(chi2_contingency(table, correction=False).pvalue)


def test_shipped_files_exist() -> None:
    assert EVENTS_PATH.is_file(), f"{EVENTS_PATH} is missing; run python -m app.demo.generate"
    assert CAMPAIGNS_PATH.is_file(), f"{CAMPAIGNS_PATH} is missing; run python -m app.demo.generate"
    assert CAMPAIGNS_PATH.stat().st_size > 0


def test_events_file_size() -> None:
    # The file ships inside the package, so it stays small.
    assert EVENTS_PATH.stat().st_size < 3_000_000


def test_event_lines_are_json_objects(event_lines: list[bytes]) -> None:
    invalid = []
    for number, line in enumerate(event_lines, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            invalid.append(number)
            continue
        if not isinstance(value, dict):
            invalid.append(number)
    assert len(event_lines) > 0
    assert invalid == [], f"lines that are not JSON objects: {invalid[:10]}"


def test_campaign_records_shape(campaign_records: list[dict[str, Any]]) -> None:
    assert len(campaign_records) > 0
    for record in campaign_records:
        assert set(record) == CAMPAIGN_FIELDS, record
        assert all(isinstance(value, str) and value for value in record.values()), record
        assert record["status"] in ("scheduled", "sent"), record
        assert record["updated_at"] >= record["created_at"], record
    updated = [record["updated_at"] for record in campaign_records]
    assert updated == sorted(updated)


def test_campaigns_end_sent(campaign_records: list[dict[str, Any]]) -> None:
    latest: dict[tuple[str, str], str] = {}
    for record in campaign_records:
        latest[(record["workspace_id"], record["campaign_id"])] = record["status"]
    assert set(latest.values()) == {"sent"}


def test_generator_deterministic(tmp_path: Path, generated_dir: Path) -> None:
    generate(tmp_path, DEFAULT_SEED)

    for name in (EVENTS_FILENAME, CAMPAIGNS_FILENAME):
        assert (tmp_path / name).read_bytes() == (generated_dir / name).read_bytes(), name


def test_generator_matches_shipped_files(generated_dir: Path, event_lines: list[bytes]) -> None:
    # Compared after decompression: another zlib build may compress the same lines
    # to different bytes.
    assert _read_event_lines(generated_dir / EVENTS_FILENAME) == event_lines
    assert (generated_dir / CAMPAIGNS_FILENAME).read_bytes() == CAMPAIGNS_PATH.read_bytes()


def test_generator_seed_matters(tmp_path: Path, event_lines: list[bytes]) -> None:
    generate(tmp_path, DEFAULT_SEED + 1)

    assert _read_event_lines(tmp_path / EVENTS_FILENAME) != event_lines


def test_every_line_decodes(event_lines: list[bytes]) -> None:
    keys = MetadataKeys()
    failures = []
    empty = []
    for number, line in enumerate(event_lines, start=1):
        try:
            line_events = decode_message(line, keys)
        except InvalidEvent as exc:
            failures.append((number, exc.reason, exc.message))
            continue
        if not line_events:
            empty.append(number)
    assert failures == [], f"{len(failures)} lines failed to decode, first: {failures[:5]}"
    assert empty == [], f"lines that decode to no event: {empty[:10]}"


def test_events_name_known_campaigns(
    events: list[EmailEvent], campaign_records: list[dict[str, Any]]
) -> None:
    in_events = {(event.workspace_id, event.campaign_id) for event in events}
    in_records = {(record["workspace_id"], record["campaign_id"]) for record in campaign_records}
    assert in_events == in_records


def test_both_workspaces_present(events: list[EmailEvent]) -> None:
    campaigns: dict[str, set[str]] = collections.defaultdict(set)
    messages: dict[str, set[str]] = collections.defaultdict(set)
    for event in events:
        campaigns[event.workspace_id].add(event.campaign_id)
        messages[event.workspace_id].add(event.message_id)

    assert set(campaigns) == {"demo", "acme"}
    assert 3 <= len(campaigns["demo"]) <= 4
    assert campaigns["acme"] & campaigns["demo"], "acme shares no campaign id with demo"
    assert not messages["acme"] & messages["demo"], "a message id appears in both workspaces"


@pytest.mark.parametrize("line_format", ["sendgrid", "mailgun", "postmark", "ses", "ses-sns", "brevo"])
def test_provider_format_present(event_lines: list[bytes], line_format: str) -> None:
    formats = collections.Counter(_line_format(line) for line in event_lines)
    assert formats[line_format] > 0


def test_canonical_lines_majority(event_lines: list[bytes]) -> None:
    formats = collections.Counter(_line_format(line) for line in event_lines)
    assert formats["canonical"] > len(event_lines) / 2


def test_sendgrid_lines_are_batches(event_lines: list[bytes]) -> None:
    batch_sizes = [
        len(json.loads(line)["payload"]) for line in event_lines if _line_format(line) == "sendgrid"
    ]
    assert max(batch_sizes) > 1


def test_event_times_in_window(events: list[EmailEvent]) -> None:
    start_ms = int(DATA_START.timestamp() * 1000)
    end_ms = int(DATA_END.timestamp() * 1000)
    outside = [event for event in events if not start_ms <= event.occurred_at_ms < end_ms]
    assert outside == [], f"{len(outside)} events outside {DATA_START} .. {DATA_END}, first: {outside[:1]}"


def test_duplicate_lines_present(event_lines: list[bytes]) -> None:
    assert len(set(event_lines)) < len(event_lines)


def test_resent_events_present(events: list[EmailEvent]) -> None:
    # Counting identifies an event by its content. A re-send keeps the content
    # and changes only the event id.
    event_ids: dict[tuple[Any, ...], set[str]] = collections.defaultdict(set)
    for event in events:
        if event.event_id:
            identity = (event.provider, event.message_id, event.type, event.occurred_at_ms, event.url)
            event_ids[identity].add(event.event_id)
    assert any(len(ids) > 1 for ids in event_ids.values())


def test_late_arrivals_present(events: list[EmailEvent]) -> None:
    latest_seen: dict[MessageKey, int] = {}
    late = 0
    for event in events:
        key = _message_key(event)
        if event.occurred_at_ms < latest_seen.get(key, 0):
            late += 1
        latest_seen[key] = max(latest_seen.get(key, 0), event.occurred_at_ms)
    assert late > 0
    assert late < len(events) / 10, "most events of a message should arrive in time order"


EventCheck = Callable[[EmailEvent, dict[MessageKey, int]], bool]
EVENT_KINDS: dict[str, EventCheck] = {
    "hard_bounce": lambda event, _: event.type == "bounced" and event.bounce_type == "hard",
    "soft_bounce": lambda event, _: event.type == "bounced" and event.bounce_type == "soft",
    "deferral": lambda event, _: event.type == "deferred",
    "machine_open": lambda event, _: event.type == "opened" and event.is_machine_open,
    "flagged_bot_click": lambda event, _: event.type == "clicked" and event.is_bot_click,
    "unflagged_scanner_click": lambda event, delivered: (
        event.type == "clicked" and not event.is_bot_click and _is_scanner_click(event, delivered)
    ),
    "unsubscribe_link_click": lambda event, _: (
        event.type == "clicked" and "/unsubscribe" in (event.url or "")
    ),
    "human_click": _is_human_click,
    "reply": lambda event, _: event.type == "replied",
    "spam_complaint": lambda event, _: event.type == "spam_complaint",
    "unsubscribe": lambda event, _: event.type == "unsubscribed",
}


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_event_kind_present(events: list[EmailEvent], delivered_at: dict[MessageKey, int], kind: str) -> None:
    check = EVENT_KINDS[kind]
    assert any(check(event, delivered_at) for event in events)


def test_clicks_without_open_present(events: list[EmailEvent], delivered_at: dict[MessageKey, int]) -> None:
    human_openers = {
        _message_key(event) for event in events if event.type == "opened" and not event.is_machine_open
    }
    clickers = {_message_key(event) for event in events if _is_human_click(event, delivered_at)}
    assert clickers - human_openers


def test_messages_without_send_event_present(events: list[EmailEvent]) -> None:
    with_send = {_message_key(event) for event in events if event.type == "sent"}
    delivered = {_message_key(event) for event in events if event.type == "delivered"}
    assert delivered - with_send


@pytest.mark.parametrize("campaign", sorted(INTENDED_RATES))
def test_campaign_rates_match_plan(
    events: list[EmailEvent], delivered_at: dict[MessageKey, int], campaign: tuple[str, str]
) -> None:
    counts = _funnel(events, delivered_at)[campaign]
    # Rounding a count to whole messages moves it by at most half a message.
    tolerance = 50 / counts["delivered"]
    for step, intended in INTENDED_RATES[campaign].items():
        rate = 100 * counts[step] / counts["delivered"]
        assert abs(rate - intended) <= tolerance, f"{campaign} {step} rate {rate:.3f}, intended {intended}"


def test_ab_pair_differs_significantly(events: list[EmailEvent], delivered_at: dict[MessageKey, int]) -> None:
    counts = _funnel(events, delivered_at)
    first, second = counts[("demo", "bf-early-access-a")], counts[("demo", "bf-early-access-b")]
    assert first["delivered"] > 1000
    assert second["delivered"] > 1000
    assert _p_value(first, second, "opened") < 0.001
    assert _p_value(first, second, "clicked") < 0.001


def test_close_pair_not_significant(events: list[EmailEvent], delivered_at: dict[MessageKey, int]) -> None:
    counts = _funnel(events, delivered_at)
    first, second = counts[("demo", "newsletter-2026-11")], counts[("demo", "product-update-2026-11")]
    assert _p_value(first, second, "opened") > 0.05
    assert _p_value(first, second, "clicked") > 0.05
