"""Create the Kafka topics this service uses when they are missing."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from app.errors import BrokerError
from app.settings import Settings

logger = logging.getLogger(__name__)

ADMIN_TIMEOUT_MS = 15_000
CONNECT_ATTEMPTS = 5


def topic_names(settings: Settings) -> list[str]:
    return [
        settings.topic_events,
        settings.topic_events_dlq,
        settings.topic_campaign_updates,
        settings.topic_export_requests,
    ]


async def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics with the configured partitions; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=ADMIN_TIMEOUT_MS)
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            await admin.start()
            break
        except KafkaConnectionError as exc:
            # A broker that just started may refuse the first metadata request.
            if attempt == CONNECT_ATTEMPTS:
                raise BrokerError(
                    f"cannot reach Kafka at {settings.bootstrap_servers}: {exc}; check KAFKA_BOOTSTRAP_SERVERS"
                ) from exc
            await asyncio.sleep(0.5 * attempt)
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in topic_names(settings) if name not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(name, settings.topic_partitions, settings.topic_replication_factor) for name in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another worker created them first
            logger.info("topics created: %s", ", ".join(missing))
        return missing
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics on {settings.bootstrap_servers}: {exc}") from exc
    finally:
        await admin.close()
