"""The aggregate queries behind every number the API and the exports return.

Counting rules, as the SQL below applies them:

1. A time range selects messages by send time, the time of a message's
   earliest event, and then counts every event of those messages.
2. Counts are distinct messages; the raw-event totals are distinct event keys,
   and an event key is derived from the event's content. The per-message state
   is built from min, max and uniqExact states, so duplicates and replays
   cannot change a number.
3. Implied steps: any open, click, reply, complaint or unsubscribe implies
   delivered; every message with any event counts as sent; a human click
   implies a human open. A bounce followed by a delivery or any engagement
   (a soft bounce that was retried successfully) counts as delivered and not
   as bounced, so delivered + bounced never exceeds sent.
4. Machine opens and bot clicks are counted apart from opened and clicked. A
   candidate click at most ``bot_click_window_seconds`` after the message's
   first delivery is a link scanner's click; clicks on unsubscribe links are
   not clicks but still imply delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analytics.time_range import TimeRange
from app.clickhouse import ClickHouse

SUMMARY_FIELDS = (
    "emails_sent",
    "emails_delivered",
    "emails_bounced",
    "emails_opened",
    "emails_clicked",
    "emails_replied",
    "spam_complaints",
    "unsubscribes",
    "machine_opens",
    "bot_clicks",
    "total_opens",
    "total_clicks",
)

# One row per message of the selected campaigns, with its implied steps.
_MESSAGE_STEPS = """
SELECT
    campaign_id,
    message_id,
    send_time,
    last_event_at,
    has_delivered OR has_human_open OR has_machine_open OR candidate_click_last IS NOT NULL
        OR has_flagged_bot_click OR has_unsubscribe_link_click OR has_replied
        OR has_spam_complaint OR has_unsubscribed AS delivered,
    candidate_click_last IS NOT NULL AND (
        delivered_at IS NULL
        OR dateDiff('millisecond', delivered_at, candidate_click_last) > {bot_window_ms:Int64}
    ) AS human_click,
    has_flagged_bot_click OR (
        candidate_click_first IS NOT NULL AND delivered_at IS NOT NULL
        AND dateDiff('millisecond', delivered_at, candidate_click_first) <= {bot_window_ms:Int64}
    ) AS bot_click,
    has_bounced AND NOT delivered AS bounced,
    has_human_open OR human_click AS opened,
    has_machine_open AS machine_open,
    has_replied AS replied,
    has_spam_complaint AS spam_complaint,
    has_unsubscribed AS unsubscribed,
    open_events,
    click_events
FROM (
    SELECT
        campaign_id,
        message_id,
        min(first_event_at) AS send_time,
        max(last_event_at) AS last_event_at,
        min(delivered_at) AS delivered_at,
        min(candidate_click_first) AS candidate_click_first,
        max(candidate_click_last) AS candidate_click_last,
        max(has_delivered) AS has_delivered,
        max(has_bounced) AS has_bounced,
        max(has_human_open) AS has_human_open,
        max(has_machine_open) AS has_machine_open,
        max(has_flagged_bot_click) AS has_flagged_bot_click,
        max(has_unsubscribe_link_click) AS has_unsubscribe_link_click,
        max(has_replied) AS has_replied,
        max(has_spam_complaint) AS has_spam_complaint,
        max(has_unsubscribed) AS has_unsubscribed,
        uniqExactMerge(open_events) AS open_events,
        uniqExactMerge(click_events) AS click_events
    FROM message_state
    WHERE workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)}
    GROUP BY campaign_id, message_id
    HAVING send_time >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC')
       AND send_time < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')
)
"""

_CAMPAIGN_SUMMARY = f"""
SELECT
    campaign_id,
    count() AS emails_sent,
    countIf(delivered) AS emails_delivered,
    countIf(bounced) AS emails_bounced,
    countIf(opened) AS emails_opened,
    countIf(human_click) AS emails_clicked,
    countIf(replied) AS emails_replied,
    countIf(spam_complaint) AS spam_complaints,
    countIf(unsubscribed) AS unsubscribes,
    countIf(machine_open) AS machine_opens,
    countIf(bot_click) AS bot_clicks,
    sum(open_events) AS total_opens,
    sum(click_events) AS total_clicks
FROM ({_MESSAGE_STEPS})
GROUP BY campaign_id
"""

# The summary query under a public name: the campaign_performance export
# selects from it, so an exported count is the same number compare returns.
CAMPAIGN_SUMMARY_SQL = _CAMPAIGN_SUMMARY
MESSAGE_STEPS_SQL = _MESSAGE_STEPS


def summary_parameters(
    workspace_id: str, campaign_ids: Sequence[str], time_range: TimeRange, bot_click_window_seconds: float
) -> dict[str, Any]:
    """Return the query parameters of CAMPAIGN_SUMMARY_SQL."""
    return {
        "workspace_id": workspace_id,
        "campaign_ids": list(campaign_ids),
        "start_ms": time_range.start_ms,
        "end_ms": time_range.end_ms,
        "bot_window_ms": int(bot_click_window_seconds * 1000),
    }


def campaign_summaries(
    clickhouse: ClickHouse,
    workspace_id: str,
    campaign_ids: Sequence[str],
    time_range: TimeRange,
    bot_click_window_seconds: float,
) -> dict[str, dict[str, int]]:
    """Return the summary counts of each campaign for messages sent in ``time_range``.

    A campaign with no message in the range is present with all counts zero.
    """
    rows = clickhouse.query_rows(
        CAMPAIGN_SUMMARY_SQL,
        summary_parameters(workspace_id, campaign_ids, time_range, bot_click_window_seconds),
    )
    summaries = {campaign_id: dict.fromkeys(SUMMARY_FIELDS, 0) for campaign_id in campaign_ids}
    for row in rows:
        summaries[row["campaign_id"]] = {field: int(row[field]) for field in SUMMARY_FIELDS}
    return summaries


def known_campaigns(clickhouse: ClickHouse, workspace_id: str, campaign_ids: Sequence[str]) -> dict[str, str | None]:
    """Return ``{campaign_id: name}`` for the campaigns the workspace has.

    A campaign is known once ``campaign-updates`` named it or any event of it
    arrived; the name is None until a campaign update provides one.
    """
    parameters: dict[str, Any] = {"workspace_id": workspace_id, "campaign_ids": list(campaign_ids)}
    named = clickhouse.query_rows(
        """
        SELECT campaign_id, argMax(name, updated_at) AS name
        FROM campaigns
        WHERE workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)}
        GROUP BY campaign_id
        """,
        parameters,
    )
    seen = clickhouse.query_rows(
        """
        SELECT DISTINCT campaign_id
        FROM message_state
        WHERE workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)}
        """,
        parameters,
    )
    found: dict[str, str | None] = {row["campaign_id"]: None for row in seen}
    found.update({row["campaign_id"]: row["name"] or None for row in named})
    return found


def newest_event_ms(clickhouse: ClickHouse, workspace_id: str, campaign_ids: Sequence[str]) -> int | None:
    """Return the newest event time folded into the aggregates of these campaigns, in epoch ms."""
    rows = clickhouse.query_rows(
        """
        SELECT toUnixTimestamp64Milli(max(last_event_at)) AS newest, count() AS messages
        FROM message_state
        WHERE workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)}
        """,
        {"workspace_id": workspace_id, "campaign_ids": list(campaign_ids)},
    )
    if not rows or not rows[0]["messages"]:
        return None
    return int(rows[0]["newest"])


def workspace_campaigns(clickhouse: ClickHouse, workspace_id: str) -> list[str]:
    """Return every campaign id the workspace has, sorted: named by an update or seen in an event."""
    rows = clickhouse.query_rows(
        """
        SELECT campaign_id FROM campaigns WHERE workspace_id = {workspace_id:String}
        UNION DISTINCT
        SELECT campaign_id FROM message_state WHERE workspace_id = {workspace_id:String}
        ORDER BY campaign_id
        """,
        {"workspace_id": workspace_id},
    )
    return [row["campaign_id"] for row in rows]
