"""Export requests and the SQL behind each export type.

Three export types, each one query whose output ClickHouse writes in the
requested format:

- ``campaign_performance``: one row per campaign with the summary counts and
  every rate. It selects from the compare API's summary query
  (``analytics.queries.CAMPAIGN_SUMMARY_SQL``), and its rates use the same
  rounding (``analytics.metrics.rate_sql``), so each number equals the one
  compare returns. Messages are selected by send time, as in compare.
  ``include_time_series`` adds a ``time_series`` column with the campaign's
  time series points.
- ``time_series``: one row per campaign and day (or hour) in an IANA time zone.
  A point counts the events that happened in that period, without implied
  steps: ``emails_delivered`` is the number of messages with a delivery event
  in the period. Points are read from the raw events, so periods follow any
  zone's offset exactly (the hourly rollup cannot split an hour for zones such
  as Asia/Kolkata), and periods older than the raw-event retention are absent.
- ``events``: the raw events, one per event identity (duplicates removed),
  without recipient data: the recipient hash is not exported, and anything
  shaped like an e-mail address in a URL is replaced by ``redacted``.

Time series and events select events by the time they happened; the end of
the range is exclusive.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from analytics.metrics import METRICS, rate_sql
from analytics.queries import CAMPAIGN_SUMMARY_SQL, MESSAGE_STEPS_SQL, SUMMARY_FIELDS, summary_parameters
from analytics.time_range import TimeRange

ExportType = Literal["campaign_performance", "time_series", "events"]
ExportFormat = Literal["csv", "json", "ndjson", "parquet"]
Granularity = Literal["day", "hour"]

EXPORT_TYPES: tuple[str, ...] = get_args(ExportType)
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
GRANULARITIES: tuple[str, ...] = get_args(Granularity)

FILE_EXTENSIONS: dict[str, str] = {"csv": "csv", "json": "json", "ndjson": "ndjson", "parquet": "parquet"}
CONTENT_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}

# Counts of one time series point: (column, aggregate over the raw events of the period).
_POINT_COUNTS: tuple[tuple[str, str], ...] = (
    ("emails_sent", "uniqExactIf(message_id, event_type = 'sent')"),
    ("emails_delivered", "uniqExactIf(message_id, event_type = 'delivered')"),
    ("emails_bounced", "uniqExactIf(message_id, event_type = 'bounced')"),
    ("emails_opened", "uniqExactIf(message_id, event_type = 'opened' AND is_machine_open = 0)"),
    (
        "emails_clicked",
        "uniqExactIf(message_id, event_type = 'clicked' AND is_bot_click = 0 AND is_unsubscribe_link = 0)",
    ),
    ("emails_replied", "uniqExactIf(message_id, event_type = 'replied')"),
    ("spam_complaints", "uniqExactIf(message_id, event_type = 'spam_complaint')"),
    ("unsubscribes", "uniqExactIf(message_id, event_type = 'unsubscribed')"),
    ("machine_opens", "uniqExactIf(message_id, event_type = 'opened' AND is_machine_open = 1)"),
    (
        "bot_clicks",
        "uniqExactIf(message_id, event_type = 'clicked' AND is_bot_click = 1 AND is_unsubscribe_link = 0)",
    ),
    ("total_opens", "uniqExactIf(event_key, event_type = 'opened')"),
    ("total_clicks", "uniqExactIf(event_key, event_type = 'clicked' AND is_unsubscribe_link = 0)"),
)
TIME_SERIES_COLUMNS: tuple[str, ...] = ("campaign_id", "period_start", *(name for name, _ in _POINT_COUNTS))
CAMPAIGN_PERFORMANCE_COLUMNS: tuple[str, ...] = ("campaign_id", "campaign_name", *SUMMARY_FIELDS, *METRICS)
EVENT_COLUMNS: tuple[str, ...] = (
    "event_key",
    "event_id",
    "event_type",
    "occurred_at",
    "campaign_id",
    "message_id",
    "provider",
    "bounce_type",
    "url",
    "user_agent",
    "is_machine_open",
    "is_bot_click",
    "is_unsubscribe_link",
)
# Text columns of each export type; CSV output neutralises formulas in these.
_TEXT_COLUMNS: dict[str, tuple[str, ...]] = {
    "campaign_performance": ("campaign_id", "campaign_name", "time_series"),
    "time_series": ("campaign_id", "period_start"),
    "events": (
        "event_key", "event_id", "event_type", "campaign_id", "message_id", "provider", "bounce_type", "url",
        "user_agent",
    ),
}
# A cell starting with one of these is read as a formula by spreadsheet programs.
FORMULA_PREFIX_PATTERN = "^[=+\\\\-@\\t\\r]"
# Anything shaped like an e-mail address, plain or with a percent-encoded "@".
_EMAIL_IN_URL_PATTERN = "[^/?&=#:;]+(@|%40)[^/?&=#:;]+"


@dataclass(frozen=True)
class ExportRequest:
    """A validated export request; ``campaign_ids`` None means every campaign of the workspace."""

    workspace_id: str
    export_type: ExportType
    format: ExportFormat
    time_range: TimeRange
    campaign_ids: tuple[str, ...] | None = None
    include_time_series: bool = False
    granularity: Granularity = "day"
    timezone: str = "UTC"
    excel: bool = False

    @property
    def file_extension(self) -> str:
        return FILE_EXTENSIONS[self.format]

    def to_json(self) -> bytes:
        """Serialise the request with its time range fixed, so a job reruns the same window."""
        return orjson.dumps(
            {
                "workspace_id": self.workspace_id,
                "export_type": self.export_type,
                "format": self.format,
                "time_range": {
                    "label": self.time_range.label,
                    "start_ms": self.time_range.start_ms,
                    "end_ms": self.time_range.end_ms,
                },
                "campaign_ids": list(self.campaign_ids) if self.campaign_ids is not None else None,
                "include_time_series": self.include_time_series,
                "granularity": self.granularity,
                "timezone": self.timezone,
                "excel": self.excel,
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> ExportRequest:
        values = orjson.loads(data)
        window = values["time_range"]
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
        time_range = TimeRange(
            epoch + dt.timedelta(milliseconds=window["start_ms"]),
            epoch + dt.timedelta(milliseconds=window["end_ms"]),
            window["label"],
        )
        campaign_ids = values["campaign_ids"]
        return cls(
            workspace_id=values["workspace_id"],
            export_type=values["export_type"],
            format=values["format"],
            time_range=time_range,
            campaign_ids=tuple(campaign_ids) if campaign_ids is not None else None,
            include_time_series=values["include_time_series"],
            granularity=values["granularity"],
            timezone=values["timezone"],
            excel=values["excel"],
        )


@dataclass(frozen=True)
class ExportQuery:
    """A SELECT without a FORMAT clause, its parameters and its output columns in order."""

    sql: str
    parameters: dict[str, Any]
    columns: tuple[str, ...]
    text_columns: tuple[str, ...]


def _event_filter() -> str:
    return (
        "workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)} "
        "AND occurred_at >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') "
        "AND occurred_at < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"
    )


def _period_sql(granularity: Granularity) -> str:
    function = "toStartOfHour" if granularity == "hour" else "toStartOfDay"
    return f"{function}(toTimeZone(occurred_at, {{timezone:String}}))"


# ISO 8601 local time with its offset, e.g. 2026-11-02T00:00:00-05:00.
_PERIOD_START_TEXT = (
    "concat(formatDateTime(period, '%Y-%m-%dT%H:%i:%S', {timezone:String}), "
    "substring(formatDateTime(period, '%z', {timezone:String}), 1, 3), ':', "
    "substring(formatDateTime(period, '%z', {timezone:String}), 4, 2))"
)


def _time_series_sql(granularity: Granularity) -> str:
    counts = ",\n        ".join(f"{aggregate} AS {name}" for name, aggregate in _POINT_COUNTS)
    names = ", ".join(name for name, _ in _POINT_COUNTS)
    return f"""
SELECT campaign_id, {_PERIOD_START_TEXT} AS period_start, {names}
FROM (
    SELECT
        campaign_id,
        {_period_sql(granularity)} AS period,
        {counts}
    FROM email_events
    WHERE {_event_filter()}
    GROUP BY campaign_id, period
)
ORDER BY campaign_id, period
"""


def _campaign_performance_sql(include_time_series: bool, granularity: Granularity) -> str:
    counts = ",\n    ".join(f"summary.{field} AS {field}" for field in SUMMARY_FIELDS)
    rates = ",\n    ".join(
        f"{rate_sql('summary.' + definition.numerator, 'summary.' + definition.denominator)} AS {name}"
        for name, definition in METRICS.items()
    )
    time_series_column = ""
    time_series_join = ""
    if include_time_series:
        point_type = ", ".join(
            f"{name} {'String' if name == 'period_start' else 'UInt64'}" for name in TIME_SERIES_COLUMNS[1:]
        )
        point_values = ", ".join(TIME_SERIES_COLUMNS[1:])
        time_series_column = ",\n    series.points AS time_series"
        time_series_join = f"""
LEFT JOIN (
    SELECT campaign_id, groupArray(CAST(tuple({point_values}), 'Tuple({point_type})')) AS points
    FROM ({_time_series_sql(granularity)})
    GROUP BY campaign_id
) AS series ON series.campaign_id = requested.campaign_id"""
    return f"""
SELECT
    requested.campaign_id AS campaign_id,
    nullIf(names.name, '') AS campaign_name,
    {counts},
    {rates}{time_series_column}
FROM (SELECT arrayJoin({{campaign_ids:Array(String)}}) AS campaign_id) AS requested
LEFT JOIN ({CAMPAIGN_SUMMARY_SQL}) AS summary ON summary.campaign_id = requested.campaign_id
LEFT JOIN (
    SELECT campaign_id, argMax(name, updated_at) AS name
    FROM campaigns
    WHERE workspace_id = {{workspace_id:String}} AND campaign_id IN {{campaign_ids:Array(String)}}
    GROUP BY campaign_id
) AS names ON names.campaign_id = requested.campaign_id{time_series_join}
ORDER BY campaign_id
"""


_EVENTS_SQL = f"""
SELECT
    toString(event_key) AS event_key,
    event_id,
    toString(event_type) AS event_type,
    occurred_at,
    campaign_id,
    message_id,
    provider,
    bounce_type,
    replaceRegexpAll(url, '{_EMAIL_IN_URL_PATTERN}', 'redacted') AS url,
    user_agent,
    is_machine_open,
    is_bot_click,
    is_unsubscribe_link
FROM email_events FINAL
WHERE {_event_filter()}
ORDER BY workspace_id, campaign_id, message_id, event_key
"""


def export_query(request: ExportRequest, campaign_ids: Sequence[str], bot_click_window_seconds: float) -> ExportQuery:
    """Return the query of ``request`` over ``campaign_ids`` (the request's, or every campaign)."""
    parameters = summary_parameters(
        request.workspace_id, campaign_ids, request.time_range, bot_click_window_seconds
    )
    parameters["timezone"] = request.timezone
    if request.export_type == "campaign_performance":
        columns = CAMPAIGN_PERFORMANCE_COLUMNS
        if request.include_time_series:
            columns = (*columns, "time_series")
        sql = _campaign_performance_sql(request.include_time_series, request.granularity)
    elif request.export_type == "time_series":
        columns = TIME_SERIES_COLUMNS
        sql = _time_series_sql(request.granularity)
    else:
        columns = EVENT_COLUMNS
        sql = _EVENTS_SQL
    text_columns = tuple(name for name in _TEXT_COLUMNS[request.export_type] if name in columns)
    return ExportQuery(sql, parameters, columns, text_columns)


def neutralize_formulas(query: ExportQuery, csv_text: bool) -> str:
    """Wrap ``query`` so text cells that a spreadsheet would run as formulas start with a quote.

    A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
    gets a leading ``'``, which spreadsheets show as text. Only text columns
    change, so numbers stay numbers. ``csv_text`` also turns array columns
    (the ``time_series`` points) into JSON text, since a CSV cell contains text.
    """
    selected = []
    for name in query.columns:
        cell = f"`{name}`"
        if name == "time_series" and csv_text:
            cell = f"toJSONString({cell})"
        if name in query.text_columns:
            cell = f"if(match({cell}, '{FORMULA_PREFIX_PATTERN}'), concat('''', {cell}), {cell})"
        selected.append(f"{cell} AS `{name}`")
    return f"SELECT {', '.join(selected)} FROM ({query.sql})"


def work_size_sql(export_type: ExportType) -> str:
    """Return a cheap count of the rows an export reads, for the completion estimate.

    Time series and event exports read raw events, and campaign performance
    reads per-message state rows. Both counts include duplicates not merged
    yet, so they are an upper bound.
    """
    if export_type == "campaign_performance":
        return (
            "SELECT count() AS n FROM message_state "
            "WHERE workspace_id = {workspace_id:String} AND campaign_id IN {campaign_ids:Array(String)}"
        )
    return f"SELECT count() AS n FROM email_events WHERE {_event_filter()}"


def has_data_sql(export_type: ExportType) -> str:
    """Return a query that counts up to one row of the export's selection: 0 means no data in the range."""
    if export_type == "campaign_performance":
        return f"SELECT count() AS n FROM (SELECT 1 FROM ({MESSAGE_STEPS_SQL}) LIMIT 1)"
    return f"SELECT count() AS n FROM (SELECT 1 FROM email_events WHERE {_event_filter()} LIMIT 1)"


# Rough single-core throughput of an export, used only for ``estimated_completion``
# (an estimate, from `make bench` runs on a 2-core machine).
ESTIMATE_ROWS_PER_SECOND = 150_000
ESTIMATE_FIXED_SECONDS = 2.0


def estimated_seconds(rows_read: int) -> float:
    """Return the estimated run time of an export that reads ``rows_read`` rows."""
    return ESTIMATE_FIXED_SECONDS + rows_read / ESTIMATE_ROWS_PER_SECOND
