"""Consumer lag: how far a consumer group's committed offsets trail each partition's end."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

REQUEST_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        """Messages not yet processed; a partition without a commit lags by all it holds."""
        if self.committed is None:
            return self.end
        return max(self.end - self.committed, 0)


async def consumer_lag(bootstrap_servers: str, group_id: str, topics: list[str]) -> list[PartitionLag]:
    """Return the lag of ``group_id`` on every partition of ``topics``, sorted by topic and partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=REQUEST_TIMEOUT_MS)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, request_timeout_ms=REQUEST_TIMEOUT_MS)
    await admin.start()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        committed = await admin.list_consumer_group_offsets(group_id, partitions=partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()

    result = []
    for tp in partitions:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else None
        result.append(PartitionLag(tp.topic, tp.partition, offset, ends[tp]))
    return result


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    # partitions_for_topic reads cached metadata, which is empty until the
    # first request names the topic.
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()
