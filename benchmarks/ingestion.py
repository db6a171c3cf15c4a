"""The product's ingestion path under measurement, and the check of what it stored.

:func:`measure_ingestion` runs ``streams.ingest.EventIngestor`` unchanged
(fetch, decode, build columns, insert into ClickHouse, commit) on one topic
until it has inserted every event produced. :func:`verify_raw_table` then
counts the rows in ClickHouse, so a run that dropped events cannot pass.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.clickhouse import ClickHouse
from app.settings import Settings
from benchmarks.machine import peak_rss_mib
from benchmarks.measurement import BenchmarkError, Measurement, run_timeout_seconds
from streams.ingest import RAW_EVENTS_TABLE, DecodedBatch, EventIngestor

# The raw table and the tables its materialized views write to; emptied between runs.
INGESTED_TABLES = (RAW_EVENTS_TABLE, "message_state", "campaign_activity_hourly")
STOP_TIMEOUT_SECONDS = 30.0


class _TimedIngestor(EventIngestor):
    """EventIngestor that notes when its consumer first returns records.

    Only the consumer's ``getmany`` is wrapped, to read the clock; the batch path is the product's.
    """

    first_fetch_at: float | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        consumer = super()._make_consumer()
        getmany = consumer.getmany

        async def timed_getmany(*args: Any, **kwargs: Any) -> Any:
            fetched = await getmany(*args, **kwargs)
            if fetched and self.first_fetch_at is None:
                self.first_fetch_at = time.perf_counter()
            return fetched

        consumer.getmany = timed_getmany  # type: ignore[method-assign]
        return consumer


@dataclass
class BatchLog:
    """Per-batch figures reported through ``EventIngestor.on_batch``."""

    expected_events: int
    events_inserted: int = 0
    batch_events: list[int] = field(default_factory=list)
    insert_seconds: list[float] = field(default_factory=list)
    finished: float | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, batch: DecodedBatch, insert_seconds: float) -> None:
        self.events_inserted += len(batch.events)
        self.batch_events.append(len(batch.events))
        self.insert_seconds.append(insert_seconds)
        if self.events_inserted >= self.expected_events and self.finished is None:
            self.finished = time.perf_counter()
            self.done.set()


@dataclass(frozen=True, slots=True)
class IngestionRun:
    """One EventIngestor run: its measurement and per-batch figures."""

    measurement: Measurement
    batches: int
    mean_batch_events: float
    max_batch_events: int
    insert_seconds: float
    """Sum over batches of build_columns plus the ClickHouse insert (``on_batch``'s ``insert_seconds``)."""
    rejected: int


async def _stop(ingestor: EventIngestor, task: asyncio.Task[None]) -> None:
    """Stop the ingestor after its current batch, cancelling it if it takes longer than STOP_TIMEOUT_SECONDS."""
    ingestor.stop()
    _, pending = await asyncio.wait({task}, timeout=STOP_TIMEOUT_SECONDS)
    if pending:
        task.cancel()
        await asyncio.wait({task})


async def measure_ingestion(
    settings: Settings, clickhouse: ClickHouse, producer: AIOKafkaProducer, expected_events: int, shape: str
) -> IngestionRun:
    """Run EventIngestor on ``settings.topic_events`` until it has inserted ``expected_events`` events."""
    log = BatchLog(expected_events)
    ingestor = _TimedIngestor(settings, clickhouse, producer, on_batch=log.record)
    task = asyncio.create_task(ingestor.run(), name=f"benchmark-ingest-{shape}")
    waiter = asyncio.create_task(log.done.wait())
    timeout = run_timeout_seconds(expected_events)
    try:
        finished, _ = await asyncio.wait({waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task in finished:
            task.result()  # raises the ingestor's error
            raise BenchmarkError(
                f"the ingestor stopped unexpectedly after {log.events_inserted} of {expected_events} events"
            )
        if not finished:
            raise BenchmarkError(
                f"the ingestor inserted {log.events_inserted} of {expected_events} events on "
                f"{settings.topic_events} within {timeout:.0f} s"
            )
    finally:
        waiter.cancel()
        await _stop(ingestor, task)

    assert ingestor.first_fetch_at is not None and log.finished is not None  # a batch was inserted
    seconds = log.finished - ingestor.first_fetch_at
    stats = ingestor.stats
    measurement = Measurement(
        "EventIngestor (decode, build columns, insert, commit)",
        shape,
        stats.events_inserted,
        stats.messages,
        seconds,
        peak_rss_mib(),
    )
    return IngestionRun(
        measurement,
        stats.batches,
        stats.events_inserted / stats.batches,
        max(log.batch_events),
        sum(log.insert_seconds),
        sum(stats.rejected.values()),
    )


@dataclass(frozen=True, slots=True)
class TableCount:
    rows: int
    distinct_event_keys: int


def count_raw_table(clickhouse: ClickHouse) -> TableCount:
    row = clickhouse.query_rows(
        f"SELECT count() AS rows, uniqExact(event_key) AS keys FROM {RAW_EVENTS_TABLE}"
    )[0]
    return TableCount(int(row["rows"]), int(row["keys"]))


def verify_raw_table(clickhouse: ClickHouse, expected_events: int, shape: str) -> TableCount:
    """Raise BenchmarkError unless the raw table contains exactly ``expected_events`` distinct events.

    Every generated event has unique content, so both the row count and the
    number of distinct event keys must equal the number produced.
    """
    count = count_raw_table(clickhouse)
    if count.rows != expected_events or count.distinct_event_keys != expected_events:
        raise BenchmarkError(
            f"after ingesting the {shape} topic, {RAW_EVENTS_TABLE} contains {count.rows} rows and "
            f"{count.distinct_event_keys} distinct event keys; expected {expected_events} of each"
        )
    return count


def empty_tables(clickhouse: ClickHouse) -> None:
    """Truncate the raw table and its aggregates, so the next run starts from the same state."""
    for table in INGESTED_TABLES:
        clickhouse.command(f"TRUNCATE TABLE {table}")
