"""Bulk event rows for export tests, generated inside ClickHouse (no Kafka, no Python loop)."""

from __future__ import annotations

from app.clickhouse import ClickHouse

# Row n is message m{n // 3} of campaign c{n % campaigns}: a sent event, then a delivery a
# minute later, then an open an hour later, starting 2026-03-02 09:00 UTC.
_GENERATE = """
INSERT INTO email_events
    (workspace_id, campaign_id, message_id, event_type, occurred_at, event_id, provider, url, user_agent)
SELECT
    {workspace_id:String},
    concat('c', toString(intDiv(number, 3) % {campaigns:UInt32})),
    concat('m', toString(intDiv(number, 3))),
    ['sent', 'delivered', 'opened'][number % 3 + 1],
    toDateTime64('2026-03-02 09:00:00', 3, 'UTC') + toIntervalSecond(intDiv(number, 3)) + toIntervalMinute([0, 1, 60][number % 3 + 1]),
    concat('evt-', toString(number)),
    'ses',
    '',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36'
FROM numbers({rows:UInt64})
"""


def generate_events(clickhouse: ClickHouse, workspace_id: str, rows: int, campaigns: int = 2) -> None:
    """Insert ``rows`` raw events (a third each sent, delivered, opened) into ``email_events``."""
    clickhouse.command(_GENERATE, {"workspace_id": workspace_id, "rows": rows, "campaigns": campaigns})
