"""Consumer lag: how far a consumer group's committed offsets trail each partition's end.

A partition's lag is the number of messages between the group's committed
offset (the next message it will process) and the partition's end offset. A
partition the group has never committed on counts from its beginning offset,
the oldest message the broker still keeps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

REQUEST_TIMEOUT_MS = 10_000
PROBE_TIMEOUT_SECONDS = 2.0
PROBE_POLL_SECONDS = 0.2
PROBE_FETCH_MAX_WAIT_MS = 10
PROBE_PARTITION_FETCH_BYTES = 16 * 1024
PROBE_FETCH_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int
    group: str = ""
    beginning: int = 0
    oldest_timestamp_ms: int | None = None
    """Kafka timestamp (milliseconds) of the oldest unprocessed message, when it was read."""

    @property
    def lag(self) -> int:
        """Messages not yet processed, never negative.

        Without a commit the group will start from the beginning offset, and a
        commit below it (the messages were deleted by retention) counts from
        there too.
        """
        start = self.beginning if self.committed is None else max(self.committed, self.beginning)
        return max(self.end - start, 0)

    def oldest_age_seconds(self, now: float | None = None) -> float | None:
        """Return the age of the oldest unprocessed message, or None when there is none or it was not read."""
        if self.oldest_timestamp_ms is None or self.lag == 0:
            return None
        now = time.time() if now is None else now
        return max(now - self.oldest_timestamp_ms / 1000, 0.0)


class LagReader:
    """Reads committed, beginning and end offsets through one admin client and one consumer kept open.

    The consumer belongs to no group, so reading never changes any group's
    offsets or membership. One reader must not run two reads at once.

    Besides asking for the end offsets (ListOffsets), each read fetches from
    every partition at the group's position. The fetch response's high
    watermark corrects the end offset where a broker reports it too low:
    Tansu 0.6 (the embedded broker) responds to ListOffsets with the base offset
    of the partition's last record batch plus one. The first record fetched
    gives the timestamp of the oldest unprocessed message.
    """

    def __init__(self, bootstrap_servers: str, request_timeout_ms: int = REQUEST_TIMEOUT_MS) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=request_timeout_ms)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=request_timeout_ms,
            enable_auto_commit=False,
            # Only the first record of each partition is needed: small fetches,
            # and no long poll on partitions that have nothing new.
            fetch_max_wait_ms=PROBE_FETCH_MAX_WAIT_MS,
            max_partition_fetch_bytes=PROBE_PARTITION_FETCH_BYTES,
            fetch_max_bytes=PROBE_FETCH_BYTES,
        )

    async def start(self) -> None:
        await self._admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._admin.close()
            raise

    async def close(self) -> None:
        try:
            await self._consumer.stop()
        finally:
            await self._admin.close()

    async def __aenter__(self) -> LagReader:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def read(self, group_topics: Sequence[tuple[str, str]]) -> list[PartitionLag]:
        """Return the lag of each ``(group, topic)`` pair on every partition of the topic.

        A topic that does not exist has no partitions and adds nothing.
        """
        partitions_of = await self._partitions()
        by_group: dict[str, list[TopicPartition]] = {}
        for group, topic in group_topics:
            partitions = partitions_of.get(topic, [])
            by_group.setdefault(group, []).extend(TopicPartition(topic, number) for number in partitions)
        everything = [tp for partitions in by_group.values() for tp in partitions]
        if not everything:
            return []

        ends = await self._consumer.end_offsets(everything)
        beginnings = await self._consumer.beginning_offsets(everything)
        result: list[PartitionLag] = []
        # Groups are probed one after the other because two groups on one
        # topic may need the same partition read from different offsets.
        for group, partitions in by_group.items():
            committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
            lags = []
            for tp in partitions:
                meta = committed.get(tp)
                offset = meta.offset if meta is not None and meta.offset >= 0 else None
                lags.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp], group, beginnings[tp]))
            probes = await self._probe({TopicPartition(p.topic, p.partition): p.end - p.lag for p in lags})
            for lag in lags:
                highwater, timestamp = probes.get(TopicPartition(lag.topic, lag.partition), (None, None))
                end = lag.end if highwater is None else max(lag.end, highwater)
                corrected = replace(lag, end=end)
                result.append(replace(corrected, oldest_timestamp_ms=timestamp if corrected.lag > 0 else None))
        return sorted(result, key=lambda p: (p.group, p.topic, p.partition))

    async def _partitions(self) -> dict[str, list[int]]:
        # Metadata of all topics, read afresh so partitions added since the last
        # read show up. Naming topics would let a broker that creates topics on
        # demand create the missing ones.
        topics = await self._admin.describe_topics()
        return {
            topic["topic"]: sorted(partition["partition"] for partition in topic["partitions"])
            for topic in topics
            if topic["error_code"] == 0
        }

    async def _probe(self, starts: dict[TopicPartition, int]) -> dict[TopicPartition, tuple[int | None, int | None]]:
        """Fetch each partition from its start offset; return its high watermark and first record's timestamp.

        A partition that does not respond within ``PROBE_TIMEOUT_SECONDS`` is
        left out (or has no timestamp), so one slow partition cannot hold up
        the whole read.
        """
        consumer = self._consumer
        consumer.assign(list(starts))
        try:
            for tp, offset in starts.items():
                consumer.seek(tp, offset)
            timestamps: dict[TopicPartition, int] = {}
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PROBE_TIMEOUT_SECONDS
            pending = set(starts)
            while pending:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                fetched = await consumer.getmany(*pending, timeout_ms=int(min(remaining, PROBE_POLL_SECONDS) * 1000))
                for tp, records in fetched.items():
                    if records:
                        timestamps.setdefault(tp, records[0].timestamp)
                for tp in list(pending):
                    highwater = consumer.highwater(tp)
                    # Done once the high watermark is known and either nothing
                    # is left to read or the first unread record has arrived.
                    if highwater is not None and (highwater <= starts[tp] or tp in timestamps):
                        pending.discard(tp)
            return {tp: (consumer.highwater(tp), timestamps.get(tp)) for tp in starts}
        finally:
            # Paused partitions are not fetched between reads. (unsubscribe()
            # would be the obvious call, but in aiokafka 0.14 it can crash the
            # consumer's fetch task when a fetch is in flight.)
            consumer.pause(*consumer.assignment())


async def consumer_lag(bootstrap_servers: str, group_id: str, topics: list[str]) -> list[PartitionLag]:
    """Return the lag of ``group_id`` on every partition of ``topics``, sorted by topic and partition."""
    async with LagReader(bootstrap_servers) as reader:
        return await reader.read([(group_id, topic) for topic in topics])
