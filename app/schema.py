"""The ClickHouse schema, created and upgraded on start.

Migrations are numbered and applied in order; ``schema_migrations`` records
which ones ran, so starting again applies nothing twice. Every statement is
idempotent as well (``IF NOT EXISTS``), so a start that crashed half-way
through a migration finishes it next time.

Counting must survive duplicates and replays by construction: the raw table
may hold the same event many times, and every aggregate below is built from
``min``, ``max`` and ``uniqExact`` states, which give the same result however
often an event is inserted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.clickhouse import ClickHouse
from app.cluster_schema import ClusterDDL, created_tables

logger = logging.getLogger(__name__)

EVENT_TYPE_ENUM = (
    "Enum8('sent' = 1, 'delivered' = 2, 'deferred' = 3, 'bounced' = 4, 'opened' = 5, "
    "'clicked' = 6, 'replied' = 7, 'spam_complaint' = 8, 'unsubscribed' = 9)"
)
TIME = "DateTime64(3, 'UTC')"

_RAW_EVENTS = f"""
CREATE TABLE IF NOT EXISTS email_events (
    workspace_id LowCardinality(String),
    campaign_id String,
    message_id String,
    event_type {EVENT_TYPE_ENUM},
    occurred_at {TIME},
    event_key UInt64 DEFAULT sipHash64(workspace_id, campaign_id, provider, message_id, event_type, occurred_at, url)
        COMMENT 'identity from content, so an event re-sent under a new event id has the same key',
    event_id String,
    provider LowCardinality(String),
    recipient_hash String COMMENT 'HMAC-SHA256 of the lower-cased address; raw addresses are never stored',
    bounce_type LowCardinality(String),
    url String,
    user_agent String,
    is_machine_open UInt8,
    is_bot_click UInt8,
    is_unsubscribe_link UInt8,
    ingested_at {TIME} DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (workspace_id, campaign_id, message_id, event_key)
"""

# Candidate human clicks are clicks neither flagged as bots nor on unsubscribe
# links. Whether a candidate is a link scanner's click also depends on how soon
# after delivery it came, which only the query can decide, so the state keeps
# the first and last candidate click times next to the first delivery time.
_MESSAGE_STATE = f"""
CREATE TABLE IF NOT EXISTS message_state (
    workspace_id LowCardinality(String),
    campaign_id String,
    message_id String,
    first_event_at SimpleAggregateFunction(min, {TIME}),
    last_event_at SimpleAggregateFunction(max, {TIME}),
    delivered_at SimpleAggregateFunction(min, Nullable({TIME})),
    candidate_click_first SimpleAggregateFunction(min, Nullable({TIME})),
    candidate_click_last SimpleAggregateFunction(max, Nullable({TIME})),
    has_sent SimpleAggregateFunction(max, UInt8),
    has_delivered SimpleAggregateFunction(max, UInt8),
    has_deferred SimpleAggregateFunction(max, UInt8),
    has_bounced SimpleAggregateFunction(max, UInt8),
    has_hard_bounce SimpleAggregateFunction(max, UInt8),
    has_human_open SimpleAggregateFunction(max, UInt8),
    has_machine_open SimpleAggregateFunction(max, UInt8),
    has_flagged_bot_click SimpleAggregateFunction(max, UInt8),
    has_unsubscribe_link_click SimpleAggregateFunction(max, UInt8),
    has_replied SimpleAggregateFunction(max, UInt8),
    has_spam_complaint SimpleAggregateFunction(max, UInt8),
    has_unsubscribed SimpleAggregateFunction(max, UInt8),
    open_events AggregateFunction(uniqExact, UInt64),
    click_events AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (workspace_id, campaign_id, message_id)
"""

_MESSAGE_STATE_VIEW = """
CREATE MATERIALIZED VIEW IF NOT EXISTS message_state_mv TO message_state AS
SELECT
    workspace_id,
    campaign_id,
    message_id,
    min(occurred_at) AS first_event_at,
    max(occurred_at) AS last_event_at,
    min(if(event_type = 'delivered', toNullable(occurred_at), NULL)) AS delivered_at,
    min(if(is_candidate_click, toNullable(occurred_at), NULL)) AS candidate_click_first,
    max(if(is_candidate_click, toNullable(occurred_at), NULL)) AS candidate_click_last,
    max(event_type = 'sent') AS has_sent,
    max(event_type = 'delivered') AS has_delivered,
    max(event_type = 'deferred') AS has_deferred,
    max(event_type = 'bounced') AS has_bounced,
    max(event_type = 'bounced' AND bounce_type = 'hard') AS has_hard_bounce,
    max(event_type = 'opened' AND is_machine_open = 0) AS has_human_open,
    max(event_type = 'opened' AND is_machine_open = 1) AS has_machine_open,
    max(event_type = 'clicked' AND is_bot_click = 1 AND is_unsubscribe_link = 0) AS has_flagged_bot_click,
    max(event_type = 'clicked' AND is_unsubscribe_link = 1) AS has_unsubscribe_link_click,
    max(event_type = 'replied') AS has_replied,
    max(event_type = 'spam_complaint') AS has_spam_complaint,
    max(event_type = 'unsubscribed') AS has_unsubscribed,
    uniqExactStateIf(event_key, event_type = 'opened') AS open_events,
    uniqExactStateIf(event_key, event_type = 'clicked' AND is_unsubscribe_link = 0) AS click_events
FROM (
    SELECT *, event_type = 'clicked' AND is_bot_click = 0 AND is_unsubscribe_link = 0 AS is_candidate_click
    FROM email_events
)
GROUP BY workspace_id, campaign_id, message_id
"""

# Hourly activity per campaign and event type, for time series and overview
# totals. "Human" events are opens not flagged as machine opens and clicks that
# are neither flagged bot clicks nor unsubscribe-link clicks. Distinct messages
# per hour are left out on purpose: a uniqExact state of message ids costs
# about a third of the insert time, and message counts come from message_state.
_ACTIVITY_HOURLY = f"""
CREATE TABLE IF NOT EXISTS campaign_activity_hourly (
    workspace_id LowCardinality(String),
    campaign_id String,
    hour DateTime('UTC'),
    event_type {EVENT_TYPE_ENUM},
    events AggregateFunction(uniqExact, UInt64),
    human_events AggregateFunction(uniqExact, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (workspace_id, campaign_id, hour, event_type)
"""

_ACTIVITY_HOURLY_VIEW = """
CREATE MATERIALIZED VIEW IF NOT EXISTS campaign_activity_hourly_mv TO campaign_activity_hourly AS
SELECT
    workspace_id,
    campaign_id,
    toStartOfHour(occurred_at) AS hour,
    event_type,
    uniqExactState(event_key) AS events,
    uniqExactStateIf(event_key, is_machine_open = 0 AND is_bot_click = 0 AND is_unsubscribe_link = 0) AS human_events
FROM email_events
GROUP BY workspace_id, campaign_id, hour, event_type
"""

_CAMPAIGNS = f"""
CREATE TABLE IF NOT EXISTS campaigns (
    workspace_id LowCardinality(String),
    campaign_id String,
    name String,
    status LowCardinality(String),
    created_at {TIME},
    updated_at {TIME}
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (workspace_id, campaign_id)
"""

# Export jobs. A job's state changes by inserting a new row with a higher
# ``version``, and readers take the row with the highest version, so the API
# and the export workers never update rows in place.
_EXPORT_JOBS = f"""
CREATE TABLE IF NOT EXISTS export_jobs (
    workspace_id LowCardinality(String),
    export_id String,
    version UInt64 COMMENT 'microseconds since 1970, raised on every change; the highest version is the current state',
    status LowCardinality(String),
    export_type LowCardinality(String),
    format LowCardinality(String),
    request String COMMENT 'the validated request as JSON',
    idempotency_key String,
    request_fingerprint String COMMENT 'SHA-256 of the request body, to detect a reused Idempotency-Key',
    object_key String,
    estimated_rows UInt64,
    rows_written Nullable(UInt64),
    file_size_bytes Nullable(UInt64),
    error_code String,
    error_message String,
    failed_before_start UInt8 COMMENT '1 when the job could not be queued, so a retried POST may queue it again',
    attempts UInt32,
    lease_owner String,
    lease_expires_at Nullable({TIME}),
    created_at {TIME},
    estimated_completion {TIME},
    started_at Nullable({TIME}),
    completed_at Nullable({TIME})
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (workspace_id, export_id)
"""

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "raw events, per-message state, hourly rollups, campaigns", [
        _RAW_EVENTS,
        _MESSAGE_STATE,
        _MESSAGE_STATE_VIEW,
        _ACTIVITY_HOURLY,
        _ACTIVITY_HOURLY_VIEW,
        _CAMPAIGNS,
    ]),
    (2, "export jobs", [_EXPORT_JOBS]),
]

_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    description String,
    applied_at DateTime('UTC') DEFAULT now()
)
ENGINE = MergeTree
ORDER BY version
"""


def applied_versions(clickhouse: ClickHouse) -> set[int]:
    rows = clickhouse.query_rows("SELECT DISTINCT version FROM schema_migrations")
    return {int(row["version"]) for row in rows}


def migrate(clickhouse: ClickHouse, raw_event_retention_days: int, cluster: str | None = None) -> list[int]:
    """Apply the migrations not applied yet and set the raw-event retention.

    With ``cluster`` (CLICKHOUSE_CLUSTER) every statement runs in its cluster
    form: Replicated tables behind Distributed ones (``app.cluster_schema``).
    Returns the versions applied by this call.
    """
    apply = _statement_runner(clickhouse, cluster)
    apply(_MIGRATIONS_TABLE)
    done = applied_versions(clickhouse)
    applied: list[int] = []
    for version, description, statements in MIGRATIONS:
        if version in done:
            continue
        for statement in statements:
            apply(statement)
        clickhouse.command(
            "INSERT INTO schema_migrations (version, description) VALUES ({version:UInt32}, {description:String})",
            {"version": version, "description": description},
        )
        logger.info("schema migration applied: version=%s description=%s", version, description)
        applied.append(version)

    # Retention is a setting, so it is applied on every start rather than in a
    # migration. Dropping old raw rows leaves the aggregates untouched.
    apply(
        f"ALTER TABLE email_events MODIFY TTL toDateTime(occurred_at) + INTERVAL {int(raw_event_retention_days)} DAY"
    )
    return applied


def all_statements() -> list[str]:
    """Return every single-node DDL statement of the schema, the migrations table first."""
    return [_MIGRATIONS_TABLE, *(statement for _, _, statements in MIGRATIONS for statement in statements)]


def _statement_runner(clickhouse: ClickHouse, cluster: str | None) -> Callable[[str], None]:
    if cluster is None:
        return clickhouse.command

    ddl = ClusterDDL(cluster, clickhouse.database, created_tables(all_statements()))
    for statement in ddl.prologue():
        clickhouse.command(statement)

    def apply(statement: str) -> None:
        for cluster_statement in ddl.translate(statement):
            clickhouse.command(cluster_statement)

    return apply
