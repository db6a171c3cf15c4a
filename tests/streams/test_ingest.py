"""The event ingestor on the real broker and chDB: retries, crash safety, dead letters."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from app.clickhouse import ClickHouse
from app.errors import StorageError
from app.lag import consumer_lag
from app.settings import Settings, load_settings
from app.topics import ensure_topics
from streams.ingest import EventIngestor

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30


class FailingClickHouse:
    """Delegates to a real ClickHouse but fails the first ``failures`` inserts."""

    def __init__(self, real: ClickHouse, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.insert_calls = 0

    async def run(self, function: Any, *args: Any) -> Any:
        return await asyncio.to_thread(function, *args)

    def insert_columns(self, *args: Any) -> None:
        self.insert_calls += 1
        if self.insert_calls <= self.failures:
            raise StorageError("Code: 210. simulated connection refused")
        self.real.insert_columns(*args)


def make_settings(bootstrap_servers: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_events=f"events-{suffix}",
        topic_events_dlq=f"dlq-{suffix}",
        consumer_group=f"ingest-test-{suffix}",
        batch_max_seconds=0.2,
        insert_retry_max_seconds=0.2,
        topic_partitions=2,
    )


async def publish(settings: Settings, values: list[bytes]) -> AIOKafkaProducer:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    for value in values:
        await producer.send_and_wait(settings.topic_events, value)
    return producer


def opened(workspace_id: str, message_id: str) -> bytes:
    return orjson.dumps({
        "type": "opened", "occurred_at": "2026-11-02T10:00:00Z", "workspace_id": workspace_id,
        "campaign_id": "c1", "message_id": message_id,
    })


def stored_events(clickhouse: ClickHouse, workspace_id: str) -> int:
    rows = clickhouse.query_rows(
        "SELECT uniqExact(event_key) AS n FROM email_events WHERE workspace_id = {ws:String}", {"ws": workspace_id}
    )
    return int(rows[0]["n"])


async def wait_for(condition: Any) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not condition():
            await asyncio.sleep(0.05)


async def test_failed_inserts_are_retried(bootstrap_servers, clickhouse):
    settings = make_settings(bootstrap_servers)
    workspace_id = f"retry-{uuid.uuid4().hex[:6]}"
    producer = await publish(settings, [opened(workspace_id, f"m{i}") for i in range(10)])
    flaky = FailingClickHouse(clickhouse, failures=2)
    ingestor = EventIngestor(settings, flaky, producer)  # type: ignore[arg-type]

    task = asyncio.create_task(ingestor.run())
    try:
        await wait_for(lambda: ingestor.stats.events_inserted >= 10)
    finally:
        ingestor.stop()
        await task
        await producer.stop()

    assert ingestor.stats.insert_retries == 2
    assert stored_events(clickhouse, workspace_id) == 10
    lags = await consumer_lag(bootstrap_servers, settings.consumer_group + "-ingest", [settings.topic_events])
    assert sum(p.lag for p in lags) == 0


async def test_stop_during_retries_commits_nothing(bootstrap_servers, clickhouse):
    settings = make_settings(bootstrap_servers)
    workspace_id = f"crash-{uuid.uuid4().hex[:6]}"
    producer = await publish(settings, [opened(workspace_id, f"m{i}") for i in range(5)])

    # ClickHouse is down for the whole life of the first worker.
    down = FailingClickHouse(clickhouse, failures=10**9)
    first = EventIngestor(settings, down, producer)  # type: ignore[arg-type]
    task = asyncio.create_task(first.run())
    await wait_for(lambda: first.stats.insert_retries >= 2)
    first.stop()
    await task

    group = settings.consumer_group + "-ingest"
    lags = await consumer_lag(bootstrap_servers, group, [settings.topic_events])
    assert sum(p.lag for p in lags) == 5
    assert stored_events(clickhouse, workspace_id) == 0

    # The next worker reads the same messages and stores each event once.
    second = EventIngestor(settings, clickhouse, producer)
    task = asyncio.create_task(second.run())
    try:
        await wait_for(lambda: second.stats.events_inserted >= 5)
    finally:
        second.stop()
        await task
        await producer.stop()
    assert stored_events(clickhouse, workspace_id) == 5


async def test_null_value_goes_to_dead_letters(bootstrap_servers, clickhouse):
    settings = make_settings(bootstrap_servers)
    workspace_id = f"null-{uuid.uuid4().hex[:6]}"
    producer = await publish(settings, [opened(workspace_id, "m1")])
    await producer.send_and_wait(settings.topic_events, None, key=b"tombstone")
    ingestor = EventIngestor(settings, clickhouse, producer)

    task = asyncio.create_task(ingestor.run())
    try:
        await wait_for(lambda: ingestor.stats.messages >= 2)
    finally:
        ingestor.stop()
        await task
        await producer.stop()

    # One good event stored; the null message rejected with its own reason.
    assert stored_events(clickhouse, workspace_id) == 1
    assert ingestor.stats.rejected == {"null_value": 1}
