"""Ingestion of ``email-events`` into ClickHouse, a batch at a time.

Each batch goes through these steps, in this order:

1. Fetch messages until the batch contains ``batch_max_events`` events or
   ``batch_max_seconds`` have passed.
2. Decode every message. A message that is not a valid event becomes a
   dead-letter record; the rest of the batch goes on.
3. Insert the events into ClickHouse off the event loop. A failed insert is
   retried with capped exponential backoff until it succeeds or the service
   stops; the batch is never dropped.
4. Publish the dead-letter records and wait until the broker has them.
5. Commit the offsets after the last message of the batch.

Steps 1 and 2 of the next batch overlap steps 3 to 5 of the previous one, so
fetching and decoding go on while ClickHouse inserts (chDB and the HTTP client
release the GIL while they work). At most one batch is in flight, and batches
finish in order, so offsets are committed in order.

A crash between steps 3 and 5 makes the next owner of the partitions insert
the batch again. That is harmless because the aggregates count events by
content (see ``app.schema``), so nothing is lost and nothing counts twice.

The hot path is a plain aiokafka consumer rather than a Faust agent: Faust
dispatches messages to a stream one at a time, which caps throughput far
below what a batch insert can take (see ``benchmarks/``). The service runs
inside the same worker process as the Faust app and under the same settings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from app.clickhouse import ClickHouse
from app.errors import StorageError
from app.settings import Settings
from streams.adapters import MetadataKeys, decode_message
from streams.dlq import dead_letter_value
from streams.events import EmailEvent, InvalidEvent
from streams.rows import COLUMN_NAMES, Classifier, build_columns

logger = logging.getLogger(__name__)

RAW_EVENTS_TABLE = "email_events"
RETRY_INITIAL_SECONDS = 0.5
INITIAL_EVENTS_PER_MESSAGE = 20.0


class BatchAbandoned(StorageError):
    """The service stopped while a batch's insert was still failing."""

    def __init__(self, events: int) -> None:
        super().__init__(f"stopped with {events} events not stored")
        self.events = events


@dataclass
class IngestStats:
    """Running totals, read by tests, the benchmark and the metrics endpoint."""

    messages: int = 0
    events_inserted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    insert_retries: int = 0


@dataclass
class DecodedBatch:
    events: list[EmailEvent] = field(default_factory=list)
    dead_letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)
    messages: int = 0


def ingest_group(settings: Settings) -> str:
    """Return the consumer group of the event ingestor, apart from the Faust app's group."""
    return f"{settings.consumer_group}-ingest"


def classifier_from_settings(settings: Settings) -> Classifier:
    return Classifier.from_patterns(
        settings.recipient_hash_key.get_secret_value(),
        settings.unsubscribe_url_pattern,
        settings.machine_open_user_agent_pattern,
        settings.bot_click_user_agent_pattern,
    )


def decode_records(
    records: list[ConsumerRecord], keys: MetadataKeys, stats: IngestStats, batch: DecodedBatch
) -> None:
    """Decode records into ``batch``: events, dead-letter records and the offsets to commit."""
    for record in records:
        batch.messages += 1
        try:
            batch.events.extend(decode_message(record.value, keys))
        except InvalidEvent as error:
            stats.rejected[error.reason] = stats.rejected.get(error.reason, 0) + 1
            batch.dead_letters.append(
                (record.key, dead_letter_value(record.value, error, record.topic, record.partition, record.offset))
            )
        batch.next_offsets[TopicPartition(record.topic, record.partition)] = record.offset + 1


class EventIngestor:
    """Consume ``email-events``, write events to ClickHouse and rejects to the dead-letter topic."""

    def __init__(
        self,
        settings: Settings,
        clickhouse: ClickHouse,
        producer: AIOKafkaProducer,
        on_batch: Callable[[DecodedBatch, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clickhouse = clickhouse
        self.producer = producer
        self.keys = MetadataKeys(settings.metadata_campaign_key, settings.metadata_workspace_key)
        self.classifier = classifier_from_settings(settings)
        self.stats = IngestStats()
        self.on_batch = on_batch
        self._stopping = asyncio.Event()
        # Until a batch shows otherwise, assume messages carry many events, so
        # the first fetch cannot overshoot the batch bound by much.
        self._events_per_message = INITIAL_EVENTS_PER_MESSAGE
        self.consumer: AIOKafkaConsumer | None = None

    def _make_consumer(self) -> AIOKafkaConsumer:
        session_ms = self.settings.kafka_group_session_timeout_ms
        return AIOKafkaConsumer(
            self.settings.topic_events,
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=ingest_group(self.settings),
            client_id=ingest_group(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 3, 100),
            max_poll_records=self.settings.batch_max_events,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )

    async def run(self) -> None:
        """Consume until :meth:`stop` is called; the current batch is finished first."""
        self.consumer = self._make_consumer()
        await self.consumer.start()
        logger.info("ingestion started: topic=%s group=%s", self.settings.topic_events, self.consumer._group_id)
        in_flight: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                batch = await self._collect_batch(self.consumer)
                if in_flight is not None:
                    await in_flight
                    in_flight = None
                if batch.messages:
                    in_flight = asyncio.create_task(self._process(self.consumer, batch))
            if in_flight is not None:
                await in_flight
        except BatchAbandoned as abandoned:
            logger.warning(
                "stopped before a batch of %s events was stored; its offsets are not committed, "
                "so the next worker reads it again",
                abandoned.events,
            )
        finally:
            await self.consumer.stop()
            logger.info("ingestion stopped: messages=%s events=%s", self.stats.messages, self.stats.events_inserted)

    def stop(self) -> None:
        self._stopping.set()

    async def _collect_batch(self, consumer: AIOKafkaConsumer) -> DecodedBatch:
        # Step 1 and 2: fetch and decode until the batch is full or old enough.
        batch = DecodedBatch()
        deadline = time.monotonic() + self.settings.batch_max_seconds
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            room = self.settings.batch_max_events - len(batch.events)
            if remaining <= 0 or room <= 0:
                break
            # getmany counts messages, and a message may carry many events, so
            # the number of messages to ask for is estimated from the events per
            # message seen so far. A message is never split, so a batch can end
            # a little above batch_max_events when the estimate is low.
            max_records = max(1, int(room / self._events_per_message))
            fetched = await consumer.getmany(timeout_ms=int(remaining * 1000), max_records=max_records)
            # NOTE: decoding runs on the event loop, about 2 to 6 us per event, so a full
            # batch can delay API requests served by the same process by tens of ms.
            for records in fetched.values():
                decode_records(records, self.keys, self.stats, batch)
        if batch.messages:
            self._events_per_message = max(1.0, (len(batch.events) + len(batch.dead_letters)) / batch.messages)
        return batch

    async def _process(self, consumer: AIOKafkaConsumer, batch: DecodedBatch) -> None:
        started = time.perf_counter()

        # Step 3: insert, retrying until it succeeds. Building the columns is
        # pure Python work proportional to the batch, so it runs off the loop too.
        if batch.events:
            columns = await asyncio.to_thread(build_columns, batch.events, self.classifier)
            await self._insert_with_retry(columns, batch)
        insert_seconds = time.perf_counter() - started

        # Step 4: dead-letter records reach the broker before the offsets move on.
        if batch.dead_letters:
            sends = [
                await self.producer.send(self.settings.topic_events_dlq, key=key, value=value)
                for key, value in batch.dead_letters
            ]
            await asyncio.gather(*sends)
            logger.warning("rejected %s messages to %s", len(batch.dead_letters), self.settings.topic_events_dlq)

        # Step 5: commit.
        try:
            await consumer.commit(batch.next_offsets)
        except CommitFailedError as exc:
            # The partitions moved to another worker during the batch. It will
            # read these messages again, which the content-keyed aggregates absorb.
            logger.warning("offset commit failed after a rebalance; the batch will be read again: %s", exc)

        self.stats.messages += batch.messages
        self.stats.events_inserted += len(batch.events)
        self.stats.batches += 1
        if self.on_batch:
            self.on_batch(batch, insert_seconds)

    async def _insert_with_retry(self, columns: list[list[object]], batch: DecodedBatch) -> None:
        delay = RETRY_INITIAL_SECONDS
        while True:
            try:
                await self.clickhouse.run(self.clickhouse.insert_columns, RAW_EVENTS_TABLE, columns, COLUMN_NAMES)
                return
            except StorageError as exc:
                # Any ClickHouse failure is retried: dropping the batch would lose
                # events, and the offsets are not committed until this succeeds.
                self.stats.insert_retries += 1
                if self._stopping.is_set():
                    raise BatchAbandoned(len(batch.events)) from exc
                logger.warning(
                    "insert of %s events failed; retrying in %.1f s: %s", len(batch.events), delay, exc
                )
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                except asyncio.TimeoutError:
                    pass
                delay = min(delay * 2, self.settings.insert_retry_max_seconds)
