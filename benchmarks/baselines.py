"""The two reference consumers that ingestion is compared with.

* :func:`measure_ceiling`: a plain aiokafka consumer that only parses each
  value with orjson: an upper bound for any Python consumer that parses every value.
* :func:`measure_faust_agent`: a per-event Faust agent (``async for value in
  stream``) that parses each value and does no I/O, the most the per-event
  Faust design can do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from app.clickhouse import ClickHouse
from app.faust_app import create_faust_app
from app.settings import Settings
from benchmarks.machine import peak_rss_mib
from benchmarks.measurement import BenchmarkError, Measurement, run_timeout_seconds

logger = logging.getLogger(__name__)

# The same fetch sizes as EventIngestor's consumer (streams/ingest.py), so that
# the ceiling differs from ingestion only in what happens after the fetch.
MAX_PARTITION_FETCH_BYTES = 8 * 1024 * 1024
FETCH_MAX_BYTES = 64 * 1024 * 1024
FETCH_TIMEOUT_MS = 500
FAUST_STOP_TIMEOUT_SECONDS = 30.0


async def measure_ceiling(
    bootstrap_servers: str, topic: str, group_id: str, expected_events: int, max_records: int, shape: str
) -> Measurement:
    """Read ``topic`` from the start in a new group until ``expected_events`` events are parsed.

    A value that parses to a JSON array counts as that many events, any other as one.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_PARTITION_FETCH_BYTES,
        fetch_max_bytes=FETCH_MAX_BYTES,
    )
    try:
        await consumer.start()
        events = 0
        messages = 0
        started: float | None = None
        timeout = run_timeout_seconds(expected_events)
        deadline = time.monotonic() + timeout
        while events < expected_events:
            if time.monotonic() > deadline:
                raise BenchmarkError(
                    f"ceiling consumer parsed {events} of {expected_events} events on {topic} "
                    f"within {timeout:.0f} s"
                )
            fetched = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS, max_records=max_records)
            if not fetched:
                continue
            if started is None:
                started = time.perf_counter()
            for records in fetched.values():
                for record in records:
                    data = orjson.loads(record.value)
                    events += len(data) if isinstance(data, list) else 1
                    messages += 1
        assert started is not None  # the loop ran at least one non-empty fetch
        seconds = time.perf_counter() - started
    finally:
        await consumer.stop()
    return Measurement("aiokafka ceiling (orjson only)", shape, events, messages, seconds, peak_rss_mib())


class _AgentProgress:
    """Counts the events a Faust agent has handled and notes the first and last times."""

    def __init__(self, expected_events: int) -> None:
        self.expected_events = expected_events
        self.events = 0
        self.started: float | None = None
        self.finished: float | None = None
        self.done = asyncio.Event()

    def record(self) -> None:
        if self.started is None:
            self.started = time.perf_counter()
        self.events += 1
        if self.events == self.expected_events:
            self.finished = time.perf_counter()
            self.done.set()


async def measure_faust_agent(
    settings: Settings, clickhouse: ClickHouse, producer: AIOKafkaProducer, topic: str, expected_events: int
) -> Measurement:
    """Run a per-event Faust agent on ``topic`` until it has parsed ``expected_events`` values.

    The app comes from ``create_faust_app``, so it has the product's broker and
    group settings. Its campaign-updates agent idles on an empty topic of this run.
    """
    app = create_faust_app(settings, clickhouse, producer)
    source = app.topic(topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    progress = _AgentProgress(expected_events)
    timeout = run_timeout_seconds(expected_events)

    @app.agent(source, name="benchmark-per-event")
    async def per_event(stream: Any) -> None:
        async for value in stream:
            orjson.loads(value)
            progress.record()

    app.finalize()
    try:
        await app.start()
        await asyncio.wait_for(progress.done.wait(), timeout)
    except asyncio.TimeoutError:
        raise BenchmarkError(
            f"the Faust agent handled {progress.events} of {expected_events} events on {topic} "
            f"within {timeout:.0f} s"
        ) from None
    finally:
        try:
            await asyncio.wait_for(app.stop(), FAUST_STOP_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            logger.warning("the Faust app did not stop within %.0f s", FAUST_STOP_TIMEOUT_SECONDS)

    assert progress.started is not None and progress.finished is not None  # set once done is set
    seconds = progress.finished - progress.started
    return Measurement(
        "Faust per-event agent (orjson only)", "single", progress.events, progress.events, seconds, peak_rss_mib()
    )
